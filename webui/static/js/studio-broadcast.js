// studio-broadcast.js: the studio's broadcast card, for moderators: the live
// stream (HLS) and recording on or off (PATCH /rooms/{room}/broadcast), what
// is on air or following the speaker (the websocket's on_air), and the
// broadcast's state, polled from GET /rooms/{room}/broadcast.

import { client, path } from '/js/api.js';
import { byId, h, toast } from '/js/dom.js';

const POLL_MS = 3000;
/** @type {Record<string, string>} */
const STATES = { offline: 'Off air', starting: 'Starting', live: 'Live' };

/**
 * Shows and runs the broadcast card when the call may moderate.
 * @param {import('/js/call.js').Call} call
 */
export function bindBroadcast(call) {
  const card = byId('broadcast-card');
  if (!call.join.permissions.moderate) return;
  card.hidden = false;
  const api = client(call.join.token);
  const url = path`/rooms/${call.roomId}/broadcast`;
  const hls = /** @type {HTMLButtonElement} */ (byId('hls-toggle')), rec = /** @type {HTMLButtonElement} */ (byId('record-toggle'));
  const onAir = /** @type {HTMLSelectElement} */ (byId('on-air'));
  /** @type {any} */ let view = null;
  let timer = 0;
  // A poll answered after a change was made shows the state before it: the
  // generation tells them apart.
  let generation = 0;

  /** @param {any} v  the room's broadcast (GET /rooms/{room}/broadcast, docs/api.md) */
  const show = (v) => {
    view = v;
    setSwitch(hls, v.hls, 'Live stream');
    setSwitch(rec, v.record, 'Recording');
    const badge = byId('air-badge');
    const state = v.status?.state ?? 'offline';
    badge.dataset.state = state;
    badge.textContent = (STATES[state] ?? state) + (v.record && state !== 'offline' ? ' · Rec' : '');
    drawOnAir();
    const st = v.status ?? {};
    const rows = [
      ['State', STATES[state] ?? state],
      ['On air', trackName(call, st.video) || 'Nothing yet'],
      st.speaker ? ['Speaker', trackName(call, st.speaker) || st.speaker] : null,
      st.renditions?.length ? ['Renditions', st.renditions.map((/** @type {{resolution?: string, bandwidth: number}} */ r) => `${r.resolution || 'audio'} · ${Math.round(r.bandwidth / 1000)} kbit/s`).join(', ')] : null,
      typeof st.viewers === 'number' ? ['Viewers', String(st.viewers)] : null,
    ].filter(Boolean);
    byId('broadcast-status').replaceChildren(...rows.flatMap(([k, val]) => [h('dt', { text: k }), h('dd', { text: val })]));
  };

  const load = async () => {
    clearTimeout(timer);
    if (call.ended) return;
    const gen = generation;
    try {
      const v = await api.get(url);
      if (gen === generation) show(v);
    } catch (err) {
      if (err.code === 'permission_denied') { card.hidden = true; return; }
    }
    timer = setTimeout(load, POLL_MS);
  };

  /** @param {object} body @param {HTMLButtonElement} btn */
  const patch = async (body, btn) => {
    btn.disabled = true;
    generation++;
    try {
      show(await api.patch(url, body));
      generation++;
    } catch (err) {
      toast(`The broadcast did not change: ${err.message}`, 'error');
    } finally {
      btn.disabled = false;
    }
  };
  hls.addEventListener('click', () => patch({ hls: !view?.hls }, hls));
  rec.addEventListener('click', () => patch({ record: !view?.record }, rec));

  const drawOnAir = () => {
    if (document.activeElement === onAir) return; // leave a choice being made alone
    const opts = [h('option', { value: 'auto', text: 'Automatic: the first camera' }), h('option', { value: 'follow', text: 'Follow the speaker' })];
    for (const t of call.tracks.values()) {
      if (t.kind !== 'video') continue;
      opts.push(h('option', { value: t.id, text: trackName(call, t.id) }));
    }
    const o = view?.on_air ?? {};
    const current = o.video ?? (o.follow_speaker ? 'follow' : 'auto');
    onAir.replaceChildren(...opts);
    onAir.value = [...onAir.options].some((x) => x.value === current) ? current : 'auto';
  };
  onAir.addEventListener('change', async () => {
    const v = onAir.value;
    /** @type {{video: string|null, audio?: string|null, follow_speaker: boolean}} */
    const msg = v === 'follow' ? { video: null, audio: null, follow_speaker: true }
      : v === 'auto' ? { video: null, audio: null, follow_speaker: false } : { video: v, follow_speaker: false };
    try {
      await call.session.request({ type: 'on_air', ...msg });
      toast(v === 'follow' ? 'On air follows the speaker.' : `On air: ${onAir.selectedOptions[0]?.textContent}.`);
    } catch (err) {
      toast(err.code === 'codec_not_broadcast' ? 'That video cannot be broadcast: it was published before the live stream was on.' : `On air did not change: ${err.reason || err.message}`, 'error');
    }
    load();
  });
  call.on('change', drawOnAir);
  load();
}

/** @param {HTMLElement} btn @param {boolean} on @param {string} label */
function setSwitch(btn, on, label) {
  btn.setAttribute('aria-checked', String(on));
  btn.classList.toggle('on', on);
  btn.replaceChildren(h('span', { text: label }), h('span', { class: 'switch-state', 'aria-hidden': 'true', text: on ? 'On' : 'Off' }));
}

/**
 * "Ada · camera" for a track ID, or ''.
 * @param {import('/js/call.js').Call} call @param {string|null|undefined} id
 */
function trackName(call, id) {
  const t = id ? call.tracks.get(id) : null;
  if (!t) return '';
  const who = call.participants.get(t.participant);
  const src = t.source === 'screen' ? 'screen' : t.source === 'microphone' ? 'microphone' : 'camera';
  return `${who?.name ?? 'Someone'}${t.participant === call.selfID ? ' (you)' : ''} · ${src}`;
}
