// admin.js: the admin console (/admin). Sign in with the admin key (kept in
// sessionStorage only), then manage rooms: list, create, edit and delete here;
// a room's PINs and tokens in admin-room.js, members in admin-members.js,
// stream key in admin-streamkeys.js, recordings in admin-recordings.js, the
// key's app (and, for the operator, every app) in admin-apps.js.
// Views follow the URL fragment: #/ lists the rooms, #/rooms/{id} shows one.

import { client, path } from '/js/api.js';
import { renderApps } from '/js/admin-apps.js';
import { renderLive } from '/js/admin-live.js';
import { renderMembers } from '/js/admin-members.js';
import { renderRecordings } from '/js/admin-recordings.js';
import { renderSessions } from '/js/admin-sessions.js';
import { MODES, TIERS, renderPINs, setupTokenForm } from '/js/admin-room.js';
import { renderPINAlert } from '/js/pin-alert.js';
import { renderStreamKey } from '/js/admin-streamkeys.js';
import { renderWebhooks } from '/js/admin-webhooks.js';
import { byId, clearErrors, confirmDialog, formatDate, h, showFieldError, showFormError, toast } from '/js/dom.js';

const KEY_STORAGE = 'lectern.adminKey';

/**
 * @typedef {object} Room  a room as the API shows it to admins
 * @property {string} id  its ID in its app
 * @property {string} [app]
 * @property {string} name
 * @property {'conference'|'webinar'} mode
 * @property {string} tier
 * @property {string} pin
 * @property {string} speaker_pin
 * @property {{hls: boolean, record: boolean}} broadcast
 * @property {{questions: boolean, slow_mode_seconds: number}} chat
 * @property {boolean} locked  new PIN joins are refused
 * @property {import('/js/pin-alert.js').PINAlert} [pin_alert]  while the PINs are being guessed
 * @property {string} created_at
 * @property {string} updated_at
 *
 * @typedef {object} RoomContext  what the room view's parts share
 * @property {import('/js/api.js').Client} api
 * @property {Room} room
 * @property {(room: Room) => void} update  call with the room after a change
 */

/** @type {import('/js/api.js').Client|null} */
let api = null;
/** @type {Room|null} the room on screen */
let current = null;
const views = { signin: byId('signin-view'), rooms: byId('rooms-view'), room: byId('room-view') };
const roomDialog = /** @type {HTMLDialogElement} */ (byId('room-dialog'));
const roomForm = /** @type {HTMLFormElement} */ (byId('room-form'));

/**
 * Shows one view and moves focus to its heading.
 * @param {'signin'|'rooms'|'room'} name
 */
function show(name) {
  for (const [k, el] of Object.entries(views)) el.hidden = k !== name;
  byId('sign-out').hidden = name === 'signin';
  views[name].querySelector('h1')?.focus();
}

/**
 * A client that sends the admin key and signs out when the server stops
 * accepting it.
 * @param {string} key
 * @returns {import('/js/api.js').Client}
 */
function adminClient(key) {
  const base = client(key);
  /** @param {Promise<any>} p */
  const guard = (p) => p.catch((err) => {
    if (err.status === 401) signOut('The server no longer accepts your admin key. Sign in again.');
    throw err;
  });
  return {
    get: (p) => guard(base.get(p)),
    post: (p, body) => guard(base.post(p, body)),
    patch: (p, body) => guard(base.patch(p, body)),
    del: (p) => guard(base.del(p)),
    csv: (p) => guard(base.csv(p)),
  };
}

/** @param {SubmitEvent} ev */
async function signIn(ev) {
  ev.preventDefault();
  const form = /** @type {HTMLFormElement} */ (ev.currentTarget);
  clearErrors(form);
  const input = /** @type {HTMLInputElement} */ (byId('admin-key'));
  const key = input.value.trim();
  if (!key || /[^\x21-\x7e]/.test(key)) {
    showFieldError(form, 'key', key ? 'An admin key has no spaces or accented letters. Check what you pasted.' : 'Enter the admin key.');
    input.focus();
    return;
  }
  try {
    await client(key).get('/rooms');
  } catch (err) {
    /** @type {Record<number, string>} */
    const messages = {
      401: 'This key is not an admin key of this server. Check it and try again.',
      403: 'This is an access token for a room, not the admin key.',
    };
    if (messages[err.status]) {
      showFieldError(form, 'key', messages[err.status]);
      input.select();
    } else {
      showFormError(form, err);
    }
    return;
  }
  sessionStorage.setItem(KEY_STORAGE, key);
  input.value = '';
  api = adminClient(key);
  route();
}

/** @param {string} [message]  why, shown on the sign-in form */
function signOut(message = '') {
  sessionStorage.removeItem(KEY_STORAGE);
  api = null;
  current = null;
  if (roomDialog.open) roomDialog.close();
  history.replaceState(null, '', '/admin');
  const form = /** @type {HTMLFormElement} */ (byId('signin-form'));
  clearErrors(form);
  form.querySelector('.form-error').textContent = message;
  show('signin');
  byId('admin-key').focus();
}

