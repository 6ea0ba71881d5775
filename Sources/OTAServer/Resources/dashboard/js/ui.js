// Shared UI pieces: error panels, toasts and confirmation dialogs.
import { h } from './dom.js';

export function errorPanel(error, retry) {
  const notFound = error && error.status === 404;
  const forbidden = error && error.status === 403;
  return h('div', { class: 'panel error-panel', role: 'alert' },
    h('h2', null, notFound ? 'Not found' : forbidden ? 'Not allowed' : 'Something went wrong'),
    h('p', null, error && error.message ? error.message : String(error)),
    retry ? h('button', { type: 'button', class: 'btn', onclick: retry }, 'Try again') : null);
}

// ---- toasts and confirmation dialogs --------------------------------------------------

export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  if (!box) return;
  const item = h('div', { class: ['toast', 'toast-' + kind], role: kind === 'error' ? 'alert' : 'status' }, message);
  box.appendChild(item);
  setTimeout(() => item.classList.add('toast-out'), 4200);
  setTimeout(() => item.remove(), 4700);
}

/**
 * Asks before doing something. Resolves to {reason} when confirmed, or null.
 * options: {title, body, confirm, danger, reason: true to offer an optional reason}
 */
export function confirmDialog({ title, body, confirm = 'Confirm', danger = false, reason = false }) {
  return new Promise((resolve) => {
    const reasonInput = reason ? h('textarea', { id: 'confirm-reason', rows: 3, maxlength: 1000, placeholder: 'Optional: why (kept in the audit log)' }) : null;
    const confirmButton = h('button', { type: 'submit', class: ['btn', danger ? 'btn-danger' : 'btn-primary'], id: 'confirm-ok', value: 'ok' }, confirm);
    const cancelButton = h('button', { type: 'button', class: 'btn', id: 'confirm-cancel' }, 'Keep as is');
    const form = h('form', { method: 'dialog', class: 'dialog-form' },
      h('h2', null, title),
      Array.isArray(body) ? body.map((p) => h('p', null, p)) : h('p', null, body),
      reason ? [h('label', { for: 'confirm-reason' }, 'Reason'), reasonInput] : null,
      h('div', { class: 'dialog-actions' }, cancelButton, confirmButton));
    const dialog = h('dialog', { class: 'dialog', id: 'confirm-dialog' }, form);
    let result = null;
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      result = { reason: reasonInput ? reasonInput.value.trim() : '' };
      dialog.close();
    });
    cancelButton.addEventListener('click', () => dialog.close());
    dialog.addEventListener('close', () => { dialog.remove(); resolve(result); });
    document.body.appendChild(dialog);
    dialog.showModal();
    (reasonInput || confirmButton).focus();
  });
}

// ---- layout pieces ------------------------------------------------------------------------

export function card(title, body, { id, action, class: cls, dataset } = {}) {
  return h('section', { class: ['card', cls], id, dataset },
    h('div', { class: 'card-head' }, h('h2', null, title), action || null),
    body);
}

export function empty(text, ...extra) {
  return h('div', { class: 'empty-small' }, h('p', null, text), ...extra);
}

/** A term and its description for a <dl class="kv">. */
export function kv(key, value) {
  return [h('dt', null, key), h('dd', null, value)];
}

/** Lets a whole table row open its page, leaving links and text selection alone. */
export function rowClick(href) {
  return (event) => {
    if (event.target.closest('a, button, input, select') || String(window.getSelection() || '')) return;
    location.hash = href;
  };
}
