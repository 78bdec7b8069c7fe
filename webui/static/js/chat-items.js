// chat-items.js: how the chat widget (chat.js) shows one message: who wrote
// it and when, its text (always as text, never as HTML), whether it is a
// question and its state, a direct message, a deleted one; and the buttons
// the reader may use on it.

import { h } from '/js/dom.js';

/**
 * @typedef {object} Message  a chat message (docs/api.md "Chat")
 * @property {number} id
 * @property {number} seq
 * @property {string} from
 * @property {string} from_name
 * @property {string} [to]
 * @property {'message'|'question'} kind
 * @property {'pending'|'approved'|'answered'} [state]
 * @property {string} text
 * @property {string} created_at
 * @property {string} [deleted_at]
 *
 * @typedef {object} Viewer  who reads, as the chat welcome says
 * @property {string} identity
 * @property {import('/js/session.js').Permissions} permissions
 * @property {boolean} audience  a webinar viewer: posts questions, no direct messages
 *
 * @typedef {(action: string, m: Message) => void} Act
 */

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });

/** What a question's state means, for its badge. */
/** @type {Record<string, string[]>} */
const STATES = {
  pending: ['Waiting for approval', 'badge-warn'],
  approved: ['Question', 'badge-accent'],
  answered: ['Answered', 'badge-ok'],
};

/**
 * The name of the person a message is from or to, for people.
 * @param {Message} m
 * @param {Viewer} v
 * @returns {string}
 */
function fromName(m, v) {
  if (m.from === v.identity) return 'You';
  return m.from_name || m.from || 'Someone';
}

/**
 * Builds the list item of a message.
 * @param {Message} m
 * @param {Viewer} v
 * @param {{queue: boolean, names: Map<string, string>, act: Act}} opts
 *   queue: the item is in the moderators' Q&A queue (with its buttons);
 *   names: display names by identity, for direct messages
 * @returns {HTMLLIElement}
 */
export function messageItem(m, v, { queue, names, act }) {
  const mine = m.from === v.identity;
  const deleted = !!m.deleted_at;
  const question = m.kind === 'question';
  const classes = ['chat-msg', mine && 'mine', question && 'question', deleted && 'deleted', m.to && 'direct'].filter(Boolean).join(' ');
  const meta = h('div', { class: 'chat-meta' },
    h('bdi', { class: 'chat-from', text: fromName(m, v) }),
    question && !deleted ? stateBadge(m.state || 'pending') : null,
    m.to ? h('span', { class: 'badge badge-private' }, ...(mine ? ['Private to ', h('bdi', { text: names.get(m.to) || m.to })] : ['Private to you'])) : null,
    h('time', { datetime: m.created_at, text: timeFormat.format(new Date(m.created_at)) }));
  const body = deleted
    ? h('p', { class: 'chat-text chat-deleted', text: 'This message was deleted.' })
    // Each message takes its direction from its own first strong letter, in
    // an isolate: right-to-left text neither flips nor reorders the page.
    : h('p', { class: 'chat-text', dir: 'auto', text: m.text });
  const li = /** @type {HTMLLIElement} */ (h('li', { class: classes, 'data-id': String(m.id), 'data-kind': m.kind, 'data-state': m.state || '' }, meta, body));
  const buttons = deleted ? [] : actions(m, v, queue, act);
  if (buttons.length) li.append(h('div', { class: 'chat-actions' }, ...buttons));
  return li;
}

/** @param {string} state */
function stateBadge(state) {
  const [text, cls] = STATES[state] || STATES.pending;
  return h('span', { class: `badge ${cls}`, text });
}

/**
 * The buttons the viewer may use on a message.
 * @param {Message} m
 * @param {Viewer} v
 * @param {boolean} queue
 * @param {Act} act
 * @returns {HTMLElement[]}
 */
function actions(m, v, queue, act) {
  const p = v.permissions;
  const mine = m.from === v.identity;
  const who = m.from_name || m.from;
  /** @param {string} action @param {string} text @param {string} label @param {string} [cls] */
  const btn = (action, text, label, cls = '') => h('button', {
    type: 'button', class: `btn btn-small ${cls}`, 'data-action': action, text, 'aria-label': label, onclick: () => act(action, m),
  });
  const out = [];
  if (queue && p.moderate && m.kind === 'question') {
    if (m.state === 'pending') out.push(btn('approve', 'Approve', `Approve the question from ${who}`, 'btn-primary'));
    if (m.state !== 'answered') out.push(btn('answer', 'Answered', `Mark the question from ${who} as answered`));
  }
  if (!mine && !m.to && p.send && !v.audience && !queue && m.from) {
    out.push(btn('reply', 'Reply privately', `Write to ${who} privately`, 'btn-link'));
  }
  if (mine || p.moderate) out.push(btn('delete', 'Delete', mine ? 'Delete your message' : `Delete the message from ${who}`, 'btn-danger'));
  if (!mine && p.moderate && m.from) out.push(btn('mute', 'Mute 10 min', `Mute ${who} in the chat for 10 minutes`));
  return out;
}

/**
 * Says what a refused chat request means, for the person who sent it.
 * @param {{code: string, message: string, retry_after_ms?: number}} err
 * @returns {string}
 */
export function errorText(err) {
  const secs = Math.max(1, Math.ceil((err.retry_after_ms || 0) / 1000));
  switch (err.code) {
    case 'chat_rate_limited':
      return `You are sending messages too fast. Wait ${secs} s and send again.`;
    case 'chat_slow_mode':
      return `Slow mode is on in this room: you can send again in ${secs} s.`;
    case 'chat_muted':
      return `A moderator muted you in this chat. You can write again in ${duration(secs)}.`;
    case 'offline':
      return 'Not connected to the chat. Your message was not sent; it is still in the box.';
    case 'permission_denied':
      return `Not allowed: ${err.message}.`;
    default:
      return sentence(err.message || 'The chat refused this request.');
  }
}

/** @param {number} secs */
function duration(secs) {
  if (secs < 90) return `${secs} s`;
  if (secs < 5400) return `${Math.round(secs / 60)} min`;
  return `${Math.round(secs / 3600)} h`;
}

/** @param {string} s */
function sentence(s) {
  s = s.charAt(0).toUpperCase() + s.slice(1);
  return /[.!?]$/.test(s) ? s : s + '.';
}
