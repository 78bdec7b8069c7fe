// admin-members.js: the console's members table for one room. Each member's
// permissions are checkboxes and its tier a list, saved as soon as they
// change; a dialog adds members and edits their names.

import { path } from '/js/api.js';
import { TIERS } from '/js/admin-room.js';
import { byId, clearErrors, confirmDialog, h, showFieldError, showFormError, toast } from '/js/dom.js';

/** The permissions, in the API's order, with what each allows. */
export const PERMISSIONS = [
  ['publish', 'Publish', 'Send camera, microphone and screen'],
  ['subscribe', 'Subscribe', 'Watch and hear the others'],
  ['list', 'List', 'See who is in the room'],
  ['send', 'Send', 'Write in the chat'],
  ['receive', 'Receive', 'Read the chat'],
  ['moderate', 'Moderate', 'Mute and remove others, run the broadcast'],
];

/** Role presets of the member dialog (docs/api.md, "Permissions and presets"). */
/** @type {Record<string, string[]>} */
const PRESETS = {
  host: ['publish', 'subscribe', 'list', 'send', 'receive', 'moderate'],
  speaker: ['publish', 'subscribe', 'list', 'send', 'receive'],
  viewer: ['subscribe', 'receive'],
};

/**
 * @typedef {object} Member
 * @property {string} identity
 * @property {string} name
 * @property {Record<string, boolean>} permissions
 * @property {string} [tier]  the override; absent: the room's
 */

/** @type {import('/js/admin.js').RoomContext|null} */
let ctx = null;
const dialog = /** @type {HTMLDialogElement} */ (byId('member-dialog'));
const form = /** @type {HTMLFormElement} */ (byId('member-form'));

/**
 * Lists the room's members into el; addButton opens the dialog.
 * @param {import('/js/admin.js').RoomContext} roomCtx
 * @param {HTMLElement} el
 * @param {HTMLElement} addButton
 */
export async function renderMembers(roomCtx, el, addButton) {
  if (!ctx) setup(addButton);
  ctx = roomCtx;
  const room = roomCtx.room.id;
  el.dataset.room = room;
  el.replaceChildren(h('p', { class: 'muted', text: 'Loading members…' }));
  /** @type {Member[]} */
  let members;
  try {
    ({ members } = await roomCtx.api.get(path`/rooms/${room}/members`));
  } catch (err) {
    if (el.dataset.room === room) el.replaceChildren(h('p', { class: 'notice notice-error', text: `The members could not be loaded: ${err.message}` }));
    return;
  }
  if (el.dataset.room !== room) return; // another room is on screen now
  byId('member-identities').replaceChildren(...members.map((m) => h('option', { value: m.identity })));
  if (!members.length) {
    el.replaceChildren(h('p', { class: 'empty', text: 'No members yet.' }));
    return;
  }
  el.replaceChildren(h('table', { class: 'cards members' },
    h('caption', { class: 'visually-hidden', text: 'Members and their permissions' }),
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col', text: 'Identity' }),
      h('th', { scope: 'col', text: 'Name' }),
      ...PERMISSIONS.map(([, label, help]) => h('th', { scope: 'col', class: 'center', title: help, text: label })),
      h('th', { scope: 'col', text: 'Tier' }),
      h('th', { scope: 'col' }, h('span', { class: 'visually-hidden', text: 'Actions' })))),
    h('tbody', {}, ...members.map(memberRow))));
}

/**
 * @param {Member} m
 * @returns {HTMLElement}
 */
function memberRow(m) {
  const boxes = PERMISSIONS.map(([perm, label]) => {
    const box = /** @type {HTMLInputElement} */ (h('input', {
      type: 'checkbox', checked: !!m.permissions[perm], 'data-perm': perm, 'aria-label': `${label}: ${m.identity}`,
    }));
    box.addEventListener('change', () => save(m, { permissions: readBoxes(boxes) }, `${m.identity}'s permissions`, () => { box.checked = !box.checked; }));
    return box;
  });
  const tier = tierSelect(m.tier || '', `Resolution tier: ${m.identity}`);
  let previousTier = tier.value;
  tier.addEventListener('change', () => save(m, { tier: tier.value }, `${m.identity}'s tier`, () => { tier.value = previousTier; }).then((ok) => {
    if (ok) previousTier = tier.value;
  }));
  return h('tr', { 'data-identity': m.identity },
    h('td', { class: 'card-title' }, h('code', { text: m.identity })),
    h('td', { 'data-label': 'Name', text: m.name }),
    ...PERMISSIONS.map(([, label], i) => h('td', { class: 'center', 'data-label': label }, h('label', { class: 'check' }, boxes[i]))),
    h('td', { 'data-label': 'Tier' }, tier),
    h('td', { class: 'actions' }, h('div', { class: 'row' },
      h('button', { type: 'button', class: 'btn btn-small', text: 'Edit', 'aria-label': `Edit ${m.identity}`, onclick: () => openDialog(m) }),
      h('button', { type: 'button', class: 'btn btn-small btn-danger', text: 'Remove', 'aria-label': `Remove ${m.identity}`, onclick: () => remove(m) }))));
}

/**
 * @param {HTMLInputElement[]} boxes  checkboxes with data-perm
 * @returns {Record<string, boolean>}
 */
function readBoxes(boxes) {
  return Object.fromEntries(boxes.map((b) => [b.dataset.perm, b.checked]));
}

/**
 * A list of the tiers a member may have: the room's, or one below it.
 * @param {string} value  the member's override, '' for none
 * @param {string} label  the accessible name
 * @returns {HTMLSelectElement}
 */
function tierSelect(value, label) {
  const select = /** @type {HTMLSelectElement} */ (h('select', { 'aria-label': label }));
  fillTiers(select, value);
  return select;
}

