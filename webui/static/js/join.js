// join.js: the join page (/). A guest enters a room ID, a PIN and a name and
// gets an access token for the room (POST /api/v1/rooms/{room}/join). What
// the PIN grants decides where they go: webinar speakers to /studio/{room},
// webinar viewers to /watch/{room}, conference members and hosts to
// /room/{room}. Those who will publish first check their camera and
// microphone here.
//
// The server also serves this page at /room, /studio and /watch until those
// pages exist: a shared link then opens the join form for its room, and after
// joining the page says honestly that the room page is still to come.

import { path, request } from '/js/api.js';
import { byId, clearErrors, h, showFieldError, showFormError } from '/js/dom.js';
import { DevicePicker } from '/js/devices.js';
import { clearJoin, destination, loadName, saveJoin, saveName } from '/js/session.js';

/** The room pages, by their path's first segment. */
/**
 * Reads the page and room from a location: /studio/weekly, or /?room=weekly.
 * @param {{pathname: string, search: string}} loc
 * @returns {{page: string, room: string}}
 */
export function routeOf(loc) {
  const m = /^\/(room|studio|watch)\/([^/]+)\/?$/.exec(loc.pathname);
  if (m) {
    try {
      return { page: m[1], room: decodeURIComponent(m[2]) };
    } catch {
      return { page: m[1], room: '' };
    }
  }
  return { page: '', room: new URLSearchParams(loc.search).get('room') || '' };
}

/**
 * Turns what people type or paste in the room field into a room ID: the ID
 * itself, or an invitation link that names it.
 * @param {string} input
 * @returns {string}
 */
export function roomIDFrom(input) {
  const s = input.trim();
  if (/^https?:\/\//i.test(s) || s.startsWith('/')) {
    try {
      return routeOf(new URL(s, location.origin)).room.toLowerCase();
    } catch {
      return s.toLowerCase();
    }
  }
  return s.toLowerCase();
}

/**
 * What the holder of a join is, in words.
 * @param {import('/js/session.js').Join} join
 * @returns {string}
 */
function roleOf(join) {
  const p = join.permissions;
  if (p.moderate) return 'a host';
  if (p.publish) return join.room.mode === 'webinar' ? 'a speaker' : 'a participant';
  return 'a viewer';
}

const form = /** @type {HTMLFormElement} */ (byId('join-form'));
const submit = /** @type {HTMLButtonElement} */ (byId('join-submit'));
// By id, not form.name: that is the form's own name attribute.
const roomInput = /** @type {HTMLInputElement} */ (byId('room'));
const pinInput = /** @type {HTMLInputElement} */ (byId('pin'));
const nameInput = /** @type {HTMLInputElement} */ (byId('name'));
const main = byId('main');
const steps = { join: byId('join-step'), devices: byId('device-step') };
/** @type {DevicePicker|null} */
let picker = null;
/** @type {import('/js/session.js').Join|null} */
let current = null;
let waitTimer = 0;

/**
 * Shows one step of the page and moves focus to its heading.
 * @param {'join'|'devices'} name
 * @param {boolean} [focus]
 */
function show(name, focus = true) {
  for (const [k, el] of Object.entries(steps)) el.hidden = k !== name;
  main.classList.toggle('page-narrow', name !== 'devices');
  main.classList.toggle('page-wide', name === 'devices');
  if (focus) steps[name].querySelector('h1')?.focus();
}

/** Validates the form in the page; returns the request or null. */
function readForm() {
  const room = roomIDFrom(roomInput.value);
  const pin = pinInput.value.replace(/[\s-]/g, '');
  const name = nameInput.value.trim();
  roomInput.value = room;
  const problems = [
    !room && ['room', 'Enter the room ID from your invitation.'],
    !pin && ['pin', 'Enter the PIN from your invitation.'],
    !name && ['name', 'Enter the name the others will see.'],
  ].filter(Boolean);
  for (const [field, message] of problems) showFieldError(form, field, message);
  if (problems.length) {
    byId(problems[0][0]).focus();
    return null;
  }
  return { room, pin, name };
}

