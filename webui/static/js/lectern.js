// lectern.js: the browser side of Lectern's room websocket protocol
// (docs/protocol.md). An ES module with no dependencies and no build step:
//
//   import { connect } from '/js/lectern.js';
//   const session = await connect('weekly', token);
//   session.on('track', ({ track, info }) => show(track, info.source));
//   const cam = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
//   await session.publish(cam.getTracks());
//
// Each participant has two peer connections: the publisher, which this module
// offers, and the subscriber, which the server offers whenever the set of
// tracks sent to us changes. The server sends all its candidates in its SDP;
// ours trickle.

/** The track sources the server knows. */
export const SOURCES = ['camera', 'microphone', 'screen', 'screen_audio'];

/**
 * An error from the server (its stable `code` and human `message`) or from
 * the connection (code `closed`, `connect_failed` or `timeout`).
 */
export class LecternError extends Error {
  /** @param {string} code @param {string} message */
  constructor(code, message) {
    super(`${code}: ${message}`);
    this.name = 'LecternError';
    /** @type {string} */
    this.code = code;
    /** The server's sentence, without the code. */
    this.reason = message;
  }
}

/**
 * @typedef {object} TrackInfo  A published track as the server describes it.
 * @property {string} id           the server's track ID (TR_...)
 * @property {string} participant  the publisher's participant ID
 * @property {'audio'|'video'} kind
 * @property {string} source       camera, microphone, screen or screen_audio
 * @property {string} codec
 * @property {boolean} muted
 * @property {string[]} [layers]   simulcast RIDs
 *
 * @typedef {object} RemoteTrack  A track the server sends us.
 * @property {string} id              the server's track ID
 * @property {MediaStreamTrack} track
 * @property {MediaStream} stream     one stream per publishing participant
 * @property {TrackInfo} info
 * @property {string} mid             the subscriber transceiver's mid (getStats reports it)
 *
 * @typedef {object} PublishEntry
 * @property {MediaStreamTrack} track
 * @property {string} [source]  default: microphone for audio, camera for video
 * @property {boolean} [simulcast]  send video in three layers, q (1/4 size), h (1/2) and f,
 *   from which the server forwards each subscriber the one its tier and network allow
 *
 * @typedef {object} ParticipantInfo  A participant as the server describes it.
 * @property {string} id        the server's participant ID (PA_...)
 * @property {string} identity
 * @property {string} name
 * @property {string} kind      browser, whip, rtsp ...
 * @property {string} joined_at when it joined (RFC 3339, UTC)
 * @property {TrackInfo[]} tracks
 *
 * @typedef {object} MediaPermissions  What this participant may do in the room now.
 * @property {boolean} publish
 * @property {boolean} subscribe
 * @property {boolean} list
 * @property {boolean} moderate
 *
 * @typedef {object} RoomInfo  The room as the API shows it (docs/api.md).
 * @property {string} id
 * @property {string} name
 * @property {string} mode      conference or webinar
 * @property {string} tier
 * @property {MediaPolicy} [media]  what the room's publishers may send
 *
 * @typedef {object} MediaPolicy  A room's media policy (docs/api.md "Media policy").
 * @property {string[]} sources  of microphone, camera, screen, screen_audio
 * @property {boolean} simulcast
 *
 * @typedef {object} Welcome  The server's first message (docs/protocol.md).
 * @property {'welcome'} type
 * @property {ParticipantInfo} participant
 * @property {MediaPermissions} permissions
 * @property {RoomInfo} room
 * @property {MediaPolicy} [media]  what this participant may send while it may publish
 * @property {ParticipantInfo[]} [participants]  only with the list permission
 * @property {TrackInfo[]} [tracks]              only with the list permission
 * @property {RTCIceServer[]} ice_servers
 */

/** Simulcast encodings, lowest first, named as the server expects. */
const SIMULCAST = [
  { rid: 'q', scaleResolutionDownBy: 4 },
  { rid: 'h', scaleResolutionDownBy: 2 },
  { rid: 'f', scaleResolutionDownBy: 1 },
];

/** How long a request waits for its reply. */
const REQUEST_TIMEOUT_MS = 15000;

/**
 * Joins a room: opens the websocket and resolves once the server's welcome
 * arrives. Rejects with a LecternError carrying the server's code when the
 * token is refused.
 * @param {string} roomId
 * @param {string} token  an access token for the room
 * @param {{baseURL?: string, autoSubscribe?: boolean, rtcConfig?: RTCConfiguration}} [options]
 * @returns {Promise<Session>}
 */
