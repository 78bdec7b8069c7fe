// dom.js: small DOM helpers shared by Lectern's pages: building elements
// without innerHTML (names and messages come from users), toasts announced to
// screen readers, copy buttons, a confirm dialog and form field errors.

/**
 * Creates an element. Props: `class`, `text`, `on<event>` handlers, `aria-*`,
 * `data-*` and other attributes; booleans set or omit the attribute, and
 * `value`, `checked`, `disabled` and `selected` are set as properties.
 * Children may be nodes, strings, or null (skipped).
 * @param {string} tag
 * @param {Record<string, any>} [props]
 * @param {...(Node|string|null|undefined|false)} children
 * @returns {HTMLElement}
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'selected') /** @type {any} */ (el)[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c !== null && c !== undefined && c !== false) el.append(c);
  }
  return el;
}

/** @param {string} id @returns {HTMLElement} the element, which must exist */
export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`no element #${id}`);
  return el;
}

/** The region toasts appear in; created on first use. */
function toastRegion() {
  let region = document.getElementById('toasts');
  if (!region) {
    region = h('div', { id: 'toasts', class: 'toast-region', role: 'status', 'aria-live': 'polite' });
    document.body.append(region);
  }
  return region;
}

/**
 * Shows a short message for a few seconds and announces it to screen
 * readers. Errors stay longer.
 * @param {string} message
 * @param {'info'|'error'} [kind]
 */
export function toast(message, kind = 'info') {
  const el = h('div', { class: `toast ${kind === 'error' ? 'error' : ''}`, text: message });
  const region = toastRegion();
  region.append(el);
  // A burst of actions shows the latest few, not a wall over the page.
  while (region.childElementCount > 3) region.firstElementChild.remove();
  setTimeout(() => el.remove(), kind === 'error' ? 8000 : 3500);
}

/**
 * Copies text to the clipboard. The async clipboard needs a secure context;
 * elsewhere a hidden textarea and execCommand do it.
 * @param {string} text
 * @returns {Promise<boolean>} whether it worked
 */
export async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // Denied or unfocused: try the old way below.
  }
  const ta = /** @type {HTMLTextAreaElement} */ (h('textarea', { class: 'visually-hidden', readonly: true, 'aria-hidden': 'true', value: text }));
  document.body.append(ta);
  ta.select();
  let ok = false;
  try { ok = document.execCommand('copy'); } catch { ok = false; }
  ta.remove();
  return ok;
}

/**
 * A button that copies what text() returns and says so.
 * @param {() => string} text
 * @param {string} what  what is copied, for the label and the toast ("PIN")
 * @param {string} [label]  the visible label, "Copy" by default
 * @returns {HTMLButtonElement}
 */
export function copyButton(text, what, label = 'Copy') {
  const btn = /** @type {HTMLButtonElement} */ (h('button', {
    type: 'button', class: 'btn btn-small', text: label, 'aria-label': `${label} ${what}`,
  }));
  btn.addEventListener('click', async () => {
    const ok = await copyText(text());
    toast(ok ? `Copied ${what}.` : `Could not copy the ${what}: select it and copy it by hand.`, ok ? 'info' : 'error');
  });
  return btn;
}

/**
 * Asks the user to confirm an action in a modal dialog.
 * @param {{title: string, body: string, confirm: string, danger?: boolean}} opts
 * @returns {Promise<boolean>}
 */
export function confirmDialog({ title, body, confirm, danger = false }) {
  const dialog = /** @type {HTMLDialogElement} */ (h('dialog', { 'aria-labelledby': 'confirm-title', class: 'confirm' }));
  const ok = h('button', { type: 'submit', value: 'yes', class: `btn ${danger ? 'btn-danger btn-solid' : 'btn-primary'}`, text: confirm });
  const form = h('form', { method: 'dialog' },
    h('h2', { id: 'confirm-title', text: title }),
    h('p', { text: body }),
    h('div', { class: 'form-actions' },
      h('button', { type: 'submit', value: 'no', class: 'btn', text: 'Cancel' }),
      ok));
  dialog.append(form);
  document.body.append(dialog);
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'yes');
      dialog.remove();
    });
    dialog.showModal();
    ok.focus();
  });
}

/**
 * Shows message under the form control named field (the element with id
 * `<control id>-error`) and marks the control invalid. Returns false when
 * the form has no such control.
 * @param {HTMLFormElement} form
 * @param {string} field
 * @param {string} message
 * @returns {boolean}
 */
export function showFieldError(form, field, message) {
  const out = fieldErrorOf(form, field);
  if (!out) return false;
  out.textContent = message;
  const control = controlOf(form, field);
  control?.setAttribute('aria-invalid', 'true');
  return true;
}

/**
 * The control of a field: the element named field, or the first of a group
 * of radio buttons.
 * @param {HTMLFormElement} form
 * @param {string} field
 * @returns {HTMLElement|null}
 */
function controlOf(form, field) {
  const c = form.elements.namedItem(field);
  if (c instanceof RadioNodeList) return /** @type {HTMLElement} */ (c[0]) || null;
  return c instanceof HTMLElement ? c : null;
}

/**
 * The error element of a field: one marked data-error-for="<field>", else
 * the one with the id `<control id>-error`.
 * @param {HTMLFormElement} form
 * @param {string} field
 * @returns {HTMLElement|null}
 */
function fieldErrorOf(form, field) {
  const marked = form.querySelector(`[data-error-for="${CSS.escape(field)}"]`);
  if (marked instanceof HTMLElement) return marked;
  const control = controlOf(form, field);
  return control?.id ? document.getElementById(`${control.id}-error`) : null;
}

/**
 * Clears every field error of the form and its form-level notice
 * (`.form-error`).
 * @param {HTMLFormElement} form
 */
export function clearErrors(form) {
  for (const el of form.querySelectorAll('.field-error, .form-error')) el.textContent = '';
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
}

/**
 * Shows an API error on a form: next to the field it names when the form has
 * that field (focusing it), else in the form's `.form-error` notice.
 * @param {HTMLFormElement} form
 * @param {{field?: string, detail?: string, message: string}} err
 * @param {Record<string, string>} [aliases]  error fields shown on other controls
 */
export function showFormError(form, err, aliases = {}) {
  const field = aliases[err.field || ''] || err.field || '';
  if (field && showFieldError(form, field, err.detail || err.message)) {
    controlOf(form, field)?.focus();
    return;
  }
  const box = form.querySelector('.form-error');
  if (box) box.textContent = err.detail || err.message;
  else toast(err.message, 'error');
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/**
 * Formats an API timestamp for people.
 * @param {string} iso
 * @returns {string}
 */
export function formatDate(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : dateFormat.format(d);
}
