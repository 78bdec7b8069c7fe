// admin-apps.js: the console's App and Apps cards on the rooms view. Every
// admin key sees its own app: its limits and what it uses (GET /app). The
// server operator's key also sees every app: make one, make an admin key of
// it (shown once), change its limits, delete it (GET/POST/PATCH/DELETE
// /apps; docs/api.md "Apps"). An app's key sees only its app.

import { path } from '/js/api.js';
import { confirmDialog, copyButton, h, toast } from '/js/dom.js';

/**
 * @typedef {object} Limits  null: no limit
 * @property {number|null} max_rooms
 * @property {number|null} max_participants
 * @property {number|null} max_hls_viewers
 * @property {number|null} max_recording_bytes
 *
 * @typedef {object} App
 * @property {string} id
 * @property {string} name
 * @property {Limits} limits
 * @property {{rooms: number, participants: number, hls_viewers: number, recording_bytes: number}} [usage]
 */

/** @type {[keyof Limits, string, 'rooms'|'participants'|'hls_viewers'|'recording_bytes'][]} */
const LIMITS = [
  ['max_rooms', 'Rooms', 'rooms'],
  ['max_participants', 'Participants (this node)', 'participants'],
  ['max_hls_viewers', 'HLS viewers (this node)', 'hls_viewers'],
  ['max_recording_bytes', 'Recording bytes', 'recording_bytes'],
];

/**
 * "3 of 10", or "3 (no limit)".
 * @param {number|undefined} used
 * @param {number|null} max
 */
function usedOf(used, max) {
  return `${used ?? 0}${max === null ? ' (no limit)' : ` of ${max}`}`;
}

/**
 * Renders the calling key's app into appEl and, for the operator, every app
 * into appsEl. Returns whether the key is the operator's.
 * @param {import('/js/api.js').Client} api
 * @param {HTMLElement} appEl
 * @param {HTMLElement} appsCard  shown to the operator only
 * @param {HTMLElement} appsEl
 * @returns {Promise<boolean>}
 */
export async function renderApps(api, appEl, appsCard, appsEl) {
  /** @type {{app: App, operator: boolean}} */
  let own;
  try {
    own = await api.get('/app');
  } catch (err) {
    appEl.replaceChildren(h('p', { class: 'notice notice-error', text: `The app could not be loaded: ${err.message}` }));
    appsCard.hidden = true;
    return false;
  }
  appEl.replaceChildren(
    h('p', { id: 'app-summary', text: `${own.operator ? 'Server operator key; rooms here are in the app' : 'Rooms here are in the app'} ${own.app.name} (${own.app.id}).` }),
    h('dl', { class: 'app-limits' }, ...LIMITS.flatMap(([limit, label, use]) => [
      h('dt', { text: label }), h('dd', { text: usedOf(own.app.usage?.[use], own.app.limits[limit]) }),
    ])));
  appsCard.hidden = !own.operator;
  if (own.operator) await renderAppList(api, appsEl);
  return own.operator;
}

/**
 * The operator's list of apps, with the form that makes one.
 * @param {import('/js/api.js').Client} api
 * @param {HTMLElement} el
 */