/**
 * Puts the tiers a member may have in select: the room's, or one below it.
 * @param {HTMLSelectElement} select
 * @param {string} value  the member's override, '' for none
 */
function fillTiers(select, value) {
  const roomTier = ctx.room.tier;
  const order = Object.keys(TIERS);
  select.replaceChildren(
    h('option', { value: '', text: `Room's (${TIERS[roomTier] || roomTier})` }),
    ...order.slice(0, order.indexOf(roomTier) + 1).map((t) => h('option', { value: t, text: TIERS[t] })));
  select.value = value;
}

/**
 * Saves a change of a member from the table; undo reverts the control when
 * the server refuses.
 * @param {Member} m
 * @param {object} body
 * @param {string} what
 * @param {() => void} undo
 * @returns {Promise<boolean>}
 */
async function save(m, body, what, undo) {
  try {
    Object.assign(m, await ctx.api.patch(path`/rooms/${ctx.room.id}/members/${m.identity}`, body));
    toast(`Saved ${what}.`);
    return true;
  } catch (err) {
    undo();
    toast(`${what} could not be saved: ${err.message}`, 'error');
    return false;
  }
}

/** @param {Member} m */
async function remove(m) {
  const ok = await confirmDialog({
    title: `Remove ${m.identity}?`,
    body: 'Their member record and its permissions are deleted. Tokens already minted for them stay valid until they expire.',
    confirm: 'Remove member', danger: true,
  });
  if (!ok) return;
  try {
    await ctx.api.del(path`/rooms/${ctx.room.id}/members/${m.identity}`);
    toast(`Removed ${m.identity}.`);
    await renderMembers(ctx, byId('members'), byId('add-member'));
    byId('add-member').focus();
  } catch (err) {
    toast(`${m.identity} could not be removed: ${err.message}`, 'error');
  }
}

/** @returns {HTMLInputElement[]} the dialog's permission checkboxes */
const dialogBoxes = () => [...byId('member-perms').querySelectorAll('input')];

/**
 * Opens the dialog to add a member (m null) or edit one.
 * @param {Member|null} m
 */
function openDialog(m) {
  form.reset();
  clearErrors(form);
  form.dataset.identity = m ? m.identity : '';
  byId('member-dialog-title').textContent = m ? `Edit ${m.identity}` : 'Add member';
  byId('member-submit').textContent = m ? 'Save changes' : 'Add member';
  const identity = /** @type {HTMLInputElement} */ (byId('member-identity'));
  identity.value = m ? m.identity : '';
  identity.disabled = !!m;
  /** @type {HTMLInputElement} */ (byId('member-name')).value = m ? m.name : '';
  const defaults = ctx.room.mode === 'webinar' ? PRESETS.viewer : PRESETS.speaker;
  for (const b of dialogBoxes()) b.checked = m ? !!m.permissions[b.value] : defaults.includes(b.value);
  syncPreset();
  fillTiers(/** @type {HTMLSelectElement} */ (byId('member-tier')), m?.tier || '');
  dialog.showModal();
  (m ? byId('member-name') : identity).focus();
}

/** Shows the preset that matches the checked permissions, or Custom. */
function syncPreset() {
  const on = dialogBoxes().filter((b) => b.checked).map((b) => b.value).join();
  const match = Object.entries(PRESETS).find(([, perms]) => perms.join() === on);
  /** @type {HTMLSelectElement} */ (byId('member-preset')).value = match ? match[0] : 'custom';
}

/** @param {SubmitEvent} ev */
async function submit(ev) {
  ev.preventDefault();
  clearErrors(form);
  const editing = form.dataset.identity;
  const identity = /** @type {HTMLInputElement} */ (byId('member-identity')).value.trim();
  const name = /** @type {HTMLInputElement} */ (byId('member-name')).value.trim();
  if (!editing && !identity) {
    showFieldError(form, 'identity', 'Enter an identity, such as an e-mail address or a user name.');
    byId('member-identity').focus();
    return;
  }
  /** @type {Record<string, unknown>} */
  const body = {
    permissions: Object.fromEntries(dialogBoxes().map((b) => [b.value, b.checked])),
    tier: /** @type {HTMLSelectElement} */ (byId('member-tier')).value,
  };
  if (name) body.name = name;
  if (!editing) body.identity = identity;
  try {
    if (editing) await ctx.api.patch(path`/rooms/${ctx.room.id}/members/${editing}`, body);
    else await ctx.api.post(path`/rooms/${ctx.room.id}/members`, body);
    dialog.close();
    toast(editing ? `Saved ${editing}.` : `Added ${identity}.`);
    await renderMembers(ctx, byId('members'), byId('add-member'));
  } catch (err) {
    showFormError(form, err.code === 'member_exists' ? { field: 'identity', detail: 'This room already has a member with this identity.', message: err.message } : err,
      { preset: 'permissions' });
  }
}

/**
 * Builds the dialog's checkboxes and wires the controls, once.
 * @param {HTMLElement} addButton
 */
function setup(addButton) {
  byId('member-perms').replaceChildren(...PERMISSIONS.map(([perm, label, help]) => h('label', { class: 'check' },
    h('input', { type: 'checkbox', name: 'perm', value: perm, onchange: syncPreset }),
    h('span', {}, label, h('small', { text: help })))));
  byId('member-preset').addEventListener('change', (ev) => {
    const perms = PRESETS[/** @type {HTMLSelectElement} */ (ev.target).value];
    if (perms) for (const b of dialogBoxes()) b.checked = perms.includes(b.value);
  });
  addButton.addEventListener('click', () => openDialog(null));
  form.addEventListener('submit', submit);
}
