// call.js: what the studio (/studio/{room}) and the meeting room
// (/room/{room}) share: a join (call-join.js), the room session
// (lectern.js), one's own camera, microphone and screen, and the live roster
// of participants and their tracks. The pages draw; this module keeps state
// and emits events:
//
//   change       the roster, a track or a mute state changed
//   track        a RemoteTrack arrived (lectern.js)
//   track_ended  a RemoteTrack ended
//   local        one's own media changed (opened, muted, screen shared)
//   problem      a problem to show ('' clears it): a sentence, or {message, retry}
//                when asking for the camera and microphone again may help
//   fatal        {title, message, final}: the call cannot go on (removed, room
//                gone, connection lost); final when rejoining cannot help

import { codecProblem, mediaProblem } from '/js/devices.js';
import { connect } from '/js/lectern.js';
import { clearJoin, loadDevices, saveDevices } from '/js/session.js';

/** Capture sizes by resolution tier, lowest first (DESIGN.md, tiers). */
export const RESOLUTIONS = [
  { tier: 'sd', label: '480p', width: 854, height: 480 },
  { tier: 'hd', label: '720p', width: 1280, height: 720 },
  { tier: 'fhd', label: '1080p', width: 1920, height: 1080 },
  { tier: '4k', label: '4K', width: 3840, height: 2160 },
];

/**
 * The resolutions a member may send: up to the lower of its own tier and
 * the room's.
 * @param {string} memberTier @param {string} roomTier
 */
export function allowedResolutions(memberTier, roomTier) {
  /** @param {string} t */
  const rank = (t) => Math.max(0, RESOLUTIONS.findIndex((r) => r.tier === t));
  const top = Math.min(memberTier ? rank(memberTier) : rank(roomTier), rank(roomTier));
  return RESOLUTIONS.slice(0, top + 1);
}

/** One person's call in a room. */
export class Call extends EventTarget {
  /** @type {import('/js/lectern.js').Session|null} */ session = null;
  /** @type {Map<string, any>} participant ID -> ParticipantInfo (without tracks) */ participants = new Map();
  /** @type {Map<string, any>} track ID -> TrackInfo */ tracks = new Map();
  /** @type {{camera: MediaStreamTrack|null, microphone: MediaStreamTrack|null, screen: MediaStreamTrack|null}} */
  local = { camera: null, microphone: null, screen: null };
  /** @type {Set<string>} sources that are being opened, so buttons wait */ busy = new Set();
  /** The resolution the camera is asked for. */ resolution = RESOLUTIONS[1];
  /** Send the camera in three simulcast layers (the room page's quality choice). */ simulcast = false;
  ended = false;

  /**
   * @param {import('/js/session.js').Join} join
   * @param {{borrowed?: boolean}} [opts]  borrowed: the join is not the page's
   *   own (a turn on stage from the watch page), so a refused token ends the
   *   call instead of forgetting the join and going to the join page
   */
  constructor(join, opts = {}) {
    super();
    this.join = join;
    this.borrowed = !!opts.borrowed;
    this.roomId = join.room.id;
    this.devices = loadDevices();
    this.resolutions = allowedResolutions(join.tier, join.room.tier);
    this.resolution = this.resolutions[Math.min(1, this.resolutions.length - 1)];
  }

  /** @returns {string} this participant's ID once connected */
  get selfID() { return this.session?.participant?.id ?? ''; }
  get permissions() { return this.session?.permissions ?? this.join.permissions; }

  /**
   * What one may send while one may publish: the welcome's media (the room's
   * policy with one's override); before it, the room's policy.
   * @returns {{sources: string[], simulcast: boolean}|undefined}
   */
  get media() { return this.session?.welcome?.media ?? this.join.room.media; }

  /**
   * Whether one may send source now (publish, and the room's media policy).
   * @param {'camera'|'microphone'|'screen'} source
   */
  may(source) { return !!this.permissions.publish && (!this.media || this.media.sources.includes(source)); }

