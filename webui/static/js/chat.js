// chat.js: the chat widget every room page mounts (watch, studio, room). It
// speaks the chat websocket (docs/protocol.md "Chat"): history, then live
// messages; after a lost connection it reconnects with after=<last seq>, so
// nothing is missed or shown twice. Webinar audiences ask questions that
// moderators approve; moderators get a Q&A queue with Approve, Answered and
// Delete. Everything people wrote is set as text, never as HTML.
//
//   import { mountChat } from '/js/chat.js';
//   const chat = mountChat(el, { room, token, permissions, mode });
//   chat.close();

import { h } from '/js/dom.js';
import { errorText, messageItem } from '/js/chat-items.js';
import { client, path } from '/js/api.js';

/** Reconnection delays in ms, then the last one again. */
const BACKOFF = [500, 1000, 2000, 4000, 8000];
/** Messages one "Show earlier messages" loads. */
const PAGE = 50;
let widgets = 0;

/**
 * Mounts a chat into container.
 * @param {HTMLElement} container
 * @param {{room: string, token: string, permissions: import('/js/session.js').Permissions, mode: string}} opts
 *   mode: the room's mode, 'conference' or 'webinar'
 * @returns {{close: () => void}}
 */
export function mountChat(container, opts) {
  return new ChatWidget(container, opts);
}

class ChatWidget {
  /**
   * @param {HTMLElement} container
   * @param {{room: string, token: string, permissions: import('/js/session.js').Permissions, mode: string}} opts
   */
  constructor(container, { room, token, permissions, mode }) {
    this.room = room;
    this.token = token;
    this.mode = mode;
    /** @type {import('/js/chat-items.js').Viewer} */
    this.viewer = { identity: '', permissions, audience: false };
    this.settings = { questions: false, slow_mode_seconds: 0 };
    /** @type {Map<number, import('/js/chat-items.js').Message>} */
    this.messages = new Map();
    /** @type {Map<string, string>} display names by identity */
    this.names = new Map();
    this.lastSeq = 0;
    /** Set once the first backlog was read: later ones resume, not start from the latest. */
    this.resumed = false;
    this.attempt = 0;
    this.closed = false;
    this.ready = false;
    /** @type {WebSocket|null} */
    this.ws = null;
    /** @type {Map<string, (reply: any) => void>} */
    this.pending = new Map();
    this.nextID = 0;
    this.to = '';
    this.build(container, `chat${++widgets}`);
    this.connect();
  }