async function renderAppList(api, el) {
  const reload = () => renderAppList(api, el);
  /** @type {App[]} */
  let apps;
  try {
    ({ apps } = await api.get('/apps'));
  } catch (err) {
    el.replaceChildren(h('p', { class: 'notice notice-error', text: `The apps could not be loaded: ${err.message}` }));
    return;
  }
  const keyOut = h('div', { id: 'app-key-out', 'aria-live': 'polite' });
  const rows = apps.map((a) => h('tr', { 'data-app': a.id },
    h('td', { class: 'card-title' }, h('strong', { text: a.name }), h('span', { class: 'muted', text: ` ${a.id}` })),
    ...LIMITS.map(([limit, label, use]) => h('td', { 'data-label': label, text: usedOf(a.usage?.[use], a.limits[limit]) })),
    h('td', {},
      h('button', {
        type: 'button', class: 'btn btn-small', text: 'New key', 'aria-label': `New admin key for ${a.name}`,
        onclick: async () => {
          try {
            const k = await api.post(path`/apps/${a.id}/keys`, { name: 'console' });
            keyOut.replaceChildren(h('p', { class: 'notice' },
              `Admin key of ${a.name}, shown this once: `, h('code', { class: 'app-key', text: k.key }), ' ',
              copyButton(() => k.key, 'admin key')));
          } catch (err) {
            toast(`The key could not be made: ${err.message}`, 'error');
          }
        },
      }),
      h('button', { type: 'button', class: 'btn btn-small', text: 'Limits', 'aria-label': `Limits of ${a.name}`,
        onclick: () => keyOut.replaceChildren(limitsForm(api, a, reload)) }),
      a.id === 'default' ? null : h('button', {
        type: 'button', class: 'btn btn-small btn-danger', text: 'Delete', 'aria-label': `Delete ${a.name}`,
        onclick: async () => {
          if (!await confirmDialog({ title: `Delete ${a.name}?`, body: 'Its API keys stop working. An app with rooms or recordings is not deleted: delete them first.', confirm: 'Delete app', danger: true })) return;
          try {
            await api.del(path`/apps/${a.id}`);
            toast(`${a.name} was deleted.`);
          } catch (err) {
            toast(`${a.name} was not deleted: ${err.message}`, 'error');
          }
          reload();
        },
      }))));
  const idInput = h('input', { name: 'id', required: true, pattern: '[a-z0-9]([a-z0-9\\-]{0,62}[a-z0-9])?', placeholder: 'acme', 'aria-label': 'App ID' });
  const nameInput = h('input', { name: 'name', required: true, maxlength: '100', placeholder: 'Acme', 'aria-label': 'App name' });
  const form = h('form', {
    class: 'row mt-half', id: 'new-app-form',
    onsubmit: async (/** @type {SubmitEvent} */ ev) => {
      ev.preventDefault();
      try {
        await api.post('/apps', { id: /** @type {HTMLInputElement} */ (idInput).value.trim(), name: /** @type {HTMLInputElement} */ (nameInput).value.trim() });
        toast('The app was made. Make an admin key for it.');
        reload();
      } catch (err) {
        toast(`The app was not made: ${err.message}`, 'error');
      }
    },
  }, idInput, nameInput, h('button', { type: 'submit', class: 'btn btn-small btn-primary', text: 'New app' }));
  el.replaceChildren(
    h('table', { class: 'cards apps' },
      h('caption', { class: 'visually-hidden', text: 'Apps on this server' }),
      h('thead', {}, h('tr', {}, ...['App', ...LIMITS.map(([, label]) => label), ''].map((t) => h('th', { scope: 'col', text: t })))),
      h('tbody', {}, ...rows)),
    keyOut, form);
}

/**
 * A form changing an app's limits: an empty field is no limit.
 * @param {import('/js/api.js').Client} api
 * @param {App} a
 * @param {() => void} done
 * @returns {HTMLElement}
 */
function limitsForm(api, a, done) {
  const inputs = LIMITS.map(([limit, label]) => /** @type {HTMLInputElement} */ (h('input', {
    name: limit, type: 'number', min: '0', step: '1', value: a.limits[limit] === null ? '' : String(a.limits[limit]),
    placeholder: 'no limit', 'aria-label': label,
  })));
  return h('form', {
    class: 'stack', id: 'limits-form',
    onsubmit: async (/** @type {SubmitEvent} */ ev) => {
      ev.preventDefault();
      /** @type {Record<string, number|null>} */
      const limits = {};
      for (const input of inputs) limits[input.name] = input.value === '' ? null : Number(input.value);
      try {
        await api.patch(path`/apps/${a.id}`, { limits });
        toast(`The limits of ${a.name} were saved.`);
        done();
      } catch (err) {
        toast(`The limits were not saved: ${err.message}`, 'error');
      }
    },
  }, h('p', { text: `Limits of ${a.name} (empty: no limit)` }),
  ...inputs.map((input, i) => h('label', {}, `${LIMITS[i][1]} `, input)),
  h('button', { type: 'submit', class: 'btn btn-small btn-primary', text: 'Save limits' }));
}
