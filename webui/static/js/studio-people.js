// studio-people.js: the studio's live list of people in the room, with the
// tracks each publishes and their mute states; moderators can mute others'
// tracks and remove people.

import { confirmDialog, h, toast } from '/js/dom.js';
import { icon } from '/js/icons.js';

/** @type {Record<string, string>} */
const SOURCE_NAMES = { camera: 'Camera', microphone: 'Microphone', screen: 'Screen', screen_audio: 'Screen sound' };

/**
 * Keeps #people (and #people-count) in step with the call's roster.
 * @param {import('/js/call.js').Call} call
 * @param {HTMLUListElement} list
 * @param {HTMLElement} count
 */
export function bindPeople(call, list, count) {
  const draw = () => {
    const people = [...call.participants.values()];
    count.textContent = String(people.length);
    // Redrawing keeps the keyboard focus on the same button.
    const focused = list.contains(document.activeElement) ? /** @type {HTMLElement} */ (document.activeElement).dataset.key : '';
    list.replaceChildren(...people.map((p) => person(call, p)));
    if (focused) /** @type {HTMLElement|null} */ (list.querySelector(`[data-key="${CSS.escape(focused)}"]`))?.focus();
  };
  call.on('change', draw);
  call.on('local', draw);
  draw();
}

/** @param {import('/js/call.js').Call} call @param {any} p */
function person(call, p) {
  const self = p.id === call.selfID;
  const moderate = !!call.permissions.moderate && !self;
  const tracks = Object.values(call.tracksOf(p.id)).sort((a, b) => a.source.localeCompare(b.source));
  const items = tracks.map((t) => {
    const muted = self ? call.isOff(/** @type {any} */ (t.source)) : t.muted;
    const what = SOURCE_NAMES[t.source] ?? t.source;
    return h('li', { class: `track${muted ? ' muted' : ''}`, 'data-track': t.id, 'data-source': t.source, 'data-muted': String(muted) },
      icon(iconFor(t.source, muted)),
      h('span', { text: `${what}${muted ? ' (muted)' : ''}` }),
      moderate && !muted && (t.source === 'microphone' || t.source === 'camera')
        ? h('button', {
          type: 'button', class: 'btn btn-small', 'data-key': `mute:${t.id}`, text: t.source === 'camera' ? 'Stop video' : 'Mute',
          'aria-label': `${t.source === 'camera' ? 'Stop the camera of' : 'Mute'} ${p.name}`,
          onclick: () => call.session.mute(t.id, true).catch((err) => toast(`Could not mute ${p.name}: ${err.reason || err.message}`, 'error')),
        })
        : null);
  });
  const remove = moderate ? h('button', {
    type: 'button', class: 'btn btn-small btn-danger', 'data-key': `remove:${p.id}`, text: 'Remove', 'aria-label': `Remove ${p.name} from the room`,
    onclick: async () => {
      const ok = await confirmDialog({ title: `Remove ${p.name}?`, body: `${p.name} leaves the room at once and must join again with a PIN to come back.`, confirm: 'Remove', danger: true });
      if (ok) call.session.remove(p.id).catch((err) => toast(`Could not remove ${p.name}: ${err.reason || err.message}`, 'error'));
    },
  }) : null;
  return h('li', { class: 'person', 'data-participant': p.id, 'data-identity': p.identity },
    h('div', { class: 'person-head' },
      h('span', { class: 'person-name', text: p.name }),
      self ? h('span', { class: 'badge badge-accent', text: 'You' }) : null,
      p.kind === 'encoder' ? h('span', { class: 'badge', text: 'Encoder' }) : null,
      remove),
    items.length ? h('ul', { class: 'tracks', 'aria-label': `${p.name}’s tracks` }, ...items)
      : h('p', { class: 'muted person-idle', text: 'Watching, not sending' }));
}

/** @param {string} source @param {boolean} muted @returns {'mic'|'micOff'|'screen'|'camera'|'cameraOff'} */
function iconFor(source, muted) {
  if (source === 'microphone' || source === 'screen_audio') return muted ? 'micOff' : 'mic';
  if (source === 'screen') return 'screen';
  return muted ? 'cameraOff' : 'camera';
}
