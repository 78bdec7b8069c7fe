// tiles.js: the video tiles of a call (call.js): one per participant's
// camera (initials when there is no picture) and one per shared screen, which
// takes the spotlight. Tiles show the name, a muted microphone, and a ring
// around whoever is speaking (audio levels from the connections' stats).
// Remote audio plays from hidden <audio> elements; each tile can mute it for
// oneself and, when its camera is simulcast, choose its quality. Each remote
// video's rendered size goes to the server (view), which sends no larger
// layer than that; a video the server pauses for lack of bandwidth says so.

import { h, toast } from '/js/dom.js';
import { icon } from '/js/icons.js';

/** Audio level (0 to 1) above which someone counts as speaking. */
const SPEAKING = 0.03;
const QUALITIES = [['auto', 'Auto'], ['f', 'High'], ['h', 'Medium'], ['q', 'Low']];

/** @param {string} name */
function initials(name) {
  return name.split(/\s+/).filter(Boolean).slice(0, 2).map((w) => w[0].toUpperCase()).join('') || '?';
}

/** The tiles of a call in a container. */
export class Stage {
  /**
   * @param {HTMLElement} grid  where tiles go
   * @param {import('/js/call.js').Call} call
   * @param {{tileControls?: boolean}} [opts]  per-tile mute-for-me and quality
   */
  constructor(grid, call, opts = {}) {
    this.grid = grid;
    this.call = call;
    this.opts = opts;
    /** @type {Map<string, HTMLElement>} tile key -> figure */ this.tiles = new Map();
    /** @type {Map<string, HTMLMediaElement>} track ID -> its element */ this.media = new Map();
    /** @type {Set<string>} participants muted for oneself */ this.mutedForMe = new Set();
    this.audio = h('div', { class: 'visually-hidden', 'aria-hidden': 'true' });
    this.speaking = new Set();
    this.soundBlocked = false;
    /** Called when the browser would not play sound until a click. */ this.onSoundBlocked = () => {};
    /** @type {Set<string>} track IDs the server paused for bandwidth */ this.bwPaused = new Set();
    /** @type {Map<string, string>} track ID -> the size last reported */ this.viewSent = new Map();
    this.resize = new ResizeObserver((entries) => { for (const e of entries) this.#reportView(/** @type {HTMLElement} */ (e.target.closest('.tile'))); });
    grid.after(this.audio);
    call.on('change', () => this.render());
    call.on('local', () => this.render());
    call.on('track', (r) => this.#attach(r));
    call.on('track_ended', (r) => this.#detach(r.id));
    call.on('video_paused', (t) => { this.bwPaused.add(t.id); this.render(); });
    call.on('video_resumed', (t) => { this.bwPaused.delete(t.id); this.render(); });
  }

  /** Reports a remote tile's size to the server when it changed by more than a tenth. @param {HTMLElement|null} fig */
  #reportView(fig) {
    if (!fig || fig.classList.contains('tile-self')) return;
    const info = this.call.tracksOf(fig.dataset.participant ?? '')[fig.dataset.source ?? ''];
    const video = fig.querySelector('video');
    if (!info || !video || !this.call.session) return;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.round(video.clientWidth * dpr), hgt = Math.round(video.clientHeight * dpr);
    if (!w || !hgt) return;
    const last = this.viewSent.get(info.id)?.split('x').map(Number);
    if (last && Math.abs(last[0] - w) <= last[0] / 10 && Math.abs(last[1] - hgt) <= last[1] / 10) return;
    this.viewSent.set(info.id, `${w}x${hgt}`);
    this.call.session.view(info.id, w, hgt).catch(() => this.viewSent.delete(info.id));
  }

  /** Polls audio levels for the speaking ring until the call ends. */
  startSpeakerWatch() {
    const tick = async () => {
      if (this.call.ended) return;
      try {
        const levels = await this.call.levels();
        const now = new Set([...levels].filter(([, l]) => l > SPEAKING).map(([p]) => p));
        if (now.size !== this.speaking.size || [...now].some((p) => !this.speaking.has(p))) {
          this.speaking = now;
          for (const [key, fig] of this.tiles) fig.classList.toggle('speaking', key.endsWith(':camera') && now.has(fig.dataset.participant));
        }
      } catch { /* a connection closed in between */ }
      setTimeout(tick, 400);
    };
    tick();
  }

  /** Plays any audio the browser held back, after a click. */
  resumeSound() {
    this.soundBlocked = false;
    for (const el of this.media.values()) if (el instanceof HTMLAudioElement) el.play().catch(() => {});
  }

  /** Draws the tiles for the current roster. */
  render() {
    const call = this.call;
    const want = [];
    for (const p of call.participants.values()) {
      const tr = call.tracksOf(p.id);
      const self = p.id === call.selfID;
      if (tr.screen || (self && call.local.screen)) want.push({ key: `${p.id}:screen`, p, source: 'screen', self, tr });
      // Viewers without a camera or microphone get no tile in a webinar.
      if (self ? call.permissions.publish : (tr.camera || tr.microphone || call.session?.room?.mode !== 'webinar')) {
        want.push({ key: `${p.id}:camera`, p, source: 'camera', self, tr });
      }
    }
    const keys = new Set(want.map((w) => w.key));
    for (const [key, fig] of this.tiles) {
      if (keys.has(key)) continue;
      const video = fig.querySelector('video');
      if (video) this.resize.unobserve(video);
      fig.remove();
      this.tiles.delete(key);
    }
    const spotlight = want.find((w) => w.source === 'screen')?.key;
    for (const w of want) {
      let fig = this.tiles.get(w.key);
      if (!fig) {
        fig = this.#newTile(w);
        this.tiles.set(w.key, fig);
      }
      this.#update(fig, w);
      fig.classList.toggle('spotlight', w.key === spotlight);
      this.grid.append(fig); // keeps roster order
    }
    if (want.length) this.grid.querySelector('.tiles-empty')?.remove();
    this.grid.classList.toggle('has-spotlight', !!spotlight);
    this.grid.dataset.count = String(want.length);
  }

  /** @param {{key: string, p: {id: string, name: string}, source: string, self: boolean, tr: Record<string, any>}} w */
  #newTile(w) {
    const video = /** @type {HTMLVideoElement} */ (h('video', { autoplay: true, playsinline: true, muted: true }));
    video.muted = true;
    const fig = h('figure', { class: `tile tile-${w.source}${w.self ? ' tile-self' : ''}`, 'data-participant': w.p.id, 'data-source': w.source },
      video, h('div', { class: 'tile-avatar', 'aria-hidden': 'true' }),
      h('figcaption', { class: 'tile-bar' }, h('span', { class: 'tile-name' }), h('span', { class: 'tile-state' })));
    if (this.opts.tileControls && !w.self && w.source === 'camera') {
      const mute = h('button', { type: 'button', class: 'tile-btn', 'data-action': 'mute-for-me' });
      mute.addEventListener('click', () => {
        if (this.mutedForMe.has(w.p.id)) this.mutedForMe.delete(w.p.id); else this.mutedForMe.add(w.p.id);
        this.#applyMutes();
        this.render();
      });
      const quality = /** @type {HTMLSelectElement} */ (h('select', { class: 'tile-quality', 'aria-label': `Video quality of ${w.p.name}` },
        ...QUALITIES.map(([v, label]) => h('option', { value: v, text: label }))));
      quality.addEventListener('change', () => this.#setQuality(w.p.id, quality));
      fig.append(h('div', { class: 'tile-controls' }, quality, mute));
    }
    if (!w.self) this.resize.observe(video);
    return fig;
  }

  /** @param {HTMLElement} fig @param {{key: string, p: {id: string, name: string}, source: string, self: boolean, tr: Record<string, any>}} w */
  #update(fig, w) {
    const call = this.call;
    const video = fig.querySelector('video');
    const info = w.tr[w.source];
    let track = null;
    if (w.self) track = call.local[/** @type {'camera'|'screen'} */ (w.source)];
    else if (info) track = this.#remoteTrack(info.id);
    const on = !!track && !(w.self ? !track.enabled : info?.muted);
    if (track && /** @type {MediaStream|null} */ (video.srcObject)?.getTracks()[0] !== track) {
      video.srcObject = new MediaStream([track]);
      video.play().catch(() => {});
    }
    if (!track && video.srcObject) video.srcObject = null;
    video.hidden = !on;
    fig.classList.toggle('no-video', !on);
    const name = w.source === 'screen' ? `${w.p.name}’s screen` : w.p.name;
    fig.setAttribute('aria-label', `${name}${w.self ? ' (you)' : ''}`);
    fig.querySelector('.tile-avatar').textContent = initials(w.p.name);
    fig.querySelector('.tile-name').textContent = w.self ? `${name} (you)` : name;
    const micOff = w.source === 'camera' && (w.self ? call.isOff('microphone') : (!w.tr.microphone || w.tr.microphone.muted));
    const state = fig.querySelector('.tile-state');
    const paused = !w.self && !!info && this.bwPaused.has(info.id);
    state.replaceChildren(...(micOff ? [icon('micOff')] : []), ...(paused ? [h('span', { class: 'tile-paused', text: 'Video paused: low bandwidth' })] : []));
    state.title = [micOff ? 'Microphone off' : '', paused ? 'Your connection cannot carry this video now; it resumes by itself' : ''].filter(Boolean).join('. ');
    fig.classList.toggle('bw-paused', paused);
    if (!w.self) this.#reportView(fig);
    fig.dataset.mic = micOff ? 'off' : 'on';
    fig.dataset.camera = on ? 'on' : 'off';
    const mute = fig.querySelector('[data-action=mute-for-me]');
    if (mute) {
      const muted = this.mutedForMe.has(w.p.id);
      mute.replaceChildren(icon(muted ? 'volumeOff' : 'volume'));
      mute.setAttribute('aria-label', muted ? `Unmute ${w.p.name} for me` : `Mute ${w.p.name} for me`);
      mute.setAttribute('aria-pressed', String(muted));
      mute.title = mute.getAttribute('aria-label');
      const q = fig.querySelector('.tile-quality');
      q.hidden = !(info?.layers?.length > 1);
    }
  }

  /** @param {string} id */
  #remoteTrack(id) {
    return this.call.session?.remoteTracks.get(id)?.track ?? null;
  }

  /** @param {string} participant @param {HTMLSelectElement} select */
  async #setQuality(participant, select) {
    const cam = this.call.tracksOf(participant).camera;
    if (!cam) return;
    try {
      await this.call.session.layer(cam.id, select.value);
    } catch (err) {
      toast(err.code === 'invalid_layer' ? 'That quality is not available yet: the sender has not started it.' : `Could not change the quality: ${err.reason || err.message}`, 'error');
      select.value = 'auto';
      this.call.session.layer(cam.id, 'auto').catch(() => {});
    }
  }

  /** @param {import('/js/lectern.js').RemoteTrack} r */
  #attach(r) {
    if (r.track.kind === 'audio') {
      const el = /** @type {HTMLAudioElement} */ (h('audio', { autoplay: true }));
      el.srcObject = new MediaStream([r.track]);
      el.dataset.participant = r.info.participant;
      this.media.set(r.id, el);
      this.audio.append(el);
      this.#applyMutes();
      el.play().catch((err) => {
        if (err?.name === 'NotAllowedError' && !this.soundBlocked) {
          this.soundBlocked = true;
          this.onSoundBlocked();
        }
      });
    }
    this.render();
  }

  /** @param {string} id */
  #detach(id) {
    this.media.get(id)?.remove();
    this.media.delete(id);
    this.render();
  }

  #applyMutes() {
    for (const el of this.media.values()) el.muted = this.mutedForMe.has(el.dataset.participant ?? '');
  }
}
