// admin-streamkeys.js: the console's stream-key card for one room: create,
// show (hidden until asked), replace or delete the key encoders publish with,
// and the settings to paste into OBS (WHIP server and bearer token), ffmpeg
// or GStreamer (an RTSP URL carrying the key).

import { path } from '/js/api.js';
import { byId, confirmDialog, copyButton, formatDate, h, toast } from '/js/dom.js';

/**
 * Renders the room's stream key: none yet, or the key with OBS, ffmpeg and
 * GStreamer settings.
 * @param {import('/js/admin.js').RoomContext} ctx
 * @param {HTMLElement} el
 */
export async function renderStreamKey(ctx, el) {
  el.replaceChildren(h('p', { class: 'muted', text: 'Loading…' }));
  el.dataset.room = ctx.room.id;
  let key = null;
  try {
    key = await ctx.api.get(path`/rooms/${ctx.room.id}/stream-key`);
  } catch (err) {
    if (el.dataset.room !== ctx.room.id) return;
    if (err.code !== 'stream_key_not_found') {
      el.replaceChildren(h('p', { class: 'notice notice-error', text: `The stream key could not be loaded: ${err.message}` }));
      return;
    }
  }
  /** @param {string} method @param {string} done  the toast once it worked */
  const change = async (method, done) => {
    try {
      const k = method === 'POST' ? await ctx.api.post(path`/rooms/${ctx.room.id}/stream-key`) : await ctx.api.del(path`/rooms/${ctx.room.id}/stream-key`);
      show(k, true);
      toast(done);
    } catch (err) {
      toast(`The stream key could not be changed: ${err.message}`, 'error');
    }
  };
  /** @param {StreamKey|null} k @param {boolean} focus  after a change, keep the keyboard in this card */
  const show = (k, focus) => {
    el.replaceChildren(...(k ? streamKeyParts(k, change) : [
      h('p', { text: 'Encoders such as OBS, ffmpeg and GStreamer publish into this room with a stream key instead of a browser. This room has none yet.' }),
      h('button', { type: 'button', id: 'create-stream-key', class: 'btn btn-primary', text: 'Create stream key', onclick: () => change('POST', 'Stream key created.') }),
    ]));
    if (focus) byId(k ? 'stream-key-value' : 'create-stream-key').focus();
  };
  if (el.dataset.room === ctx.room.id) show(key, false); // else another room is on screen now
}

/**
 * @typedef {object} StreamKey
 * @property {string} stream_key
 * @property {string} created_at
 * @property {string} rtsp_url  empty when RTSP is not served
 * @property {string} whip_url
 */

/**
 * The elements showing a stream key and where to paste it.
 * @param {StreamKey} k
 * @param {(method: string, done: string) => Promise<void>} change
 * @returns {HTMLElement[]}
 */
function streamKeyParts(k, change) {
  const whip = new URL(k.whip_url, location.origin).href;
  /** @param {string} s */
  const masked = (s) => s.replaceAll(k.stream_key, 'sk_' + '•'.repeat(12));
  const keyValue = h('div', { class: 'value', id: 'stream-key-value', tabindex: '-1', 'aria-label': 'Stream key, hidden', text: masked(k.stream_key) });
  const rtspValue = k.rtsp_url ? h('div', { class: 'value', id: 'rtsp-url', text: masked(k.rtsp_url) }) : null;
  const reveal = h('button', { type: 'button', class: 'btn btn-small', id: 'reveal-key', 'aria-pressed': 'false', text: 'Show' });
  reveal.addEventListener('click', () => {
    const shown = reveal.getAttribute('aria-pressed') !== 'true';
    reveal.setAttribute('aria-pressed', String(shown));
    reveal.textContent = shown ? 'Hide' : 'Show';
    keyValue.textContent = shown ? k.stream_key : masked(k.stream_key);
    keyValue.setAttribute('aria-label', shown ? 'Stream key' : 'Stream key, hidden');
    if (rtspValue) rtspValue.textContent = shown ? k.rtsp_url : masked(k.rtsp_url);
  });
  /** @param {string} term @param {string} value @param {string} [what]  what to copy, if not value */
  const setting = (term, value, what) => [
    h('dt', { text: term }),
    h('dd', {}, h('div', { class: 'copy-field' }, h('div', { class: 'value', text: value }), copyButton(() => what ?? value, `OBS ${term}`))),
  ];
  const ffmpeg = `ffmpeg -re -i input.mp4 -c:v libx264 -preset veryfast -tune zerolatency -pix_fmt yuv420p -c:a libopus -f rtsp '${k.rtsp_url}'`;
  return [
    h('div', { class: 'field' },
      h('span', { class: 'label', text: 'Key' }),
      h('div', { class: 'copy-field' }, keyValue, reveal, copyButton(() => k.stream_key, 'stream key')),
      h('span', { class: 'hint', text: `Created ${formatDate(k.created_at)}. Anyone with the key can publish into this room.` })),
    h('h3', { text: 'OBS Studio 30 or newer (WHIP)' }),
    h('p', { class: 'hint', text: 'In Settings → Stream:' }),
    h('dl', { class: 'settings' },
      ...setting('Service', 'WHIP'),
      ...setting('Server', whip),
      ...setting('Bearer Token', 'The stream key', k.stream_key)),
    h('h3', { text: 'ffmpeg or GStreamer (RTSP)' }),
    ...(k.rtsp_url ? [
      h('div', { class: 'copy-field' }, rtspValue, copyButton(() => k.rtsp_url, 'RTSP URL')),
      h('p', { class: 'hint', text: 'The URL carries the key as its password.' }),
      h('div', { class: 'row' }, copyButton(() => ffmpeg, 'ffmpeg command', 'Copy an ffmpeg command')),
    ] : [h('p', { class: 'muted', text: 'This server does not accept RTSP publishing.' })]),
    h('div', { class: 'row mt-1' },
      h('button', {
        type: 'button', class: 'btn', text: 'Replace key', onclick: async () => {
          const ok = await confirmDialog({ title: 'Replace the stream key?', body: 'A new key is made and the current one stops working: encoders using it must be given the new one.', confirm: 'Replace key' });
          if (ok) change('POST', 'The stream key was replaced.');
        },
      }),
      h('button', {
        type: 'button', class: 'btn btn-danger', text: 'Delete key', onclick: async () => {
          const ok = await confirmDialog({ title: 'Delete the stream key?', body: 'Encoders can no longer publish into this room with it.', confirm: 'Delete key', danger: true });
          if (ok) change('DELETE', 'The stream key was deleted.');
        },
      })),
  ];
}