  /** Builds the widget's elements; p prefixes their ids. @param {HTMLElement} container @param {string} p */
  build(container, p) {
    const webinar = this.mode === 'webinar';
    this.tabAll = h('button', { type: 'button', role: 'tab', id: `${p}-tab-all`, 'aria-selected': 'true', 'aria-controls': `${p}-list`, text: 'Chat' });
    this.qaCount = h('span', { class: 'badge chat-count', hidden: true });
    this.tabQA = h('button', { type: 'button', role: 'tab', id: `${p}-tab-qa`, 'aria-selected': 'false', 'aria-controls': `${p}-qa`, tabindex: '-1' }, 'Questions ', this.qaCount);
    const tabs = webinar ? h('div', { class: 'chat-tabs', role: 'tablist', 'aria-label': 'Chat views' }, this.tabAll, this.tabQA) : null;
    for (const [tab, show] of /** @type {[HTMLElement, 'all'|'qa'][]} */ ([[this.tabAll, 'all'], [this.tabQA, 'qa']])) tab.addEventListener('click', () => this.showTab(show));
    tabs?.addEventListener('keydown', (ev) => {
      if (ev.key !== 'ArrowLeft' && ev.key !== 'ArrowRight') return;
      this.showTab(this.tabAll.getAttribute('aria-selected') === 'true' ? 'qa' : 'all');
      (this.tabAll.getAttribute('aria-selected') === 'true' ? this.tabAll : this.tabQA).focus();
    });
    this.status = h('p', { class: 'chat-status', role: 'status', text: 'Connecting to the chat…' });
    this.list = h('ol', { class: 'chat-list', id: `${p}-list`, role: webinar ? 'tabpanel' : null, 'aria-labelledby': webinar ? `${p}-tab-all` : null, 'aria-label': webinar ? null : 'Chat messages', 'aria-live': 'polite', tabindex: '0' });
    this.qa = h('ol', { class: 'chat-list chat-qa', id: `${p}-qa`, role: 'tabpanel', 'aria-labelledby': `${p}-tab-qa`, 'aria-live': 'polite', tabindex: '0', hidden: true });
    this.empty = h('p', { class: 'chat-empty muted', text: 'No messages yet.', hidden: true });
    this.earlierBtn = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: 'btn btn-link chat-earlier', hidden: true, text: 'Show earlier messages' }));
    this.earlierBtn.addEventListener('click', () => this.loadEarlier());
    this.input = /** @type {HTMLTextAreaElement} */ (h('textarea', { id: `${p}-text`, rows: '2', maxlength: '4000', 'aria-describedby': `${p}-error ${p}-hint` }));
    this.label = h('label', { for: `${p}-text`, class: 'visually-hidden', text: 'Message' });
    this.sendBtn = /** @type {HTMLButtonElement} */ (h('button', { type: 'submit', class: 'btn btn-primary', text: 'Send' }));
    this.error = h('p', { class: 'chat-error', id: `${p}-error`, role: 'alert' });
    this.hint = h('p', { class: 'hint chat-hint', id: `${p}-hint` });
    this.toBox = h('div', { class: 'chat-to', hidden: true });
    this.form = /** @type {HTMLFormElement} */ (h('form', { class: 'chat-composer', novalidate: true, hidden: true },
      this.toBox, this.label, h('div', { class: 'chat-compose-row' }, this.input, this.sendBtn), this.error, this.hint));
    this.readonly = h('p', { class: 'chat-readonly muted', hidden: true, text: 'You can read the chat. Your invitation does not include writing in it.' });
    this.root = h('div', { class: 'chat' }, tabs, this.status, h('div', { class: 'chat-lists' }, this.earlierBtn, this.list, this.qa, this.empty), this.form, this.readonly);
    container.replaceChildren(this.root);
    this.form.addEventListener('submit', (ev) => { ev.preventDefault(); this.submit(); });
    this.input.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        this.submit();
      }
    });
    this.input.addEventListener('input', () => { if (!this.wait) this.error.textContent = ''; });
  }

  /** @param {'all'|'qa'} which */
  showTab(which) {
    const qa = which === 'qa';
    this.tabAll.setAttribute('aria-selected', String(!qa));
    this.tabQA.setAttribute('aria-selected', String(qa));
    this.tabAll.tabIndex = qa ? -1 : 0;
    this.tabQA.tabIndex = qa ? 0 : -1;
    this.list.hidden = qa;
    this.qa.hidden = !qa;
    this.renderEmpty();
  }

  connect() {
    if (this.closed) return;
    const q = new URLSearchParams({ token: this.token });
    if (this.lastSeq > 0) q.set('after', String(this.lastSeq));
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${scheme}//${location.host}/api/v1/rooms/${encodeURIComponent(this.room)}/chat/ws?${q}`);
    this.ws = ws;
    ws.onmessage = (ev) => {
      let f;
      try { f = JSON.parse(ev.data); } catch { return; }
      this.onFrame(f);
    };
    ws.onclose = (ev) => { if (this.ws === ws) this.onClose(ev); };
  }

  /** @param {any} f  one server frame */
  onFrame(f) {
    switch (f.type) {
      case 'chat_welcome': {
        this.attempt = 0;
        const p = f.permissions;
        this.mode = f.mode || this.mode;
        this.settings = f.chat || this.settings;
        this.viewer = { identity: f.identity, permissions: p, audience: this.mode === 'webinar' && !p.publish && !p.moderate };
        this.names.set(f.identity, f.name);
        this.setupComposer();
        break;
      }
      case 'chat':
        for (const ev of f.events || []) {
          this.upsert(ev.message);
          this.lastSeq = Math.max(this.lastSeq, ev.message.seq);
        }
        break;
      case 'chat_ready':
        // A resumed connection says nothing of older messages: keep what the first said.
        if (!this.resumed) this.earlierBtn.hidden = !f.earlier;
        this.resumed = true;
        this.lastSeq = Math.max(this.lastSeq, f.seq || 0);
        this.ready = true;
        this.status.hidden = true;
        this.status.textContent = '';
        this.root.dataset.state = 'ready';
        this.renderEmpty();
        this.scrollDown(true);
        break;
      default: {
        const done = f.id && this.pending.get(f.id);
        if (done) {
          this.pending.delete(f.id);
          done(f);
        }
      }
    }
  }

  /** @param {CloseEvent} ev */
  onClose(ev) {
    this.ws = null;
    this.ready = false;
    for (const done of this.pending.values()) done({ type: 'error', code: 'offline', message: 'connection lost' });
    this.pending.clear();
    if (this.closed) return;
    this.root.dataset.state = 'offline';
    this.status.hidden = false;
    if (ev.code === 4003 || ev.code === 4004) {
      this.status.textContent = ev.code === 4003 ? 'You can no longer read this chat.' : 'This room was deleted.';
      this.form.hidden = true;
      return;
    }
    this.status.textContent = 'Connection to the chat lost. Reconnecting…';
    const delay = BACKOFF[Math.min(this.attempt++, BACKOFF.length - 1)];
    setTimeout(() => this.connect(), delay);
  }

  /** Shows the composer as the viewer's permissions allow. */
  setupComposer() {
    const v = this.viewer;
    const send = v.permissions.send;
    this.form.hidden = !send;
    this.readonly.hidden = send;
    const slow = this.settings.slow_mode_seconds > 0 && !v.permissions.moderate
      ? `Slow mode: one message every ${this.settings.slow_mode_seconds} s. ` : '';
    if (v.audience) {
      this.label.textContent = 'Your question';
      this.input.placeholder = 'Ask the speakers a question';
      this.sendBtn.textContent = 'Ask';
      this.hint.textContent = `${slow}A moderator approves questions before everyone sees them.`;
    } else {
      this.label.textContent = 'Message';
      this.input.placeholder = 'Write a message';
      this.sendBtn.textContent = 'Send';
      this.hint.textContent = slow + (this.mode === 'webinar' ? 'Everyone in the room sees your messages.' : '');
    }
  }

  /** Loads the page of history before the oldest message shown, keeping the view where it was. */
  async loadEarlier() {
    const btn = this.earlierBtn;
    const oldest = Math.min(...this.messages.keys());
    if (!Number.isFinite(oldest)) { btn.hidden = true; return; }
    btn.disabled = true;
    btn.textContent = 'Loading…';
    try {
      const page = await client(this.token).get(path`/rooms/${this.room}/messages` + `?before=${oldest}&limit=${PAGE}`);
      const lists = [this.list, this.qa];
      const before = lists.map((el) => el.scrollHeight - el.scrollTop);
      for (const m of page.messages || []) this.upsert(m, true);
      lists.forEach((el, i) => { el.scrollTop = el.scrollHeight - before[i]; });
      btn.hidden = !page.next_before;
      if (btn.hidden) (this.list.hidden ? this.qa : this.list).focus();
    } catch (err) {
      this.showError({ code: err.code || 'network', message: err.message || 'The earlier messages could not be loaded.' });
    } finally {
      btn.disabled = false;
      btn.textContent = 'Show earlier messages';
    }
  }

  /**
   * @param {import('/js/chat-items.js').Message} m
   * @param {boolean} [older]  a message from history above the others: the view does not follow it
   */
  upsert(m, older = false) {
    this.messages.set(m.id, m);
    if (m.from && m.from_name) this.names.set(m.from, m.from_name);
    const opts = { names: this.names, act: /** @type {import('/js/chat-items.js').Act} */ ((a, msg) => this.act(a, msg)) };
    const stick = !older && this.nearBottom(this.list);
    const inTimeline = m.kind !== 'question' || m.state !== 'pending' || m.from === this.viewer.identity || !!m.deleted_at || this.mode !== 'webinar';
    place(this.list, m.id, inTimeline ? messageItem(m, this.viewer, { ...opts, queue: false }) : null);
    if (this.mode === 'webinar') place(this.qa, m.id, m.kind === 'question' ? messageItem(m, this.viewer, { ...opts, queue: true }) : null);
    const pendingCount = [...this.messages.values()].filter((x) => x.kind === 'question' && x.state === 'pending' && !x.deleted_at).length;
    this.qaCount.hidden = !pendingCount || !this.viewer.permissions.moderate;
    this.qaCount.textContent = String(pendingCount);
    this.qaCount.setAttribute('aria-label', `${pendingCount} waiting for approval`);
    this.renderEmpty();
    if (stick) this.scrollDown(false);
  }

  renderEmpty() {
    const shown = this.qa.hidden ? this.list : this.qa;
    this.empty.textContent = this.qa.hidden ? 'No messages yet.' : 'No questions yet.';
    this.empty.hidden = !this.ready || shown.childElementCount > 0;
  }

  /** @param {HTMLElement} el */
  nearBottom(el) {
    return el.scrollHeight - el.scrollTop - el.clientHeight < 80;
  }

  /** @param {boolean} all  both lists, after the backlog */
  scrollDown(all) {
    for (const el of all ? [this.list, this.qa] : [this.list, this.qa].filter((x) => !x.hidden)) el.scrollTop = el.scrollHeight;
  }

  /**
   * Sends a request frame and resolves with its reply.
   * @param {Record<string, any>} frame
   * @returns {Promise<any>}
   */
  request(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || !this.ready) {
      return Promise.resolve({ type: 'error', code: 'offline', message: 'not connected' });
    }
    const id = String(++this.nextID);
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.ws.send(JSON.stringify({ ...frame, id }));
    });
  }

  async submit() {
    const text = this.input.value.trim();
    if (!text || this.sendBtn.disabled) return;
    this.sendBtn.disabled = true;
    this.error.textContent = '';
    /** @type {{type: string, text: string, to?: string}} */
    const frame = { type: 'chat_send', text };
    if (this.to) frame.to = this.to;
    const reply = await this.request(frame);
    this.sendBtn.disabled = false;
    if (reply.type === 'chat_sent') {
      this.input.value = '';
      if (reply.chat) this.upsert(reply.chat);
      this.scrollDown(false);
      return;
    }
    this.showError(reply);
  }

  /** @param {{code: string, message: string, retry_after_ms?: number}} err */
  showError(err) {
    this.error.textContent = errorText(err);
    this.root.dataset.error = err.code;
    const ms = err.retry_after_ms || 0;
    if (ms > 0 && ms < 120000) {
      clearTimeout(this.wait);
      this.sendBtn.disabled = true;
      this.wait = setTimeout(() => {
        this.wait = 0;
        this.sendBtn.disabled = false;
        this.error.textContent = '';
      }, ms);
    }
  }

  /**
   * Carries out a message's button.
   * @param {string} action
   * @param {import('/js/chat-items.js').Message} m
   */
  async act(action, m) {
    if (action === 'reply') {
      this.setTo(m.from);
      return;
    }
    /** @type {Record<string, object>} */
    const frames = {
      approve: { type: 'chat_approve', message: m.id },
      answer: { type: 'chat_answer', message: m.id },
      delete: { type: 'chat_delete', message: m.id },
      mute: { type: 'chat_mute', identity: m.from, seconds: 600 },
    };
    const reply = await this.request(frames[action]);
    if (reply.type === 'error') this.showError(reply);
    else if (reply.chat) this.upsert(reply.chat);
    else if (action === 'mute') this.hint.textContent = `${m.from_name || m.from} cannot write in the chat for 10 minutes.`;
  }

  /** @param {string} identity  the recipient of the next messages, '' for everyone */
  setTo(identity) {
    this.to = identity;
    this.toBox.hidden = !identity;
    if (identity) {
      const name = this.names.get(identity) || identity;
      this.toBox.replaceChildren(h('span', {}, 'Private message to ', h('strong', { text: name })),
        h('button', { type: 'button', class: 'btn btn-link', text: 'Write to everyone', onclick: () => this.setTo('') }));
    }
    this.input.focus();
  }

  /** Leaves the chat for good. */
  close() {
    this.closed = true;
    clearTimeout(this.wait);
    this.ws?.close(1000, 'left');
    this.ws = null;
  }
}

/**
 * Puts item into list in message-id order, replacing the item of the same
 * message; a null item removes it.
 * @param {HTMLElement} list
 * @param {number} id
 * @param {HTMLElement|null} item
 */
function place(list, id, item) {
  const old = list.querySelector(`:scope > [data-id="${id}"]`);
  if (old) {
    if (item) old.replaceWith(item);
    else old.remove();
    return;
  }
  if (!item) return;
  let before = null;
  for (let el = list.lastElementChild; el; el = el.previousElementSibling) {
    if (Number(/** @type {HTMLElement} */ (el).dataset.id) < id) break;
    before = el;
  }
  list.insertBefore(item, before);
}
