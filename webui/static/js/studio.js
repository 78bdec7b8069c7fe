// studio.js: the host studio (/studio/{room}). A speaker publishes camera,
// microphone and screen at once, picks devices and resolution, sees the
// co-presenters and everyone in the room; a moderator also runs the
// broadcast and moderates people; the chat carries the Q&A queue. Without a
// join for this room the browser goes to the join page.

import { client } from '/js/api.js';
import { Call } from '/js/call.js';
import { joinOrRedirect, roomFromPath } from '/js/call-join.js';
import { bindControls, bindFatal, bindProblems, bindSound, mountChatPanel } from '/js/callui.js';
import { byId, h } from '/js/dom.js';
import { bindPINAlert } from '/js/pin-alert.js';
import { formatRate, StatsSampler } from '/js/stats.js';
import { bindBroadcast } from '/js/studio-broadcast.js';
import { bindStageStudio } from '/js/stage-studio.js';
import { bindPeople } from '/js/studio-people.js';
import { Stage } from '/js/tiles.js';

/** @type {Record<string, string>} */
const SOURCE_NAMES = { camera: 'Camera', microphone: 'Microphone', screen: 'Screen' };
const STATS_MS = 2000;

/**
 * The device and resolution pickers.
 * @param {Call} call
 */
function bindDevices(call) {
  const cam = /** @type {HTMLSelectElement} */ (byId('camera-select'));
  const mic = /** @type {HTMLSelectElement} */ (byId('microphone-select'));
  const res = /** @type {HTMLSelectElement} */ (byId('resolution'));
  res.replaceChildren(...call.resolutions.map((r) => h('option', { value: r.tier, text: `${r.label} (${r.width}×${r.height})` })));
  res.value = call.resolution.tier;
  const top = call.resolutions[call.resolutions.length - 1];
  byId('resolution-hint').textContent = `Up to ${top.label}, the most this room takes from you.`;
  const list = async () => {
    /** @type {MediaDeviceInfo[]} */
    let devices = [];
    try { devices = await navigator.mediaDevices.enumerateDevices(); } catch { /* none listed */ }
    fill(cam, devices.filter((d) => d.kind === 'videoinput'), 'Camera', call.local.camera?.getSettings().deviceId ?? call.devices.camera);
    fill(mic, devices.filter((d) => d.kind === 'audioinput'), 'Microphone', call.local.microphone?.getSettings().deviceId ?? call.devices.microphone);
  };
  cam.addEventListener('change', () => call.switchDevice('camera', cam.value));
  mic.addEventListener('change', () => call.switchDevice('microphone', mic.value));
  res.addEventListener('change', () => call.setResolution(res.value));
  // An audio-only room takes no camera: no camera or resolution to pick.
  cam.parentElement.hidden = res.parentElement.hidden = !call.may('camera');
  navigator.mediaDevices?.addEventListener('devicechange', list);
  call.on('local', list);
  list();
}

/**
 * @param {HTMLSelectElement} select @param {MediaDeviceInfo[]} devices
 * @param {string} noun @param {string} current
 */
function fill(select, devices, noun, current) {
  select.replaceChildren(...devices.map((d, i) => h('option', { value: d.deviceId, text: d.label || `${noun} ${i + 1}`, selected: d.deviceId === current })));
  if (!devices.length) select.append(h('option', { value: '', text: `No ${noun.toLowerCase()} available` }));
  select.disabled = devices.length === 0 || !devices[0].deviceId;
}

/**
 * The connection card: what one sends and receives, every two seconds.
 * @param {Call} call
 */
function bindStats(call) {
  const box = byId('stats');
  const sampler = new StatsSampler(call);
  const tick = async () => {
    if (call.ended) return;
    try {
      const f = await sampler.sample();
      const rows = f.sent.map((s) => h('tr', { 'data-source': s.source },
        h('th', { scope: 'row', text: SOURCE_NAMES[s.source] ?? s.source }),
        h('td', { text: formatRate(s.kbps) }),
        h('td', { text: s.resolution ? `${s.resolution}${s.fps ? ` · ${s.fps} fps` : ''}` : '—' }),
        h('td', { text: `${s.lossPct}%` })));
      const parts = [];
      if (rows.length) {
        parts.push(h('table', { class: 'stats-table' },
          h('caption', { class: 'visually-hidden', text: 'What you send' }),
          h('thead', {}, h('tr', {}, ...['Sending', 'Bit rate', 'Resolution', 'Loss'].map((t) => h('th', { scope: 'col', text: t })))),
          h('tbody', {}, ...rows)));
      }
      if (f.received.tracks) {
        parts.push(h('p', { class: 'muted stats-received', text: `Receiving ${f.received.tracks} track${f.received.tracks === 1 ? '' : 's'} · ${formatRate(f.received.kbps)} · ${f.received.lossPct}% loss` }));
      }
      box.replaceChildren(...(parts.length ? parts : [h('p', { class: 'muted', text: 'Not sending yet.' })]));
    } catch { /* the connection closed in between */ }
    setTimeout(tick, STATS_MS);
  };
  tick();
}

async function init() {
  const join = await joinOrRedirect(roomFromPath());
  if (!join) return;
  const call = new Call(join);
  document.title = `Studio · ${join.room.name} · Lectern`;
  byId('room-title').textContent = join.room.name;
  byId('watch-link').setAttribute('href', `/watch/${encodeURIComponent(join.room.id)}`);

  const stage = new Stage(byId('tiles'), call);
  bindControls(call);
  bindProblems(call);
  bindSound(stage);
  bindFatal(call);
  bindPeople(call, /** @type {HTMLUListElement} */ (byId('people')), byId('people-count'));
  if (!(await call.start())) return;
  mountChatPanel(document.querySelector('.chat-panel'), call);
  stage.render();
  stage.startSpeakerWatch();
  bindBroadcast(call);
  bindStageStudio(call, byId('stage-card'));
  bindPINAlert(call, byId('pin-alert-box'), client(join.token));
  bindDevices(call);
  bindStats(call);
  await call.publishDevices();
}

init();
