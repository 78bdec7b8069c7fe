// admin-webhooks.js: the console's Webhooks card on the rooms view: where
// events go, how many wait to be delivered, the oldest of them with their
// attempts, next attempt and last error, and Retry now for when a receiver
// is back (GET /webhooks, POST /webhooks/retry; docs/webhooks.md).

import { formatDate, h, toast } from '/js/dom.js';

/**
 * @typedef {object} WaitingWebhook
 * @property {string} event_id
 * @property {string} type
 * @property {string} room
 * @property {string} created_at
 * @property {number} attempts
 * @property {string} next_attempt_at
 * @property {string} [last_error]
 */

/**
 * Renders the webhook outbox into el.
 * @param {import('/js/api.js').Client} api
 * @param {HTMLElement} el
 */
export async function renderWebhooks(api, el) {
  /** @type {{receiver: string, waiting: number, events: WaitingWebhook[]}} */
  let st;
  try {
    st = await api.get('/webhooks');
  } catch (err) {
    el.replaceChildren(h('p', { class: 'notice notice-error', text: `The webhook deliveries could not be loaded: ${err.message}` }));
    return;
  }
  const reload = () => renderWebhooks(api, el);
  const parts = [];
  if (!st.receiver && !st.waiting) {
    parts.push(h('p', { class: 'muted', text: 'Webhooks are off. Set webhook_url and webhook_secret to send room, broadcast, recording and question events to your backend.' }));
  } else {
    parts.push(h('p', { id: 'webhook-summary', text: st.waiting
      ? `${st.waiting} event${st.waiting === 1 ? '' : 's'} waiting for ${st.receiver || 'the receiver'}.`
      : `Every event was delivered to ${st.receiver}.` }));
  }
  if (st.events.length) {
    // A room's events go out in order: one behind an earlier event waits for it.
    const seen = new Set();
    /** @param {WaitingWebhook} e */
    const next = (e) => {
      const behind = seen.has(e.room);
      seen.add(e.room);
      if (behind) return 'After the room’s earlier events';
      return e.attempts ? formatDate(e.next_attempt_at) : 'Now';
    };
    parts.push(h('table', { class: 'cards webhooks' },
      h('caption', { class: 'visually-hidden', text: 'Webhook events waiting to be delivered, oldest first' }),
      h('thead', {}, h('tr', {}, ...['Event', 'Room', 'Attempts', 'Next attempt', 'Last error'].map((t) => h('th', { scope: 'col', text: t })))),
      h('tbody', {}, ...st.events.map((e) => h('tr', { 'data-event': e.event_id },
        h('td', { class: 'card-title' }, h('code', { text: e.type }), h('span', { class: 'muted', text: ` ${formatDate(e.created_at)}` })),
        h('td', { 'data-label': 'Room', text: e.room }),
        h('td', { 'data-label': 'Attempts', text: String(e.attempts) }),
        h('td', { 'data-label': 'Next attempt', text: next(e) }),
        h('td', { 'data-label': 'Last error', text: e.last_error || '—' }))))));
  }
  parts.push(h('div', { class: 'row mt-half' },
    st.waiting ? h('button', {
      type: 'button', class: 'btn btn-small btn-primary', id: 'retry-webhooks', text: 'Retry now',
      onclick: async () => {
        try {
          const { rescheduled } = await api.post('/webhooks/retry', {});
          toast(rescheduled ? `${rescheduled} event${rescheduled === 1 ? '' : 's'} will be tried again now.` : 'Nothing was waiting for a retry.');
        } catch (err) {
          toast(`The retry failed: ${err.message}`, 'error');
        }
        reload();
      },
    }) : null,
    h('button', { type: 'button', class: 'btn btn-small', id: 'refresh-webhooks', text: 'Refresh', onclick: reload })));
  el.replaceChildren(...parts);
}
