// admin-recordings.js: the console's recordings card for one room: the
// room's recordings with their status, duration and size, playback in a
// dialog (HLS, with hls.js or the browser's own player) and deletion after
// confirmation. While a recording is being made or uploaded the list
// refreshes itself.

import { path } from '/js/api.js';
import { confirmDialog, formatDate, h, toast } from '/js/dom.js';
import { HLSPlayer } from '/js/hlsplayer.js';

/** How often the list refreshes while a recording is in progress, in ms. */
const REFRESH = 5000;

/**
 * @typedef {object} Recording  GET /rooms/{room}/recordings (docs/api.md)
 * @property {string} id
 * @property {string} room
 * @property {'recording'|'uploading'|'complete'|'failed'} status
 * @property {string} started_at
 * @property {string} [ended_at]
 * @property {number} duration_ms
 * @property {number} size_bytes
 * @property {string} [playback_url]  set once complete
 */

/** What each status means, for its badge. */
const STATUS = {
  recording: ['Recording', 'badge-live'],
  uploading: ['Uploading', 'badge-accent'],
  complete: ['Ready', 'badge-ok'],
  failed: ['Failed', 'badge-error'],
};

let refreshTimer = 0;

/**
 * Renders the recordings of the room on screen into el, and keeps them
 * fresh while one is in progress.
 * @param {import('/js/admin.js').RoomContext} ctx
 * @param {HTMLElement} el
 */
export async function renderRecordings(ctx, el) {
  clearTimeout(refreshTimer);
  const room = ctx.room.id;
  if (el.dataset.room !== room) el.replaceChildren(h('p', { class: 'muted', text: 'Loading recordings…' }));
  el.dataset.room = room;
  /** @type {Recording[]} */
  let recordings;
  try {
    ({ recordings } = await ctx.api.get(path`/rooms/${room}/recordings`));
  } catch (err) {
    if (el.dataset.room !== room) return;
    el.replaceChildren(err.code === 'not_found'
      ? h('p', { class: 'muted', text: 'This server does not keep recordings yet.' })
      : h('p', { class: 'notice notice-error', text: `The recordings could not be loaded: ${err.message}` }));
    return;
  }
  if (el.dataset.room !== room || !el.isConnected) return; // another room is on screen now
  const reload = () => renderRecordings(ctx, el);
  el.replaceChildren(...(recordings.length ? [recordingsTable(ctx, recordings, reload)] : [emptyNote(ctx.room)]),
    h('div', { class: 'row mt-half' }, h('button', { type: 'button', class: 'btn btn-small', id: 'refresh-recordings', text: 'Refresh', onclick: reload })));
  if (recordings.some((r) => r.status === 'recording' || r.status === 'uploading')) {
    refreshTimer = setTimeout(() => { if (!el.closest('[hidden]') && el.dataset.room === room) reload(); }, REFRESH);
  }
}

/** @param {import('/js/admin.js').Room} r */
function emptyNote(r) {
  return h('p', {
    class: 'muted',
    text: r.broadcast.record
      ? 'No recordings yet. Every broadcast of this room is recorded: they appear here once it goes on air.'
      : 'No recordings yet. Turn on “Record the broadcast” (Edit) to record this room’s broadcasts.',
  });
}

/**
 * @param {import('/js/admin.js').RoomContext} ctx
 * @param {Recording[]} recordings
 * @param {() => void} reload
 * @returns {HTMLElement}
 */