export function connect(roomId, token, options = {}) {
  const base = new URL(options.baseURL ?? location.href);
  const url = new URL(`/api/v1/rooms/${encodeURIComponent(roomId)}/ws`, base);
  url.searchParams.set('token', token);
  if (options.autoSubscribe === false) url.searchParams.set('auto_subscribe', 'false');
  url.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
  return openSession(url, options, 0);
}

/** How many times connect follows a redirect to the room's node. */
const MAX_REDIRECTS = 3;

/** @param {URL} url the websocket URL @param {{rtcConfig?: RTCConfiguration}} options @param {number} hops @returns {Promise<Session>} */
function openSession(url, options, hops) {
  const session = new Session(new WebSocket(url), options.rtcConfig ?? {});
  return session.welcomed.catch(async (err) => {
    // With several nodes, the room may live on another one: the server
    // names it in a redirect message, then closes (docs/protocol.md).
    if (err.code === 'redirect' && hops < MAX_REDIRECTS) return openSession(new URL(err.reason), options, hops + 1);
    // A refused upgrade is invisible to WebSocket; the same URL over plain
    // HTTP answers with the JSON error that says why.
    if (err.code !== 'connect_failed') throw err;
    const httpURL = new URL(url);
    httpURL.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
    const res = await fetch(httpURL).catch(() => /** @type {Response|null} */ (null));
    const body = res && (res.headers.get('Content-Type') ?? '').startsWith('application/json') ? await res.json() : null;
    throw body?.code ? new LecternError(body.code, body.message) : err;
  });
}

/**
 * One participant's session in a room. Events (use `on` or addEventListener;
 * the CustomEvent's detail is the server's message): welcome,
 * participant_joined, participant_left, participant_updated, track_published,
 * track_unpublished, track_updated, layer_changed, video_paused and
 * video_resumed (the server paused a received video for lack of bandwidth,
 * and resumed it), publish_layers (which simulcast encodings of an own track
 * anyone watches: the session pauses the others itself), permissions_changed,
 * removed, replaced (this identity joined again elsewhere; the socket closes), error (a LecternError with no request to reject), close ({code,
 * reason}), and two of this module's own: track (a RemoteTrack arrived) and
 * track_ended (a RemoteTrack the server no longer sends).
 */
export class Session extends EventTarget {
  /** @type {Welcome|null} the welcome message */ welcome = null;
  /** @type {ParticipantInfo|null} this participant (id, identity, name) */ participant = null;
  /** @type {MediaPermissions|null} publish, subscribe, list, moderate */ permissions = null;
  /** @type {RoomInfo|null} */ room = null;
  /** @type {Map<string, RemoteTrack>} by server track ID */ remoteTracks = new Map();
  /** @type {Map<string, TrackInfo>} this participant's published tracks, by server track ID */ ownTracks = new Map();
  /** @type {RTCPeerConnection|null} */ publisher = null;
  /** @type {RTCPeerConnection|null} */ subscriber = null;
  /** @type {Promise<Session>} resolves on welcome */ welcomed;

  #ws; #rtcConfig; #seq = 0; #closed = false;
  /** @type {string|null} */ #redirect = null; // the URL of a redirect message, before the welcome
  #pending = new Map();     // request id -> {resolve, reject, timer}
  /** @type {Record<string, string>} */ #sources = {}; // msid track id -> source
  #pubQueue = Promise.resolve();
  #layerQueue = Promise.resolve();
  #subQueue = Promise.resolve();
  #pubReady = false; #pubCandidates = /** @type {RTCIceCandidateInit[]} */ ([]);
  #subReady = false; #subCandidates = /** @type {RTCIceCandidateInit[]} */ ([]); #subUfrag = '';
  #mids = new Map();        // subscriber mid -> server track ID, from the offer's msid lines
  /** @type {Map<string, RTCRtpSender>} */ #senders = new Map(); // msid track id -> its sender (kept across replaceTrack)
  /** @type {Record<string, TrackInfo>} */ #offerTracks = {}; // the last offer's tracks map

  /** @param {WebSocket} ws @param {RTCConfiguration} rtcConfig */
  constructor(ws, rtcConfig) {
    super();
    this.#ws = ws;
    this.#rtcConfig = rtcConfig;
    this.welcomed = new Promise((resolve, reject) => {
      ws.onmessage = (ev) => this.#onMessage(ev.data, resolve);
      ws.onclose = (ev) => {
        const err = this.welcome ? new LecternError('closed', ev.reason || `socket closed (${ev.code})`)
          : this.#redirect ? new LecternError('redirect', this.#redirect)
          : new LecternError('connect_failed', `the room socket closed before the welcome (${ev.code})`);
        this.#shutdown(err);
        reject(err);
        this.#emit('close', { code: ev.code, reason: ev.reason });
      };
    });
    this.welcomed.catch(() => {}); // connect() reports it
  }

