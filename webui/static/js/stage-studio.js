// stage-studio.js: the moderators' side of the stage in the studio
// (docs/protocol.md "The stage"): raised hands in the order they were raised,
// with Invite and Dismiss; open invitations, which a moderator may withdraw;
// guests on stage, who appear among the people (and in the On air choice)
// like any co-presenter, and whom a moderator sends back to the audience.

import { h, toast } from '/js/dom.js';
import { openStage } from '/js/stage-socket.js';

/** Pause before opening a lost stage socket again, in ms. */
const REOPEN = 2000;

/**
 * Shows #stage-card to moderators and keeps it live.
 * @param {import('/js/call.js').Call} call
 * @param {HTMLElement} card  holds .stage-queue and .stage-count
 */
export function bindStageStudio(call, card) {
  if (!call.permissions.moderate) return;
  card.hidden = false;
  const queue = /** @type {HTMLElement} */ (card.querySelector('.stage-queue'));
  const count = /** @type {HTMLElement} */ (card.querySelector('.stage-count'));
  /** @type {import('/js/stage-socket.js').StageState} */
  let state = { hands: [], invitations: [], guests: [] };
  /** @type {import('/js/stage-socket.js').StageSocket|null} */ let sock = null;

  /** @param {any} ev */
  const apply = (ev) => {
    /** @template {{identity: string}} T @param {T[]} list @returns {T[]} */
    const drop = (list) => list.filter((x) => x.identity !== ev.identity);
    switch (ev.event) {
      case 'hand_raised': state.hands = [...drop(state.hands), ev.hand]; break;
      case 'hand_lowered': case 'hand_dismissed': state.hands = drop(state.hands); break;
      case 'invited': state.hands = drop(state.hands); state.invitations = [...drop(state.invitations), ev.invitation]; break;
      case 'invitation_declined': case 'invitation_withdrawn': case 'invitation_expired': state.invitations = drop(state.invitations); break;
      case 'guest_joined': state.invitations = drop(state.invitations); state.guests = [...drop(state.guests), ev.guest]; break;
      case 'guest_left': state.guests = drop(state.guests); break;
      default:
    }
  };

  /** Sends a moderator's request about identity, saying what failed. @param {string} type @param {string} identity @param {string} what */
  const act = (type, identity, what) => {
    if (!sock) return;
    sock.request(type, { identity }).catch((err) => toast(`Could not ${what}: ${err.reason || err.message}`, 'error'));
  };

  const draw = () => {
    count.textContent = String(state.hands.length);
    /** @param {string} iso */
    const time = (iso) => new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    const rows = [
      ...state.guests.map((g) => h('li', { class: 'stage-row', 'data-identity': g.identity, 'data-state': 'on-stage' },
        h('span', { class: 'stage-name', text: g.name }), h('span', { class: 'badge badge-accent', text: 'On stage' }),
        h('button', { type: 'button', class: 'btn btn-small', 'data-action': 'end', text: 'Back to audience', 'aria-label': `Send ${g.name} back to the audience`,
          onclick: () => act('stage_end', g.identity, `end ${g.name}'s turn`) }))),
      ...state.invitations.map((i) => h('li', { class: 'stage-row', 'data-identity': i.identity, 'data-state': 'invited' },
        h('span', { class: 'stage-name', text: i.name }), h('span', { class: 'badge', text: 'Invited' }),
        h('button', { type: 'button', class: 'btn btn-small', 'data-action': 'withdraw', text: 'Withdraw', 'aria-label': `Withdraw the invitation of ${i.name}`,
          onclick: () => act('stage_withdraw', i.identity, 'withdraw the invitation') }))),
      ...state.hands.map((hd, n) => h('li', { class: 'stage-row', 'data-identity': hd.identity, 'data-state': 'raised' },
        h('span', { class: 'stage-name', text: `${n + 1}. ${hd.name}` }), h('time', { class: 'muted', datetime: hd.raised_at, text: time(hd.raised_at) }),
        h('span', { class: 'row' },
          h('button', { type: 'button', class: 'btn btn-small btn-primary', 'data-action': 'invite', text: 'Invite', 'aria-label': `Invite ${hd.name} on stage`,
            onclick: () => act('stage_invite', hd.identity, `invite ${hd.name}`) }),
          h('button', { type: 'button', class: 'btn btn-small', 'data-action': 'dismiss', text: 'Dismiss', 'aria-label': `Lower the hand of ${hd.name}`,
            onclick: () => act('stage_dismiss', hd.identity, 'dismiss the hand') })))),
    ];
    queue.replaceChildren(rows.length ? h('ul', { class: 'stage-list' }, ...rows) : h('p', { class: 'muted', text: 'No raised hands.' }));
  };

  const open = async () => {
    if (call.ended) return;
    try {
      const s = await openStage(call.roomId, call.join.token);
      sock = s;
      state = s.welcome.state;
      s.on('event', (ev) => { apply(ev); draw(); });
      s.on('close', () => { sock = null; setTimeout(open, REOPEN); });
      draw();
    } catch {
      setTimeout(open, REOPEN);
    }
  };
  draw();
  open();
}