function recordingsTable(ctx, recordings, reload) {
  const newest = [...recordings].sort((a, b) => Date.parse(b.started_at) - Date.parse(a.started_at));
  const rows = newest.map((r) => {
    const [label, cls] = STATUS[r.status] || [r.status, ''];
    const started = formatDate(r.started_at);
    return h('tr', { 'data-recording': r.id },
      h('td', { class: 'card-title' }, started),
      h('td', { 'data-label': 'Length', class: 'nowrap', text: r.status === 'recording' ? 'Still recording' : clock(r.duration_ms) }),
      h('td', { 'data-label': 'Size', class: 'nowrap', text: size(r.size_bytes) }),
      h('td', { 'data-label': 'Status' }, h('span', { class: `badge ${cls}`, text: label })),
      h('td', { class: 'actions' }, h('div', { class: 'row' },
        r.status === 'complete' && r.playback_url ? h('button', {
          type: 'button', class: 'btn btn-small btn-primary', 'data-action': 'play', text: 'Play',
          'aria-label': `Play the recording of ${started}`, onclick: () => play(r, started),
        }) : null,
        h('button', {
          type: 'button', class: 'btn btn-small btn-danger', 'data-action': 'delete', text: 'Delete',
          'aria-label': `Delete the recording of ${started}`, disabled: r.status === 'recording',
          title: r.status === 'recording' ? 'Stop the recording first' : null,
          onclick: () => remove(ctx, r, started, reload),
        }))));
  });
  return h('table', { class: 'cards recordings' },
    h('caption', { class: 'visually-hidden', text: 'Recordings of this room, newest first' }),
    h('thead', {}, h('tr', {}, ...['Started', 'Length', 'Size', 'Status', ''].map((t) => h('th', { scope: 'col', text: t })))),
    h('tbody', {}, ...rows));
}

/**
 * Plays a recording in a dialog.
 * @param {Recording} r
 * @param {string} started
 */
async function play(r, started) {
  const video = /** @type {HTMLVideoElement} */ (h('video', { controls: true, playsinline: true, 'aria-label': `Recording of ${started}` }));
  const problem = h('p', { class: 'notice notice-error', role: 'alert' });
  const dialog = /** @type {HTMLDialogElement} */ (h('dialog', { class: 'wide recording-dialog', 'aria-labelledby': 'recording-title' },
    h('div', { class: 'dialog-body' },
      h('h2', { id: 'recording-title', text: `Recording of ${started}` }),
      h('div', { class: 'recording-player' }, video),
      problem,
      h('div', { class: 'form-actions' }, h('button', { type: 'button', class: 'btn', text: 'Close', onclick: () => dialog.close() })))));
  const player = new HLSPlayer(video, { lowLatency: false });
  player.onFatal = (why) => {
    if (why !== 'ended') problem.textContent = `The recording cannot be played: ${why}.`;
  };
  dialog.addEventListener('close', () => {
    player.destroy();
    dialog.remove();
  });
  document.body.append(dialog);
  dialog.showModal();
  try {
    await player.load(new URL(r.playback_url, location.origin).href);
    await video.play().catch(() => {}); // without a gesture, the controls start it
  } catch (err) {
    problem.textContent = err.message;
  }
}

/**
 * Deletes a recording after confirmation.
 * @param {import('/js/admin.js').RoomContext} ctx
 * @param {Recording} r
 * @param {string} started
 * @param {() => void} reload
 */
async function remove(ctx, r, started, reload) {
  const ok = await confirmDialog({
    title: 'Delete this recording?',
    body: `The recording of ${started} (${clock(r.duration_ms)}) is deleted from storage. Links to it stop working. This cannot be undone.`,
    confirm: 'Delete recording', danger: true,
  });
  if (!ok) return;
  try {
    await ctx.api.del(path`/rooms/${ctx.room.id}/recordings/${r.id}`);
    toast('The recording was deleted.');
  } catch (err) {
    toast(`The recording could not be deleted: ${err.message}`, 'error');
  }
  reload();
}

/**
 * A length as h:mm:ss or m:ss.
 * @param {number} ms
 * @returns {string}
 */
export function clock(ms) {
  const s = Math.round((ms || 0) / 1000);
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

/**
 * A size in bytes for people.
 * @param {number} bytes
 * @returns {string}
 */
export function size(bytes) {
  if (!bytes) return '—';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}