/** @param {SubmitEvent} ev */
async function onSubmit(ev) {
  ev.preventDefault();
  if (waitTimer) return;
  clearErrors(form);
  const req = readForm();
  if (!req) return;
  submit.disabled = true;
  submit.textContent = 'Joining…';
  try {
    // A PIN names no app: the invitation link does (/?room=standup&app=acme;
    // docs/api.md "Apps"). Without one, the default app.
    const app = new URLSearchParams(location.search).get('app');
    const query = app ? `?app=${encodeURIComponent(app)}` : '';
    const join = await request('POST', path`/rooms/${req.room}/join` + query, { body: { pin: req.pin, name: req.name } });
    saveJoin(join);
    saveName(req.name);
    if (join.permissions.publish) {
      showDevices(join);
    } else {
      location.assign(destination(join));
    }
  } catch (err) {
    showJoinError(err, req.room);
  } finally {
    submit.textContent = 'Join';
    submit.disabled = waitTimer !== 0;
  }
}

/**
 * Explains a refused join next to the field at fault.
 * @param {any} err  an APIError
 * @param {string} room
 */
function showJoinError(err, room) {
  switch (err.code) {
    case 'wrong_pin':
      showFieldError(form, 'pin', 'This PIN does not open this room. Check it and try again.');
      pinInput.select();
      break;
    case 'room_not_found':
      showFieldError(form, 'room', `There is no room “${room}” on this server. Check the room ID in your invitation.`);
      roomInput.focus();
      break;
    case 'too_many_attempts':
      waitBeforeRetry(err.retryAfter || 60, (n) => `Too many wrong PINs. For security, wait ${n} before trying again.`);
      break;
    case 'too_many_joins':
      waitBeforeRetry(err.retryAfter || 60, (n) => `Too many joins from your network. Wait ${n} before trying again.`);
      break;
    case 'pin_checks_slowed':
      // Someone floods this room with wrong PINs: checks are metered, and
      // the page tries again by itself when told.
      waitBeforeRetry(err.retryAfter || 2, (n) => `This room is busy. Trying again in ${n}…`, () => form.requestSubmit());
      break;
    default:
      showFormError(form, err);
  }
}

/**
 * Blocks the form for seconds, counting down, then calls done.
 * @param {number} seconds
 * @param {(left: string) => string} say  the sentence for the time left ("3 seconds")
 * @param {() => void} [done]
 */
function waitBeforeRetry(seconds, say, done) {
  const box = byId('join-error');
  const until = Date.now() + seconds * 1000;
  const tick = () => {
    const left = Math.ceil((until - Date.now()) / 1000);
    if (left <= 0) {
      clearInterval(waitTimer);
      waitTimer = 0;
      box.textContent = '';
      submit.disabled = false;
      done?.();
      return;
    }
    box.textContent = say(`${left} second${left === 1 ? '' : 's'}`);
  };
  clearInterval(waitTimer);
  waitTimer = setInterval(tick, 1000);
  submit.disabled = true;
  tick();
}

/**
 * The camera and microphone check before entering as a publisher.
 * @param {import('/js/session.js').Join} join
 */
function showDevices(join) {
  current = join;
  byId('device-lead').replaceChildren(
    'You are joining ', h('strong', {}, h('bdi', { text: join.room.name })), ` as ${roleOf(join)}. Choose what the others will see and hear.`);
  byId('enter').textContent = join.room.mode === 'webinar' ? 'Enter the studio' : 'Join the meeting';
  document.title = `Check your camera · ${join.room.name} · Lectern`;
  show('devices');
  if (!picker) {
    picker = new DevicePicker({
      video: /** @type {HTMLVideoElement} */ (byId('preview')),
      previewMsg: byId('preview-msg'),
      camera: /** @type {HTMLSelectElement} */ (byId('camera')),
      microphone: /** @type {HTMLSelectElement} */ (byId('microphone')),
      cameraOn: /** @type {HTMLInputElement} */ (byId('camera-on')),
      microphoneOn: /** @type {HTMLInputElement} */ (byId('microphone-on')),
      meter: byId('meter'),
      problem: byId('device-problem'),
    });
    picker.onProblem = (message) => { byId('device-problem-box').hidden = !message; };
    picker.start();
  } else {
    picker.restart();
  }
}

function init() {
  const route = routeOf(location);
  roomInput.value = route.room;
  nameInput.value = loadName();
  form.addEventListener('submit', onSubmit);
  byId('device-retry').addEventListener('click', () => picker?.restart());
  byId('device-back').addEventListener('click', () => {
    picker?.release();
    if (current) clearJoin(current.room.id);
    current = null;
    document.title = 'Join a room · Lectern';
    show('join');
  });
  byId('enter').addEventListener('click', () => {
    picker?.stop();
    if (current) location.assign(destination(current));
  });
  show('join', false);
  const first = [roomInput, pinInput, nameInput].find((el) => !el.value) || submit;
  first.focus();
}

init();