  /**
   * Calls fn with each event's detail; returns a function that stops it.
   * @param {string} type @param {(detail: any) => void} fn
   */
  on(type, fn) {
    /** @param {Event} ev */
    const listener = (ev) => fn(/** @type {CustomEvent} */ (ev).detail);
    this.addEventListener(type, listener);
    return () => this.removeEventListener(type, listener);
  }

  /**
   * Sends a client message with a fresh id and resolves with the reply (ok,
   * answer or pong); rejects with the server's error as a LecternError.
   * @param {{type: string, [field: string]: any}} msg  a client message without id
   * @returns {Promise<any>}
   */
  request(msg) {
    if (this.#closed || this.#ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new LecternError('closed', 'the room socket is not open'));
    }
    const id = String(++this.#seq);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new LecternError('timeout', `no reply to ${msg.type} within ${REQUEST_TIMEOUT_MS} ms`));
      }, REQUEST_TIMEOUT_MS);
      this.#pending.set(id, { resolve, reject, timer });
      this.#ws.send(JSON.stringify({ ...msg, id }));
    });
  }

  /**
   * Publishes tracks on the publisher connection (a second call adds more).
   * Resolves once the server's answer is applied; the server then announces
   * each track in a track_published event (see ownTracks).
   * @param {Array<MediaStreamTrack|PublishEntry>} tracks
   */
  publish(tracks) {
    const entries = tracks.map((e) => (e instanceof MediaStreamTrack ? { track: e } : e));
    const bad = entries.find((e) => e.source && !SOURCES.includes(e.source));
    if (bad) return Promise.reject(new LecternError('invalid_source', `${bad.source} is not one of ${SOURCES.join(', ')}`));
    const pc = this.#publisherPC();
    for (const { track, source, simulcast } of entries) {
      /** @type {RTCRtpTransceiverInit} */
      const init = { direction: 'sendonly' };
      if (simulcast && track.kind === 'video') init.sendEncodings = SIMULCAST.map((e) => ({ ...e }));
      this.#senders.set(track.id, pc.addTransceiver(track, init).sender);
      this.#sources[track.id] = source ?? (track.kind === 'audio' ? 'microphone' : 'camera');
    }
    return this.#negotiatePublisher();
  }

  /**
   * Stops publishing a track (the server unpublishes it and tells the room).
   * @param {MediaStreamTrack} track
   */
  unpublish(track) {
    const sender = this.publisher?.getSenders().find((s) => s.track === track);
    if (!sender) return Promise.resolve();
    this.publisher.removeTrack(sender);
    delete this.#sources[track.id];
    for (const [id, s] of this.#senders) if (s === sender) this.#senders.delete(id);
    return this.#negotiatePublisher();
  }

  /** Mutes or unmutes a track: one's own, or anyone's with moderate. @param {string} trackId @param {boolean} muted */
  mute(trackId, muted) { return this.request({ type: 'mute', track: trackId, muted }); }
  /** Stops or resumes receiving one track, for this participant only. @param {string} trackId @param {boolean} paused */
  pause(trackId, paused) { return this.request({ type: 'pause', track: trackId, paused }); }
  /** Picks a simulcast layer (q, h, f) of a received track, or auto. @param {string} trackId @param {string} layer */
  layer(trackId, layer) { return this.request({ type: 'layer', track: trackId, layer }); }
  /**
   * Tells the server the size a received video is shown at, in device pixels
   * (0 when unknown), so that it sends no larger layer than that.
   * @param {string} trackId @param {number} width @param {number} height
   */
  view(trackId, width, height) { return this.request({ type: 'view', track: trackId, width, height }); }
  /** Starts receiving tracks (needed with autoSubscribe false). @param {string[]} trackIds */
  subscribe(trackIds) { return this.request({ type: 'subscribe', tracks: trackIds }); }
  /** Stops receiving tracks. @param {string[]} trackIds */
  unsubscribe(trackIds) { return this.request({ type: 'unsubscribe', tracks: trackIds }); }
  /** Removes a participant from the room (moderate). @param {string} participantId */
  remove(participantId) { return this.request({ type: 'remove', participant: participantId }); }
  /** Publishes into these rooms (the token must allow each). @param {string[]} roomIds */
  targets(roomIds) { return this.request({ type: 'targets', rooms: roomIds }); }
  /** Round trip to the server. */
  ping() { return this.request({ type: 'ping' }); }

  /** Leaves the room: tells the server, then closes both connections. */
  leave() {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify({ type: 'leave' }));
    this.#shutdown(new LecternError('closed', 'left the room'));
    this.#ws.close(1000, 'left');
  }

  /** @param {string} data @param {(s: Session) => void} welcomed */
  #onMessage(data, welcomed) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      this.#emit('error', new LecternError('invalid_message', 'the server sent a frame that is not JSON'));
      return;
    }
    const waiting = msg.id !== undefined && this.#pending.get(msg.id);
    if (waiting) {
      this.#pending.delete(msg.id);
      clearTimeout(waiting.timer);
      if (msg.type === 'error') waiting.reject(new LecternError(msg.code, msg.message));
      else waiting.resolve(msg);
      return;
    }
    switch (msg.type) {
      case 'redirect':
        if (!this.welcome) this.#redirect = msg.url;
        return;
      case 'welcome':
        this.welcome = msg;
        ({ participant: this.participant, permissions: this.permissions, room: this.room } = msg);
        // The server's STUN/TURN servers (with credentials), unless the caller chose its own.
        if (msg.ice_servers?.length && !this.#rtcConfig.iceServers) {
          this.#rtcConfig = { ...this.#rtcConfig, iceServers: msg.ice_servers };
        }
        welcomed(this);
        break;
      case 'error':
        this.#emit('error', new LecternError(msg.code, msg.message));
        return;
      case 'offer':
        this.#subQueue = this.#subQueue.then(() => this.#answerOffer(msg)).catch((err) => this.#emit('error', asError(err)));
        return;
      case 'permissions_changed':
        this.permissions = msg.permissions;
        break;
      case 'track_published':
      case 'track_updated': {
        if (msg.track.participant === this.participant?.id) this.ownTracks.set(msg.track.id, msg.track);
        const remote = this.remoteTracks.get(msg.track.id);
        if (remote) remote.info = msg.track;
        break;
      }
      case 'track_unpublished':
        this.ownTracks.delete(msg.track.id);
        break;
      case 'publish_layers':
        // A queue of its own: a layer change never waits for, nor holds up, a negotiation.
        this.#layerQueue = this.#layerQueue.then(() => this.#sendLayers(msg.local_track, msg.active ?? [], msg.track?.layers ?? []))
          .catch((err) => this.#emit('error', asError(err)));
        break;
    }
    this.#emit(msg.type, msg);
  }

  /**
   * Dynacast: sends only the simulcast encodings someone watches, as the
   * server asks (publish_layers); the others pause in the encoder.
   * @param {string} localTrack  the msid track ID the server knows the track by
   * @param {string[]} active  the RIDs to keep sending
   * @param {string[]} known  the RIDs the server has received: one it has not
   *   seen yet (the browser starts its upper layers as its estimate grows) stays on
   */
  async #sendLayers(localTrack, active, known) {
    const sender = this.#senders.get(localTrack);
    const params = sender?.getParameters();
    if (!sender || !params || params.encodings.length < 2) return;
    let changed = false;
    for (const e of params.encodings) {
      const on = e.rid === undefined || active.includes(e.rid) || !known.includes(e.rid);
      if (e.active !== on) { e.active = on; changed = true; }
    }
    if (changed) await sender.setParameters(params);
  }

  /** @param {string} type @param {any} detail */
  #emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }

  #publisherPC() {
    if (!this.publisher) {
      const pc = new RTCPeerConnection(this.#rtcConfig);
      pc.onicecandidate = (ev) => ev.candidate?.candidate && this.#trickle('publisher', ev.candidate.toJSON());
      this.publisher = pc;
    }
    return this.publisher;
  }

  /** Offers the publisher connection's current tracks; calls run one at a time. */
  #negotiatePublisher() {
    const run = async () => {
      const pc = this.publisher;
      await pc.setLocalDescription(await pc.createOffer());
      /** @type {Record<string, string>} */
      const sources = {};
      for (const s of pc.getSenders()) if (s.track) sources[s.track.id] = this.#sources[s.track.id];
      const reply = await this.request({ type: 'publish', sdp: pc.localDescription.sdp, sources });
      await pc.setRemoteDescription({ type: 'answer', sdp: reply.sdp });
      // The server took part of the offer and says why it rejected the rest.
      if (reply.code) this.#emit('warning', new LecternError(reply.code, reply.message ?? ''));
      this.#pubReady = true;
      this.#flush('publisher');
    };
    const done = this.#pubQueue.then(run);
    this.#pubQueue = done.catch(() => {});
    return done;
  }

  /**
   * Applies a server offer to the subscriber connection and answers it.
   * @param {{sdp: string, tracks?: Record<string, TrackInfo>}} msg  the offer event
   */
  async #answerOffer(msg) {
    // An offer with new ICE credentials comes from a new server connection
    // (after an answer that rejected every section): answer it on a new one.
    const ufrag = /^a=ice-ufrag:(\S+)/m.exec(msg.sdp)?.[1] ?? '';
    if (this.subscriber && ufrag !== this.#subUfrag) {
      this.subscriber.close();
      this.subscriber = null;
      this.#subReady = false;
    }
    this.#subUfrag = ufrag;
    if (!this.subscriber) {
      const pc = new RTCPeerConnection(this.#rtcConfig);
      pc.onicecandidate = (ev) => ev.candidate?.candidate && this.#trickle('subscriber', ev.candidate.toJSON());
      pc.ontrack = (ev) => this.#onRemoteTrack(ev);
      this.subscriber = pc;
    }
    const pc = this.subscriber;
    this.#offerTracks = msg.tracks ?? {};
    this.#mids = midsToTracks(msg.sdp);
    await pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    try {
      await this.request({ type: 'answer', sdp: pc.localDescription.sdp });
    } catch (err) {
      // The server applied the answer, but this browser cannot receive some
      // of the room's media: say so and carry on with the rest.
      if (err?.code !== 'unsupported_codecs') throw err;
      this.#emit('warning', err);
    }
    this.#subReady = true;
    this.#flush('subscriber');
    for (const [id, remote] of this.remoteTracks) {
      if (!(id in this.#offerTracks)) {
        this.remoteTracks.delete(id);
        this.#emit('track_ended', remote);
      }
    }
  }

  /** @param {RTCTrackEvent} ev */
  #onRemoteTrack(ev) {
    const mid = ev.transceiver.mid;
    const id = this.#mids.get(mid);
    const info = this.#offerTracks[id];
    if (!info) {
      this.#emit('error', new LecternError('unknown_track', `the offer's track for mid ${mid} is not in its tracks map`));
      return;
    }
    const stream = ev.streams[0] ?? new MediaStream([ev.track]);
    const remote = { id, track: ev.track, stream, info, mid };
    this.remoteTracks.set(id, remote);
    this.#emit('track', remote);
  }

  /**
   * Sends a local candidate once the connection's remote description is set
   * (before that the server has no connection to add it to). The end of
   * candidates is not sent.
   * @param {'publisher'|'subscriber'} target @param {RTCIceCandidateInit} init
   */
  #trickle(target, init) {
    const ready = target === 'publisher' ? this.#pubReady : this.#subReady;
    if (!ready) {
      (target === 'publisher' ? this.#pubCandidates : this.#subCandidates).push(init);
      return;
    }
    this.request({ type: 'candidate', target, candidate: init }).catch((err) => {
      if (!this.#closed) this.#emit('error', asError(err));
    });
  }

  /** @param {'publisher'|'subscriber'} target */
  #flush(target) {
    const queue = target === 'publisher' ? this.#pubCandidates.splice(0) : this.#subCandidates.splice(0);
    for (const init of queue) this.#trickle(target, init);
  }

  /** @param {LecternError} err */
  #shutdown(err) {
    if (this.#closed) return;
    this.#closed = true;
    for (const { reject, timer } of this.#pending.values()) {
      clearTimeout(timer);
      reject(err);
    }
    this.#pending.clear();
    this.publisher?.close();
    this.subscriber?.close();
  }
}

/**
 * Maps each media section's mid to the server track ID in its msid
 * (`a=msid:<participant id> <track id>`).
 * @param {string} sdp
 * @returns {Map<string, string>}
 */
function midsToTracks(sdp) {
  const mids = new Map();
  for (const section of sdp.split(/\r?\nm=/).slice(1)) {
    const mid = /^a=mid:(\S+)/m.exec(section)?.[1];
    const track = /^a=msid:\S+ (\S+)/m.exec(section)?.[1];
    if (mid && track) mids.set(mid, track);
  }
  return mids;
}

/** @param {any} err @returns {LecternError} */
function asError(err) {
  return err instanceof LecternError ? err : new LecternError('client_error', String(err?.message ?? err));
}
