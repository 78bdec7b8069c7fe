// pin-alert.js: the PIN-guessing alert and the room lock, for moderators, in
// the console and the studio (docs/security.md "PIN guessing"). While a room's
// PINs are being guessed (the room's pin_alert, the websocket's pin_attack),
// "Rotate PINs" and "Lock the room" are one click away; a locked room says so
// with "Unlock".

import { path } from '/js/api.js';
import { h, toast } from '/js/dom.js';

/**
 * @typedef {object} PINAlert  a room's pin_alert (docs/api.md)
 * @property {string} since
 * @property {number} failures
 * @property {number} refused
 */

/**
 * Draws the alert and the lock notice for room into box (hidden when there is
 * neither). update gets the room the server answers after a change.
 * @param {HTMLElement} box
 * @param {{post: (p: string, b?: any) => Promise<any>, patch: (p: string, b?: any) => Promise<any>}} api
 * @param {{id: string, locked?: boolean, pin_alert?: PINAlert|null}} room
 * @param {(room: any) => void} update
 */
export function renderPINAlert(box, api, room, update) {
  const rotate = async () => {
    try {
      update(await api.post(path`/rooms/${room.id}/pins`, { which: 'both' }));
      toast('Both PINs were replaced. Send the new ones to those you invite.');
    } catch (err) {
      toast(`The PINs could not be replaced: ${err.message}`, 'error');
    }
  };
  /** @param {boolean} locked */
  const lock = async (locked) => {
    try {
      update(await api.patch(path`/rooms/${room.id}`, { locked }));
      toast(locked ? 'The room is locked: new PIN joins are refused.' : 'The room is open to PIN joins again.');
    } catch (err) {
      toast(`The room could not be ${locked ? 'locked' : 'unlocked'}: ${err.message}`, 'error');
    }
  };
  const parts = [];
  const a = room.pin_alert;
  if (a) {
    const since = new Date(a.since).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    parts.push(h('div', { class: 'notice notice-error pin-alert', id: 'pin-alert', role: 'alert' },
      h('strong', { text: 'Someone is guessing this room’s PINs' }),
      h('p', { id: 'pin-alert-text', text: `${a.failures} wrong PINs since ${since}${a.refused ? `, ${a.refused} more ${a.refused === 1 ? 'try' : 'tries'} held back` : ''}. PIN joins are slowed down; people already in and links with a token are not affected.` }),
      h('div', { class: 'row' },
        h('button', { type: 'button', class: 'btn btn-small btn-primary', id: 'pin-alert-rotate', text: 'Rotate PINs', onclick: rotate }),
        room.locked ? null : h('button', { type: 'button', class: 'btn btn-small btn-danger', id: 'pin-alert-lock', text: 'Lock the room', onclick: () => lock(true) }))));
  }
  if (room.locked) {
    parts.push(h('div', { class: 'notice notice-warn notice-row', id: 'room-locked' },
      h('p', { text: 'Locked: new PIN joins are refused. People already in and links with a token still work.' }),
      h('button', { type: 'button', class: 'btn btn-small', id: 'room-unlock', text: 'Unlock', onclick: () => lock(false) })));
  }
  box.replaceChildren(...parts);
  box.hidden = parts.length === 0;
}

/**
 * The studio's alert: the welcome's room, then pin_attack events.
 * @param {import('/js/call.js').Call} call
 * @param {HTMLElement} box
 * @param {{post: (p: string, b?: any) => Promise<any>, patch: (p: string, b?: any) => Promise<any>}} api
 */
export function bindPINAlert(call, box, api) {
  if (!call.permissions.moderate || !call.session) return;
  /** @type {{id: string, locked?: boolean, pin_alert?: PINAlert|null}} */
  let room = { ...call.session.welcome.room };
  const draw = () => renderPINAlert(box, api, room, (r) => { room = { ...room, locked: r.locked, pin_alert: r.pin_alert ?? room.pin_alert }; draw(); });
  call.session.on('pin_attack', (/** @type {any} */ m) => {
    room = { ...room, pin_alert: { since: m.since, failures: m.failures, refused: m.refused } };
    draw();
  });
  draw();
}
