// admin-room.js: the parts of the console's room view that hand out access:
// invitations and PINs (with rotation) and minting an access token. The
// encoder stream key is in admin-streamkeys.js, recordings in
// admin-recordings.js.

import { path } from '/js/api.js';
import { byId, clearErrors, confirmDialog, copyButton, formatDate, h, showFieldError, showFormError, toast } from '/js/dom.js';

/** Room modes for people. */
/** @type {Record<string, string>} */
export const MODES = { conference: 'Conference', webinar: 'Webinar' };
/** Resolution tiers for people, lowest first. */
/** @type {Record<string, string>} */
export const TIERS = { sd: 'SD', hd: 'HD', fhd: 'Full HD', '4k': '4K' };

/**
 * Shows a PIN in two groups so it is easy to read out: 4821 3977.
 * @param {string} pin
 * @returns {string}
 */
export function groupPIN(pin) {
  const half = Math.ceil(pin.length / 2);
  return pin.length > 6 ? `${pin.slice(0, half)} ${pin.slice(half)}` : pin;
}

/**
 * The room's invitation link (the join page with the room filled in, and
 * the room's app when it is not the default one: a PIN names no app).
 * @param {string} room
 * @param {string} [app]
 * @returns {string}
 */
export function inviteLink(room, app) {
  const inApp = app && app !== 'default' ? `&app=${encodeURIComponent(app)}` : '';
  return new URL(`/?room=${encodeURIComponent(room)}${inApp}`, location.origin).href;
}

/**
 * Renders the invitation link and both PINs, with copy and rotate buttons.
 * @param {import('/js/admin.js').RoomContext} ctx
 * @param {HTMLElement} el
 */
export function renderPINs(ctx, el) {
  const r = ctx.room;
  const link = inviteLink(r.id, r.app);
  const webinar = r.mode === 'webinar';
  /** @type {{which: 'pin'|'speaker_pin', label: string, value: string, help: string}[]} */
  const kinds = [
    {
      which: 'pin', label: webinar ? 'Audience PIN' : 'Participant PIN', value: r.pin,
      help: webinar ? `Watch the broadcast${r.chat?.questions ? ' and ask questions' : ''}.` : 'Join the meeting with camera and microphone.',
    },
    {
      which: 'speaker_pin', label: webinar ? 'Speaker PIN' : 'Host PIN', value: r.speaker_pin,
      help: webinar ? 'Host in the studio: present camera, microphone and screen, go live, record, moderate.' : 'Join as host: also mute and remove others.',
    },
  ];
  el.replaceChildren(
    h('div', { class: 'field' },
      h('span', { class: 'label', id: 'invite-label', text: 'Invitation link' }),
      h('div', { class: 'copy-field' },
        h('div', { class: 'value', id: 'invite-link', 'aria-labelledby': 'invite-label', text: link }),
        copyButton(() => link, 'invitation link'))),
    ...kinds.map((k) => h('div', { class: 'pin-block' },
      h('h3', { id: `${k.which}-label`, text: k.label }),
      h('p', { class: 'hint', text: k.help }),
      h('div', { class: 'copy-field' },
        h('div', { class: 'value value-big', id: `${k.which}-value`, 'data-pin': k.value, 'aria-labelledby': `${k.which}-label`, text: groupPIN(k.value) }),
        copyButton(() => k.value, k.label)),
      h('div', { class: 'row mt-half' },
        copyButton(() => `Join “${r.name}” on Lectern: ${link}\n${k.label}: ${k.value}`, `invitation with the ${k.label}`, 'Copy invitation'),
        h('button', {
          type: 'button', class: 'btn btn-small', id: `rotate-${k.which}`, text: 'New PIN',
          'aria-label': `Make a new ${k.label}`, onclick: () => rotate(ctx, k.which, k.label),
        })))),
    h('button', { type: 'button', class: 'btn btn-small', id: 'rotate-both', text: 'New PINs for both', onclick: () => rotate(ctx, 'both', 'PINs') }));
}

/**
 * Rotates one or both PINs after confirmation.
 * @param {import('/js/admin.js').RoomContext} ctx
 * @param {'pin'|'speaker_pin'|'both'} which
 * @param {string} label
 */
