// admin-live.js: the console's "Live now" card for one room: who is in the
// room at this moment and what they publish (GET /rooms/{room}/participants),
// with Mute/Unmute for each track and Remove for each person. It refreshes
// itself while the room view is on screen.

import { path } from '/js/api.js';
import { confirmDialog, formatDate, h, toast } from '/js/dom.js';

/** How often the list refreshes while the room is on screen, in ms. */
const REFRESH = 5000;

/**
 * @typedef {object} LiveTrack  a track in GET /rooms/{room}/participants
 * @property {string} id
 * @property {string} kind
 * @property {string} source
 * @property {string} codec
 * @property {boolean} muted
 * @property {string[]} [layers]
 *
 * @typedef {object} LiveParticipant
 * @property {string} id
 * @property {string} identity
 * @property {string} name
 * @property {string} kind
 * @property {string} joined_at
 * @property {LiveTrack[]} tracks
 * @property {LiveDownlink} [downlink]
 *
 * @typedef {object} LiveDownlink  how the participant's receiving connection fares
 * @property {number} estimate_bps
 * @property {string} feedback
 * @property {number} videos
 * @property {number} paused_videos
 */

/** Track sources for people. */
/** @type {Record<string, string>} */
const SOURCES = { camera: 'Camera', microphone: 'Microphone', screen: 'Screen', screen_audio: 'Screen audio' };

let refreshTimer = 0;

/**
 * Renders the room's live participants into el and keeps them fresh.
 * @param {import('/js/admin.js').RoomContext} ctx
 * @param {HTMLElement} el
 */
export async function renderLive(ctx, el) {
  clearTimeout(refreshTimer);
  const room = ctx.room.id;
  if (el.dataset.room !== room) {
    el.replaceChildren(h('p', { class: 'muted', text: 'Loading who is here…' }));
    delete el.dataset.sig;
  }
  el.dataset.room = room;
  /** @type {LiveParticipant[]} */
  let participants;
  try {
    ({ participants } = await ctx.api.get(path`/rooms/${room}/participants`));
  } catch (err) {
    if (el.dataset.room === room) {
      el.replaceChildren(h('p', { class: 'notice notice-error', text: `Who is here could not be loaded: ${err.message}` }));
      delete el.dataset.sig;
    }
    return;
  }
  if (el.dataset.room !== room || !el.isConnected) return; // another room is on screen now
  const reload = () => renderLive(ctx, el);
  // Redrawn only when something changed, so that a refresh neither moves
  // the keyboard focus nor makes a screen reader read the card again.
  const sig = JSON.stringify(participants);
  if (el.dataset.sig !== sig) {
    el.dataset.sig = sig;
    el.replaceChildren(participants.length
      ? liveTable(ctx, participants, reload)
      : h('p', { class: 'muted', text: 'No one is in the room right now. HLS viewers are not listed here.' }));
  }
  refreshTimer = setTimeout(() => { if (!el.closest('[hidden]') && el.dataset.room === room) reload(); }, REFRESH);
}

/**
 * @param {import('/js/admin.js').RoomContext} ctx
 * @param {LiveParticipant[]} participants
 * @param {() => void} reload
 * @returns {HTMLElement}
 */
function liveTable(ctx, participants, reload) {
  const rows = [...participants].sort((a, b) => Date.parse(a.joined_at) - Date.parse(b.joined_at)).map((p) => {
    const who = p.name || p.identity;
    return h('tr', { 'data-identity': p.identity },
      h('td', { class: 'card-title' }, h('bdi', { text: who }), p.name && p.name !== p.identity ? h('span', { class: 'muted', text: ` (${p.identity})` }) : null),
      h('td', { 'data-label': 'Joined', class: 'nowrap', text: formatDate(p.joined_at) }),
      h('td', { 'data-label': 'Receiving' }, downlinkCell(p.downlink)),
      h('td', { 'data-label': 'Publishing' }, p.tracks.length
        ? h('div', { class: 'row' }, ...p.tracks.map((t) => trackButton(ctx, p, t, reload)))
        : h('span', { class: 'muted', text: 'Nothing' })),
      h('td', { class: 'actions' }, h('button', {
        type: 'button', class: 'btn btn-small btn-danger', 'data-action': 'remove', text: 'Remove',
        'aria-label': `Remove ${who} from the room`, onclick: () => removePerson(ctx, p, who, reload),
      })));
  });
  return h('table', { class: 'cards live' },
    h('caption', { class: 'visually-hidden', text: 'People in this room now, in the order they joined' }),
    h('thead', {}, h('tr', {}, ...['Name', 'Joined', 'Receiving', 'Publishing', ''].map((t) => h('th', { scope: 'col', text: t })))),
    h('tbody', {}, ...rows));
}

/**
 * What a participant's receiving connection carries: the server's bandwidth
 * estimate, and a warning when videos are paused because it cannot carry them.
 * @param {LiveDownlink} [d]
 * @returns {HTMLElement}
 */
function downlinkCell(d) {
  if (!d) return h('span', { class: 'muted', text: 'Nothing' });
  const rate = d.estimate_bps > 0 ? `${(d.estimate_bps / 1e6).toFixed(1)} Mbit/s` : 'measuring…';
  const videos = `${d.videos} video${d.videos === 1 ? '' : 's'}`;
  return h('span', { class: d.paused_videos ? 'warn' : '', 'data-downlink': String(d.estimate_bps),
    title: `Bandwidth the server estimates for this connection (${d.feedback} feedback)`,
    text: d.paused_videos ? `${rate}, ${d.paused_videos} of ${videos} paused for bandwidth` : `${rate}, ${videos}` });
}

/**
 * A track's toggle: Mute or Unmute it for everyone.
 * @param {import('/js/admin.js').RoomContext} ctx
 * @param {LiveParticipant} p
 * @param {LiveTrack} t
 * @param {() => void} reload
 * @returns {HTMLElement}
 */
function trackButton(ctx, p, t, reload) {
  const source = SOURCES[t.source] || t.source;
  return h('button', {
    type: 'button', class: `btn btn-small${t.muted ? ' btn-primary' : ''}`, 'data-track': t.id, 'aria-pressed': String(t.muted),
    text: `${t.muted ? 'Unmute' : 'Mute'} ${source.toLowerCase()}`,
    onclick: async () => {
      try {
        await ctx.api.patch(path`/rooms/${ctx.room.id}/participants/${p.identity}/tracks/${t.id}`, { muted: !t.muted });
      } catch (err) {
        toast(`The ${source.toLowerCase()} could not be changed: ${err.message}`, 'error');
      }
      reload();
    },
  });
}

/**
 * Removes a person after confirmation; the reason is shown to them.
 * @param {import('/js/admin.js').RoomContext} ctx
 * @param {LiveParticipant} p
 * @param {string} who
 * @param {() => void} reload
 */
async function removePerson(ctx, p, who, reload) {
  const ok = await confirmDialog({
    title: `Remove ${who}?`,
    body: `${who} leaves the room now and is told “removed by the host”. They can join again while their invitation or token is valid: to keep them out, ban them (the API's bans) or rotate the PINs.`,
    confirm: 'Remove', danger: true,
  });
  if (!ok) return;
  try {
    await ctx.api.del(path`/rooms/${ctx.room.id}/participants/${p.identity}`);
    toast(`${who} was removed.`);
  } catch (err) {
    toast(`${who} could not be removed: ${err.message}`, 'error');
  }
  reload();
}
