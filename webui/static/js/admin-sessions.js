// admin-sessions.js: the console's sessions card for one room: the room's
// sessions (a meeting or a broadcast, from the first arrival to the room
// standing empty), newest first, and for the one chosen its attendance
// report: every participant and viewer with their join and leave times,
// time present and questions, and a button that downloads it as CSV.

import { path } from '/js/api.js';
import { formatDate, h, toast } from '/js/dom.js';
import { clock } from '/js/admin-recordings.js';

/**
 * @typedef {object} RoomSession  GET /rooms/{room}/sessions (docs/api.md)
 * @property {string} id
 * @property {string} started_at
 * @property {string|null} ended_at
 * @property {boolean} live
 * @property {number} duration_seconds
 * @property {number} peak_audience
 * @property {boolean} broadcast
 */

/**
 * @typedef {object} Attendee
 * @property {string} identity
 * @property {string} name
 * @property {'participant'|'viewer'|'chat'} role
 * @property {string[]} kinds
 * @property {string|null} first_joined_at
 * @property {string|null} last_left_at
 * @property {boolean} present
 * @property {number} present_seconds
 * @property {number} questions_asked
 * @property {number} questions_answered
 */

/**
 * @typedef {RoomSession & {participants: number, viewers: number,
 *   questions_asked: number, questions_answered: number, attendees: Attendee[]}} Attendance
 */

/** What each role is called on screen. */
const ROLE = { participant: 'Participant', viewer: 'Viewer (HLS)', chat: 'Chat only' };

/**
 * Renders the room's sessions into el.
 * @param {import('/js/admin.js').RoomContext} ctx
 * @param {HTMLElement} el
 */
export async function renderSessions(ctx, el) {
  const room = ctx.room.id;
  if (el.dataset.room !== room) el.replaceChildren(h('p', { class: 'muted', text: 'Loading sessions…' }));
  el.dataset.room = room;
  /** @type {RoomSession[]} */
  let sessions;
  try {
    ({ sessions } = await ctx.api.get(path`/rooms/${room}/sessions`));
  } catch (err) {
    if (el.dataset.room !== room) return;
    el.replaceChildren(h('p', { class: 'notice notice-error', text: `The sessions could not be loaded: ${err.message}` }));
    return;
  }
  if (el.dataset.room !== room || !el.isConnected) return;
  const detail = h('div', { class: 'mt-1', id: 'attendance' });
  const reload = () => renderSessions(ctx, el);
  el.replaceChildren(
    sessions.length
      ? sessionsTable(ctx, sessions, detail)
      : h('p', { class: 'muted', text: 'No sessions yet. A session begins when the first participant joins or viewer watches, and its attendance report appears here.' }),
    h('div', { class: 'row mt-half' }, h('button', { type: 'button', class: 'btn btn-small', id: 'refresh-sessions', text: 'Refresh', onclick: reload })),
    detail);
}

/**
 * @param {import('/js/admin.js').RoomContext} ctx
 * @param {RoomSession[]} sessions
 * @param {HTMLElement} detail  where the chosen session's report goes
 * @returns {HTMLElement}
 */
function sessionsTable(ctx, sessions, detail) {
  const rows = sessions.map((s) => {
    const started = formatDate(s.started_at);
    return h('tr', { 'data-session': s.id },
      h('td', { class: 'card-title' }, started),
      h('td', { 'data-label': 'Length', class: 'nowrap', text: clock(s.duration_seconds * 1000) }),
      h('td', { 'data-label': 'Peak audience', text: String(s.peak_audience) }),
      h('td', { 'data-label': 'Kind' }, h('span', { class: `badge ${s.live ? 'badge-live' : ''}`, text: s.live ? 'Live' : s.broadcast ? 'Broadcast' : 'Meeting' })),
      h('td', { class: 'actions' }, h('button', {
        type: 'button', class: 'btn btn-small btn-primary', 'data-action': 'attendance', text: 'Attendance',
        'aria-label': `Attendance of the session of ${started}`, onclick: () => showAttendance(ctx, s.id, detail),
      })));
  });
  return h('table', { class: 'cards sessions' },
    h('caption', { class: 'visually-hidden', text: 'Sessions of this room, newest first' }),
    h('thead', {}, h('tr', {}, ...['Started', 'Length', 'Peak audience', 'Kind', ''].map((t) => h('th', { scope: 'col', text: t })))),
    h('tbody', {}, ...rows));
}

/**
 * Shows one session's attendance report in detail.
 * @param {import('/js/admin.js').RoomContext} ctx
 * @param {string} id
 * @param {HTMLElement} detail
 */
async function showAttendance(ctx, id, detail) {
  const room = ctx.room.id;
  const p = path`/rooms/${room}/sessions/${id}/attendance`;
  /** @type {Attendance} */
  let a;
  try {
    a = await ctx.api.get(p);
  } catch (err) {
    detail.replaceChildren(h('p', { class: 'notice notice-error', text: `The attendance could not be loaded: ${err.message}` }));
    return;
  }
  const rows = a.attendees.map((at) => h('tr', { 'data-identity': at.identity, 'data-role': at.role },
    h('td', { class: 'card-title' }, at.name || at.identity),
    h('td', { 'data-label': 'Identity' }, h('span', { class: 'mono', text: at.identity })),
    h('td', { 'data-label': 'Role', text: ROLE[at.role] || at.role }),
    h('td', { 'data-label': 'Joined', class: 'nowrap', text: at.first_joined_at ? formatDate(at.first_joined_at) : '—' }),
    h('td', { 'data-label': 'Left', class: 'nowrap', text: at.present ? 'Still here' : at.last_left_at ? formatDate(at.last_left_at) : '—' }),
    h('td', { 'data-label': 'Time present', class: 'nowrap', text: clock(at.present_seconds * 1000) }),
    h('td', { 'data-label': 'Questions', text: at.questions_asked ? `${at.questions_asked} (${at.questions_answered} answered)` : '—' })));
  detail.replaceChildren(
    h('h3', { id: 'attendance-title', text: `Attendance: ${formatDate(a.started_at)}` }),
    h('p', {
      class: 'muted',
      text: `${a.participants} participants, ${a.viewers} viewers, peak audience ${a.peak_audience}, ` +
        `${a.questions_asked} questions (${a.questions_answered} answered)` + (a.live ? '. The session is still running.' : '.'),
    }),
    h('div', { class: 'row' }, h('button', {
      type: 'button', class: 'btn btn-small', id: 'download-attendance', text: 'Download CSV',
      onclick: () => download(ctx, p, `attendance-${room}-${id}.csv`),
    })),
    h('table', { class: 'cards attendance', 'aria-labelledby': 'attendance-title' },
      h('thead', {}, h('tr', {}, ...['Name', 'Identity', 'Role', 'Joined', 'Left', 'Time present', 'Questions'].map((t) => h('th', { scope: 'col', text: t })))),
      h('tbody', {}, ...rows)));
}

/**
 * Fetches the report as CSV (with the admin key, which a plain link could
 * not send) and saves it.
 * @param {import('/js/admin.js').RoomContext} ctx
 * @param {string} p
 * @param {string} filename
 */
async function download(ctx, p, filename) {
  try {
    const blob = await ctx.api.csv(p);
    const url = URL.createObjectURL(blob);
    const link = h('a', { href: url, download: filename, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  } catch (err) {
    toast(`The CSV could not be downloaded: ${err.message}`, 'error');
  }
}
