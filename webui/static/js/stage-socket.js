// stage-socket.js: the stage websocket (docs/protocol.md "The stage"), shared
// by the watch page (a viewer's hand and invitation) and the studio (the
// moderators' queue). Requests return promises; stage events are emitted as
// 'event' with the server's frame as detail, and 'close' when the socket ends.

import { path } from '/js/api.js';
import { LecternError } from '/js/lectern.js';

/** How long a request waits for its answer, in ms. */
const REQUEST_TIMEOUT = 10000;
/** Redirects followed (a room on another node) before giving up. */
const MAX_REDIRECTS = 3;

/**
 * @typedef {object} StageState
 * @property {{identity: string, name: string, raised_at: string}[]} hands
 * @property {{identity: string, name: string, expires_at: string, tier: string}[]} invitations
 * @property {{identity: string, name: string, since: string}[]} guests
 */

/** One stage websocket. */
export class StageSocket extends EventTarget {
  /** @type {{identity: string, moderator: boolean, state: StageState}|null} */ welcome = null;
  #ws; #seq = 0; #pending = new Map(); #redirect = '';
  /** @type {Promise<StageSocket>} resolves on the welcome */ ready;

  /** @param {string} url */
  constructor(url) {
    super();
    this.#ws = new WebSocket(url);
    this.ready = new Promise((resolve, reject) => {
      this.#ws.onmessage = (ev) => this.#onMessage(JSON.parse(ev.data), resolve);
      this.#ws.onclose = (ev) => {
        const err = this.#redirect ? new LecternError('redirect', this.#redirect)
          : new LecternError('closed', ev.reason || `the stage socket closed (${ev.code})`);
        for (const p of this.#pending.values()) { clearTimeout(p.timer); p.reject(err); }
        this.#pending.clear();
        reject(err);
        this.#emit('close', { code: ev.code, reason: ev.reason });
      };
    });
    this.ready.catch(() => {});
  }

  /** @param {any} m @param {(s: StageSocket) => void} resolve */
  #onMessage(m, resolve) {
    switch (m.type) {
      case 'redirect': this.#redirect = m.url; break;
      case 'stage_welcome': this.welcome = m; resolve(this); break;
      case 'stage_event': this.#emit('event', m); break;
      case 'ok': case 'error': {
        const p = this.#pending.get(m.id);
        if (!p) break;
        this.#pending.delete(m.id);
        clearTimeout(p.timer);
        if (m.type === 'ok') p.resolve(m); else p.reject(new LecternError(m.code, m.message));
        break;
      }
      default:
    }
  }

  /**
   * Sends a frame and resolves with its ok answer (rejects with a LecternError).
   * @param {string} type @param {Record<string, unknown>} [fields]
   * @returns {Promise<any>}
   */
  request(type, fields = {}) {
    const id = `s${++this.#seq}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new LecternError('timeout', `no answer to ${type}`));
      }, REQUEST_TIMEOUT);
      this.#pending.set(id, { resolve, reject, timer });
      this.#ws.send(JSON.stringify({ type, id, ...fields }));
    });
  }

  /** Closes the socket: the server clears this identity's hand, invitation and turn. */
  close() { this.#ws.close(1000, 'left'); }

  /** Calls fn with each event's detail. @param {string} type @param {(d: any) => void} fn */
  on(type, fn) { this.addEventListener(type, (ev) => fn(/** @type {CustomEvent} */ (ev).detail)); }

  /** @param {string} type @param {any} detail */
  #emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }
}

/**
 * Opens the stage socket of room with token, following a cluster's redirect
 * to the node that holds the room. Resolves on the welcome.
 * @param {string} room @param {string} token
 * @returns {Promise<StageSocket>}
 */
export async function openStage(room, token) {
  const base = new URL(path`/api/v1/rooms/${room}/stage/ws`, location.href);
  base.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
  let url = base.href;
  for (let hop = 0; ; hop++) {
    const u = new URL(url);
    u.searchParams.set('token', token);
    try {
      return await new StageSocket(u.href).ready;
    } catch (err) {
      if (err.code !== 'redirect' || hop >= MAX_REDIRECTS) throw err;
      url = err.reason;
    }
  }
}