/** Shows the view the URL fragment names. */
function route() {
  if (!api) {
    signOut();
    return;
  }
  const m = /^#\/rooms\/(.+)$/.exec(location.hash);
  if (m) openRoom(decodeURIComponent(m[1]));
  else listRooms();
}

async function listRooms() {
  current = null;
  document.title = 'Rooms · Lectern console';
  const list = byId('rooms-list');
  list.replaceChildren(h('p', { class: 'muted', text: 'Loading rooms…' }));
  show('rooms');
  // The webhook outbox is the server's: the operator's key only.
  const admin = api;
  renderApps(admin, byId('app-info'), byId('apps-card'), byId('apps')).then((operator) => {
    byId('webhooks-card').hidden = !operator;
    if (operator) renderWebhooks(admin, byId('webhooks'));
  });
  let rooms;
  try {
    ({ rooms } = await api.get('/rooms'));
  } catch (err) {
    list.replaceChildren(h('p', { class: 'notice notice-error', text: `The rooms could not be loaded: ${err.message}` }));
    return;
  }
  if (!rooms.length) {
    list.replaceChildren(h('div', { class: 'empty' },
      h('p', { text: 'No rooms yet.' }),
      h('button', { type: 'button', class: 'btn btn-primary', text: 'Create the first room', onclick: () => openRoomDialog(null) })));
    return;
  }
  list.replaceChildren(roomsTable(rooms));
}

/**
 * @param {Room[]} rooms
 * @returns {HTMLElement}
 */
function roomsTable(rooms) {
  const rows = rooms.map((r) => h('tr', {},
    h('td', { class: 'card-title' }, h('a', { href: `#/rooms/${encodeURIComponent(r.id)}`, text: r.name })),
    h('td', { 'data-label': 'ID' }, h('code', { text: r.id })),
    h('td', { 'data-label': 'Mode', text: MODES[r.mode] || r.mode }),
    h('td', { 'data-label': 'Tier', text: TIERS[r.tier] || r.tier }),
    h('td', { 'data-label': 'Broadcast' }, broadcastBadges(r)),
    h('td', { 'data-label': 'Created', class: 'nowrap', text: formatDate(r.created_at) })));
  return h('table', { class: 'cards rooms' },
    h('caption', { class: 'visually-hidden', text: 'Rooms on this server' }),
    h('thead', {}, h('tr', {}, ...['Name', 'ID', 'Mode', 'Tier', 'Broadcast', 'Created'].map((t) => h('th', { scope: 'col', text: t })))),
    h('tbody', {}, ...rows));
}

/**
 * @param {Room} r
 * @returns {HTMLElement}
 */
function broadcastBadges(r) {
  const on = [r.broadcast.hls && 'HLS', r.broadcast.record && 'Recording'].filter(Boolean);
  if (!on.length) return h('span', { class: 'muted', text: 'Off' });
  return h('span', { class: 'row' }, ...on.map((t) => h('span', { class: 'badge badge-ok', text: t })));
}

/** @param {string} id */
async function openRoom(id) {
  let room;
  try {
    room = await api.get(path`/rooms/${id}`);
  } catch (err) {
    if (err.status !== 401) toast(err.code === 'room_not_found' ? `There is no room “${id}” any more.` : err.message, 'error');
    if (err.status !== 401) location.hash = '#/';
    return;
  }
  /** @type {RoomContext} */
  const ctx = { api, room, update: (r) => { ctx.room = r; showRoom(ctx); } };
  showRoom(ctx);
  show('room');
  renderStreamKey(ctx, byId('stream-key'));
  renderRecordings(ctx, byId('recordings'));
  renderSessions(ctx, byId('sessions'));
  renderLive(ctx, byId('live'));
  renderMembers(ctx, byId('members'), byId('add-member'));
  setupTokenForm(ctx);
}

/**
 * Fills the parts of the room view that follow the room's fields.
 * @param {RoomContext} ctx
 */
function showRoom(ctx) {
  const r = ctx.room;
  current = r;
  document.title = `${r.name} · Lectern console`;
  byId('room-title').textContent = r.name;
  /** @param {string} term @param {...(Node|string)} value */
  const fact = (term, ...value) => h('div', {}, h('dt', { text: term }), h('dd', {}, ...value));
  byId('room-facts').replaceChildren(
    fact('ID', h('code', { text: r.id })),
    fact('Mode', MODES[r.mode] || r.mode),
    fact('Highest resolution', TIERS[r.tier] || r.tier),
    fact('Broadcast', broadcastBadges(r)),
    fact('Questions', r.chat?.questions ? 'Audience may ask' : 'Off'),
    fact('Created', formatDate(r.created_at)),
    fact('PIN joins', r.locked ? 'Locked' : 'Open'));
  renderPINAlert(byId('pin-alert-box'), ctx.api, r, ctx.update);
  renderPINs(ctx, byId('pins'));
}