async function rotate(ctx, which, label) {
  const both = which === 'both';
  const ok = await confirmDialog({
    title: both ? 'Make new PINs for both?' : `Make a new ${label}?`,
    body: `The current ${both ? 'PINs stop' : 'PIN stops'} working for new joins. People already in the room stay. Send the new ${both ? 'PINs' : 'PIN'} to those you invite.`,
    confirm: both ? 'Make new PINs' : 'Make a new PIN',
  });
  if (!ok) return;
  try {
    const room = await ctx.api.post(path`/rooms/${ctx.room.id}/pins`, { which });
    ctx.update(room);
    toast(both ? 'Both PINs were replaced.' : `The ${label} was replaced.`);
    byId(`rotate-${which}`).focus();
  } catch (err) {
    toast(`The PIN could not be replaced: ${err.message}`, 'error');
  }
}

/** @type {import('/js/admin.js').RoomContext|null} the room the token form mints for */
let tokenCtx = null;

/**
 * Prepares the token form for the room on screen.
 * @param {import('/js/admin.js').RoomContext} ctx
 */
export function setupTokenForm(ctx) {
  const form = /** @type {HTMLFormElement} */ (byId('token-form'));
  if (!tokenCtx) form.addEventListener('submit', mintToken);
  tokenCtx = ctx;
  form.reset();
  clearErrors(form);
  byId('token-result').hidden = true;
  byId('token-result').replaceChildren();
}

/**
 * A link that opens the page the token is for with the token in it (after
 * #, so it never reaches a server's logs): the studio for a webinar's
 * publishers, the meeting room for a conference's, else the viewer page. It is
 * how co-presenters who should not moderate (the speaker preset) get in.
 * @param {{id: string, mode: string}} room
 * @param {Record<string, boolean>} perms
 * @param {string} token
 */
function pageLink(room, perms, token) {
  const page = !perms.publish ? 'watch' : room.mode === 'webinar' ? 'studio' : 'room';
  const names = { watch: 'viewer page', studio: 'studio', room: 'meeting room' };
  const url = `${location.origin}/${page}/${encodeURIComponent(room.id)}#token=${encodeURIComponent(token)}`;
  return h('div', { class: 'field' },
    h('span', { class: 'hint', text: `A link to the ${names[page]} with this token: whoever opens it enters as this identity.` }),
    h('div', { class: 'row' },
      h('a', { id: 'token-link', class: 'btn', href: url, target: '_blank', rel: 'noopener', text: `Open the ${names[page]}` }),
      copyButton(() => url, 'link', 'Copy link')));
}

/** @param {SubmitEvent} ev */
async function mintToken(ev) {
  ev.preventDefault();
  const form = /** @type {HTMLFormElement} */ (ev.currentTarget);
  const ctx = tokenCtx;
  clearErrors(form);
  const f = form.elements;
  const identity = /** @type {HTMLInputElement} */ (f.namedItem('identity')).value.trim();
  if (!identity) {
    showFieldError(form, 'identity', 'Enter who the token is for.');
    byId('token-identity').focus();
    return;
  }
  const preset = /** @type {HTMLSelectElement} */ (f.namedItem('preset')).value;
  /** @type {Record<string, unknown>} */
  const body = {
    identity, ttl_seconds: Number(/** @type {HTMLSelectElement} */ (f.namedItem('ttl_seconds')).value),
    rooms: { [ctx.room.id]: preset ? { preset } : {} },
  };
  const name = /** @type {HTMLInputElement} */ (f.namedItem('name')).value.trim();
  if (name) body.name = name;
  try {
    const t = await ctx.api.post('/tokens', body);
    const grant = t.rooms[ctx.room.id];
    const perms = Object.entries(grant.permissions).filter(([, on]) => on).map(([p]) => p);
    const out = byId('token-result');
    out.replaceChildren(
      h('div', { class: 'field' },
        h('label', { for: 'token-value', text: `Token for ${t.name}` }),
        h('textarea', { id: 'token-value', readonly: true, rows: '4', value: t.token, 'aria-describedby': 'token-about' }),
        h('span', { class: 'hint', id: 'token-about', text: `Valid until ${formatDate(t.expires_at)}. Allows: ${perms.join(', ') || 'nothing'}; up to ${TIERS[grant.tier] || grant.tier}.` })),
      h('div', { class: 'row' }, copyButton(() => t.token, 'token', 'Copy token')),
      pageLink(ctx.room, grant.permissions, t.token));
    out.hidden = false;
    byId('token-value').focus();
  } catch (err) {
    showFormError(form, err, { tier: 'preset', permissions: 'preset' });
  }
}