  /** Connects to the room. Refusals end in a fatal event. */
  async start() {
    let s;
    try {
      // The join's STUN/TURN servers; without them the welcome's apply.
      const ice = this.join.ice_servers;
      s = await connect(this.roomId, this.join.token, ice?.length ? { rtcConfig: { iceServers: ice } } : {});
    } catch (err) {
      this.#fail(err);
      return false;
    }
    this.session = s;
    const w = s.welcome;
    for (const p of [w.participant, ...(w.participants ?? [])]) this.#putParticipant(p);
    for (const t of w.tracks ?? []) this.tracks.set(t.id, t);
    s.on('participant_joined', (m) => this.#putParticipant(m.participant));
    s.on('participant_updated', (m) => this.#putParticipant(m.participant));
    s.on('participant_left', (m) => {
      this.participants.delete(m.participant.id);
      for (const [id, t] of this.tracks) if (t.participant === m.participant.id) this.tracks.delete(id);
      this.#emit('change');
    });
    s.on('track_published', (m) => this.#putTrack(m.track));
    s.on('track_updated', (m) => this.#putTrack(m.track));
    s.on('track_unpublished', (m) => { this.tracks.delete(m.track.id); this.#emit('change'); });
    s.on('permissions_changed', () => this.#emit('change'));
    s.on('track', (r) => { this.#putTrack(r.info); this.#emit('track', r); });
    s.on('track_ended', (r) => this.#emit('track_ended', r));
    s.on('video_paused', (m) => this.#emit('video_paused', m.track));
    s.on('video_resumed', (m) => this.#emit('video_resumed', m.track));
    s.on('error', (err) => this.#emit('problem', err.code === 'unsupported_codecs' ? codecProblem(err.reason) : `The server refused a request: ${err.reason || err.message}`));
    // Part of what was sent or offered could not be used; the rest goes on.
    s.on('warning', (err) => this.#emit('problem', err.code === 'unsupported_codecs' ? codecProblem(err.reason) : err.reason || err.message));
    s.on('removed', (m) => {
      if (!this.borrowed) clearJoin(this.roomId);
      this.#end('You were removed from this room', `A moderator removed you${m.reason && m.reason !== 'removed' ? ` (${m.reason})` : ''}. To come back, join again with a PIN.`, true);
    });
    // The same name joined from another tab or device; that one goes on.
    s.on('replaced', () => this.#end('Opened somewhere else', 'You joined this room again from another tab or device, which carries on there. Rejoin here to move back.', false));
    s.on('close', ({ reason }) => {
      // A node that finds its room placed elsewhere (after it stalled) ends it with this reason.
      if (/moved to another node/.test(reason ?? '')) {
        this.#end('The room moved', 'The room moved to another Lectern server. Rejoin to carry on there.', false);
        return;
      }
      this.#end('Connection lost', 'The connection to the Lectern server was lost. Check your network, then rejoin.', false);
    });
    this.#emit('change');
    return true;
  }

  /** Leaves the room and stops one's media. */
  leave() {
    this.ended = true;
    this.session?.leave();
    this.#stopLocal();
  }

  /**
   * Opens the camera and microphone the person chose on the join page and
   * publishes them. A refusal (blocked, missing) is shown as a problem and
   * the call goes on receive-only.
   */
  async publishDevices() {
    if (!this.permissions.publish) return;
    const want = { video: this.may('camera') && this.devices.cameraOn && !this.local.camera, audio: this.may('microphone') && this.devices.microphoneOn && !this.local.microphone };
    await this.#open(want);
  }

  /** Asks again for the camera and microphone the browser refused. */
  retryDevices() {
    this.devices = { ...this.devices, cameraOn: true, microphoneOn: true };
    return this.publishDevices();
  }

  /**
   * Turns a source on or off: mutes a published camera or microphone (the
   * others see it), or opens and publishes it when it is not there yet.
   * @param {'camera'|'microphone'} source
   */
  async toggle(source) {
    const track = this.local[source];
    if (!track) {
      await this.#open({ video: source === 'camera', audio: source === 'microphone' });
      return;
    }
    await this.setMuted(source, track.enabled);
  }

  /**
   * Mutes or unmutes one's own camera or microphone.
   * @param {'camera'|'microphone'|'screen'} source @param {boolean} muted
   */
  async setMuted(source, muted) {
    const track = this.local[source];
    if (!track) return;
    track.enabled = !muted;
    this.devices = { ...this.devices, [source === 'camera' ? 'cameraOn' : 'microphoneOn']: !muted };
    if (source !== 'screen') saveDevices(this.devices);
    this.#emit('local');
    const id = this.ownTrackID(source);
    if (id) await this.session.mute(id, muted).catch((err) => this.#emit('problem', `Could not ${muted ? 'mute' : 'unmute'}: ${err.reason || err.message}`));
  }

  /** Whether one's source is off (absent or muted). @param {'camera'|'microphone'|'screen'} source */
  isOff(source) { return !this.local[source] || !this.local[source].enabled; }

  /** The server's ID of one's own published source, or ''. @param {string} source */
  ownTrackID(source) {
    for (const t of this.tracks.values()) if (t.participant === this.selfID && t.source === source) return t.id;
    return '';
  }

  /** Shares a screen (asks the browser which one) and publishes it beside the camera. */
  async shareScreen() {
    if (this.local.screen || this.busy.has('screen')) return;
    this.busy.add('screen');
    this.#emit('local');
    try {
      const stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15 } }, audio: false });
      const [track] = stream.getVideoTracks();
      track.contentHint = 'detail';
      track.addEventListener('ended', () => this.stopScreen());
      this.local.screen = track;
      // Cleared first: publishing may warn that the room rejected the video.
      this.#emit('problem', '');
      await this.session.publish([{ track, source: 'screen' }]);
    } catch (err) {
      if (err?.code === 'unsupported_codecs') this.#emit('problem', codecProblem(err.reason));
      else if (err?.name !== 'NotAllowedError') this.#emit('problem', err?.name ? mediaProblem(err, 'screen') : `Could not share the screen: ${err.reason || err.message}`);
      this.local.screen?.stop();
      this.local.screen = null;
    } finally {
      this.busy.delete('screen');
      this.#emit('local');
    }
  }

  /** Stops sharing the screen. */
  async stopScreen() {
    const track = this.local.screen;
    if (!track) return;
    this.local.screen = null;
    this.#emit('local');
    track.stop();
    if (!this.ended) await this.session.unpublish(track).catch(() => {});
  }

  /**
   * Switches the camera or microphone to another device without a new
   * negotiation (the server keeps the same track).
   * @param {'camera'|'microphone'} source @param {string} deviceId
   */
  async switchDevice(source, deviceId) {
    this.devices = { ...this.devices, [source]: deviceId };
    saveDevices(this.devices);
    const old = this.local[source];
    if (!old) return;
    const video = source === 'camera';
    let next;
    try {
      const stream = await navigator.mediaDevices.getUserMedia(video
        ? { video: this.#videoConstraints() } : { audio: { deviceId: deviceId ? { exact: deviceId } : undefined } });
      next = video ? stream.getVideoTracks()[0] : stream.getAudioTracks()[0];
    } catch (err) {
      this.#emit('problem', mediaProblem(err, source));
      return;
    }
    next.enabled = old.enabled;
    const sender = this.session.publisher?.getSenders().find((s) => s.track === old);
    await sender?.replaceTrack(next);
    this.local[source] = next;
    old.stop();
    this.#emit('problem', '');
    this.#emit('local');
  }

  /**
   * Asks the camera for another size, up to the tier.
   * @param {string} tier
   */
  async setResolution(tier) {
    this.resolution = this.resolutions.find((r) => r.tier === tier) ?? this.resolution;
    const cam = this.local.camera;
    if (!cam) return;
    await cam.applyConstraints({ width: { ideal: this.resolution.width }, height: { ideal: this.resolution.height } })
      .catch((err) => this.#emit('problem', `The camera cannot send ${this.resolution.label}: ${err.message}`));
    this.#emit('local');
  }

  /**
   * The tracks one participant publishes, by source.
   * @param {string} participant
   * @returns {Record<string, any>}
   */
  tracksOf(participant) {
    /** @type {Record<string, any>} */
    const out = {};
    for (const t of this.tracks.values()) if (t.participant === participant) out[t.source] = t;
    return out;
  }

  /**
   * Audio levels (0 to 1) by participant ID, from the connections' stats:
   * what is received, and one's own microphone.
   * @returns {Promise<Map<string, number>>}
   */
  async levels() {
    const out = new Map();
    const s = this.session;
    if (!s) return out;
    if (s.subscriber) {
      const byMid = new Map([...s.remoteTracks.values()].map((r) => [r.mid, r]));
      for (const st of (await s.subscriber.getStats()).values()) {
        if (st.type !== 'inbound-rtp' || st.kind !== 'audio') continue;
        const r = byMid.get(st.mid);
        if (r && typeof st.audioLevel === 'number') out.set(r.info.participant, Math.max(out.get(r.info.participant) ?? 0, st.audioLevel));
      }
    }
    if (s.publisher && this.local.microphone?.enabled) {
      for (const st of (await s.publisher.getStats()).values()) {
        if (st.type === 'media-source' && st.kind === 'audio' && typeof st.audioLevel === 'number') out.set(this.selfID, st.audioLevel);
      }
    }
    return out;
  }

  /** @param {{video: boolean, audio: boolean}} want */
  async #open(want) {
    if (!want.video && !want.audio) return;
    const names = [want.video && 'camera', want.audio && 'microphone'].filter(Boolean);
    for (const n of names) this.busy.add(n);
    this.#emit('local');
    let stream = null;
    let problem = '';
    /** @param {{video: boolean, audio: boolean}} w */
    const ask = (w) => navigator.mediaDevices.getUserMedia({
      video: w.video ? this.#videoConstraints() : false,
      audio: w.audio ? { deviceId: this.devices.microphone ? { ideal: this.devices.microphone } : undefined } : false,
    });
    try {
      if (!navigator.mediaDevices?.getUserMedia) throw Object.assign(new Error('no media devices'), { name: 'SecurityError' });
      stream = await ask(want);
    } catch (err) {
      problem = mediaProblem(err, names.join(' and '));
      if (want.video && want.audio) {
        // A blocked camera may leave the microphone, and the other way round.
        for (const only of [{ video: false, audio: true }, { video: true, audio: false }]) {
          try {
            stream = await ask(only);
            problem = mediaProblem(err, only.video ? 'microphone' : 'camera');
            break;
          } catch { /* try the other */ }
        }
      }
    }
    this.#emit('problem', problem ? { message: `${problem} You can still see and hear the others.`, retry: true } : '');
    const entries = [];
    for (const track of stream?.getTracks() ?? []) {
      const source = track.kind === 'video' ? 'camera' : 'microphone';
      this.local[source] = track;
      entries.push({ track, source, simulcast: track.kind === 'video' && this.simulcast && this.media?.simulcast !== false });
    }
    try {
      if (entries.length) await this.session.publish(entries);
    } catch (err) {
      this.#emit('problem', err?.code === 'unsupported_codecs' ? codecProblem(err.reason) : `Could not send your ${names.join(' and ')}: ${err.reason || err.message}`);
    } finally {
      for (const n of names) this.busy.delete(n);
      this.#emit('local');
    }
  }

  #videoConstraints() {
    return {
      deviceId: this.devices.camera ? { ideal: this.devices.camera } : undefined,
      width: { ideal: this.resolution.width }, height: { ideal: this.resolution.height }, frameRate: { ideal: 30 },
    };
  }

  /** @param {import('/js/lectern.js').ParticipantInfo} p */
  #putParticipant(p) {
    if (!p) return;
    const { tracks, ...info } = p;
    this.participants.set(p.id, info);
    for (const t of tracks ?? []) this.tracks.set(t.id, t);
    this.#emit('change');
  }

  /** @param {import('/js/lectern.js').TrackInfo} t */
  #putTrack(t) {
    if (!t) return;
    this.tracks.set(t.id, t);
    // A moderator may mute one's own track: the device follows.
    if (t.participant === this.selfID) {
      const mine = this.local[/** @type {'camera'|'microphone'|'screen'} */ (t.source)];
      if (mine && mine.enabled === t.muted) {
        mine.enabled = !t.muted;
        this.#emit('local');
      }
    }
    this.#emit('change');
  }

  /** @param {any} err  a LecternError, or whatever connect threw */
  #fail(err) {
    switch (err?.code) {
      case 'room_not_found':
        clearJoin(this.roomId);
        this.#end('This room does not exist', `There is no room “${this.roomId}” on this server any more. It may have been deleted.`, true);
        break;
      case 'token_expired': case 'token_invalid': case 'token_malformed': case 'token_wrong_room': case 'unauthorized':
        if (this.borrowed) {
          this.#end('Cannot join', `The server refused the connection (${err.reason || err.code}).`, true);
          break;
        }
        clearJoin(this.roomId);
        location.replace(`/?room=${encodeURIComponent(this.roomId)}`);
        break;
      default:
        this.#end('Cannot reach the room', `Lectern could not connect you (${err?.reason || err?.message || err}). Check your network, then try again.`, false);
    }
  }

  /** @param {string} title @param {string} message @param {boolean} final  no rejoin offered */
  #end(title, message, final) {
    if (this.ended) return;
    this.ended = true;
    this.#stopLocal();
    this.#emit('fatal', { title, message, final });
  }

  #stopLocal() {
    for (const k of /** @type {const} */ (['camera', 'microphone', 'screen'])) {
      this.local[k]?.stop();
      this.local[k] = null;
    }
  }

  /** @param {string} type @param {any} [detail] */
  #emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }

  /** Calls fn with each event's detail. @param {string} type @param {(d: any) => void} fn */
  on(type, fn) { this.addEventListener(type, (ev) => fn(/** @type {CustomEvent} */ (ev).detail)); }
}