/**
 * Opens the room form, empty to create a room or filled to edit one.
 * @param {Room|null} room
 */
function openRoomDialog(room) {
  roomForm.reset();
  clearErrors(roomForm);
  roomForm.dataset.room = room ? room.id : '';
  byId('room-dialog-title').textContent = room ? 'Edit room' : 'New room';
  byId('room-submit').textContent = room ? 'Save changes' : 'Create room';
  const idInput = /** @type {HTMLInputElement} */ (byId('room-id'));
  idInput.disabled = !!room;
  byId('room-id-hint').textContent = room
    ? 'The ID cannot be changed: links and PINs use it.'
    : 'Appears in links. Lowercase letters, digits and hyphens; leave empty for a random one.';
  if (room) {
    idInput.value = room.id;
    /** @type {HTMLInputElement} */ (byId('room-name')).value = room.name;
    /** @type {RadioNodeList} */ (roomForm.elements.namedItem('mode')).value = room.mode;
    /** @type {HTMLSelectElement} */ (byId('room-tier')).value = room.tier;
    /** @type {HTMLInputElement} */ (byId('room-hls')).checked = room.broadcast.hls;
    /** @type {HTMLInputElement} */ (byId('room-record')).checked = room.broadcast.record;
    /** @type {HTMLInputElement} */ (byId('room-questions')).checked = !!room.chat?.questions;
  }
  roomDialog.showModal();
  byId('room-name').focus();
}

/** @param {SubmitEvent} ev */
async function submitRoom(ev) {
  ev.preventDefault();
  clearErrors(roomForm);
  const editing = roomForm.dataset.room;
  const f = roomForm.elements;
  const name = /** @type {HTMLInputElement} */ (f.namedItem('name')).value.trim();
  const id = /** @type {HTMLInputElement} */ (f.namedItem('id')).value.trim();
  if (!name) {
    showFieldError(roomForm, 'name', 'Give the room a name.');
    byId('room-name').focus();
    return;
  }
  /** @type {Record<string, unknown>} */
  const body = {
    name, mode: /** @type {RadioNodeList} */ (f.namedItem('mode')).value, tier: /** @type {HTMLSelectElement} */ (f.namedItem('tier')).value,
    broadcast: { hls: /** @type {HTMLInputElement} */ (f.namedItem('hls')).checked, record: /** @type {HTMLInputElement} */ (f.namedItem('record')).checked },
    chat: { questions: /** @type {HTMLInputElement} */ (f.namedItem('questions')).checked },
  };
  if (!editing && id) body.id = id;
  const submit = /** @type {HTMLButtonElement} */ (byId('room-submit'));
  submit.disabled = true;
  try {
    const room = editing ? await api.patch(path`/rooms/${editing}`, body) : await api.post('/rooms', body);
    roomDialog.close();
    toast(editing ? `Saved “${room.name}”.` : `Created “${room.name}”.`);
    const target = `#/rooms/${encodeURIComponent(room.id)}`;
    if (location.hash === target) route();
    else location.hash = target;
  } catch (err) {
    // room_exists names no field: it is about the ID.
    showFormError(roomForm, err.code === 'room_exists' ? { field: 'id', detail: 'A room with this ID already exists. Choose another ID.', message: err.message } : err,
      { questions: 'questions', slow_mode_seconds: 'questions' });
  } finally {
    submit.disabled = false;
  }
}

async function deleteRoom() {
  const r = current;
  if (!r) return;
  const ok = await confirmDialog({
    title: `Delete “${r.name}”?`,
    body: 'The room, its members, PINs, stream key and chat messages are deleted. People in it are disconnected. This cannot be undone.',
    confirm: 'Delete room', danger: true,
  });
  if (!ok) return;
  try {
    await api.del(path`/rooms/${r.id}`);
    toast(`Deleted “${r.name}”.`);
    location.hash = '#/';
  } catch (err) {
    toast(`The room could not be deleted: ${err.message}`, 'error');
  }
}

function init() {
  byId('signin-form').addEventListener('submit', signIn);
  byId('sign-out').addEventListener('click', () => signOut('You signed out. The admin key was removed from this tab.'));
  byId('new-room').addEventListener('click', () => openRoomDialog(null));
  byId('edit-room').addEventListener('click', () => current && openRoomDialog(current));
  byId('delete-room').addEventListener('click', deleteRoom);
  roomForm.addEventListener('submit', submitRoom);
  for (const btn of document.querySelectorAll('dialog [data-close]')) {
    btn.addEventListener('click', () => /** @type {HTMLDialogElement} */ (btn.closest('dialog')).close());
  }
  window.addEventListener('hashchange', route);
  const key = sessionStorage.getItem(KEY_STORAGE);
  api = key ? adminClient(key) : null;
  route();
}

init();
