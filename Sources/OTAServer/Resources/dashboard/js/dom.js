// DOM helpers. Every value is inserted as text (createTextNode / textContent) or set as a
// single attribute with setAttribute: nothing here ever parses a string as markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

function appendChildren(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

function applyProps(el, props) {
  if (!props) return;
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.setAttribute('class', Array.isArray(value) ? value.filter(Boolean).join(' ') : value);
    else if (key === 'text') el.textContent = String(value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'value') el.value = value;
    else if (key === 'checked' || key === 'disabled' || key === 'selected') el[key] = Boolean(value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
}

/** An HTML element: h('td', {class: 'num'}, 'text', childNode, ...). */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  applyProps(el, props);
  appendChildren(el, children);
  return el;
}

/** An SVG element built with DOM APIs. */
export function s(tag, props, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  applyProps(el, props);
  appendChildren(el, children);
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replace(el, ...children) {
  clear(el);
  appendChildren(el, children);
  return el;
}

/** A link inside the dashboard. `parts` are encoded one by one: '#/devices/' + encodeURIComponent(id). */
export function route(...parts) {
  return '#/' + parts.map((p) => encodeURIComponent(String(p))).join('/');
}

export function link(href, props, ...children) {
  return h('a', { ...(props || {}), href }, ...children);
}

// ---- formatting ---------------------------------------------------------------------------

const numberFormat = new Intl.NumberFormat('en-US');
export const fmtNum = (n) => numberFormat.format(n ?? 0);

export function fmtPercent(part, whole, digits = 0) {
  if (!whole) return '0%';
  const value = (100 * part) / whole;
  if (value > 0 && value < 1 && digits === 0) return '<1%';
  return value.toFixed(digits) + '%';
}

export function fmtBytes(bytes) {
  if (bytes === null || bytes === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = Number(bytes);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return (unit === 0 ? String(value) : value.toFixed(value < 10 ? 1 : 0)) + ' ' + units[unit];
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86400) return `${+(seconds / 3600).toFixed(1)} h`;
  return `${+(seconds / 86400).toFixed(1)} d`;
}

export function parseTime(iso) {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : new Date(t);
}

export function fmtTime(iso) {
  const d = parseTime(iso);
  if (!d) return iso ? String(iso) : '—';
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtAgo(iso) {
  const d = parseTime(iso);
  if (!d) return iso ? String(iso) : 'never';
  const seconds = Math.round((Date.now() - d.getTime()) / 1000);
  if (seconds < -5) return 'in the future';
  if (seconds < 10) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

/** A relative time whose tooltip is the exact local time. */
export function timeAgo(iso) {
  return h('time', { datetime: iso || '', title: iso ? fmtTime(iso) : '' }, fmtAgo(iso));
}

/** RFC 3339 without fractional seconds, `seconds` before now. */
export function isoAgo(seconds) {
  return new Date(Date.now() - seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function shortDigest(hex, length = 12) {
  return hex ? String(hex).slice(0, length) : '—';
}

// ---- semantic versions (for ordering only) ---------------------------------------------

export function compareVersions(a, b) {
  const parse = (v) => {
    const [core, pre] = String(v).split('+')[0].split(/-(.*)/s);
    return { core: core.split('.').map((x) => parseInt(x, 10) || 0), pre: pre ? pre.split('.') : null };
  };
  const x = parse(a);
  const y = parse(b);
  for (let i = 0; i < 3; i += 1) if (x.core[i] !== y.core[i]) return (x.core[i] || 0) - (y.core[i] || 0);
  if (!x.pre && !y.pre) return 0;
  if (!x.pre) return 1;
  if (!y.pre) return -1;
  for (let i = 0; i < Math.max(x.pre.length, y.pre.length); i += 1) {
    if (x.pre[i] === undefined) return -1;
    if (y.pre[i] === undefined) return 1;
    const nx = /^\d+$/.test(x.pre[i]);
    const ny = /^\d+$/.test(y.pre[i]);
    if (nx && ny && +x.pre[i] !== +y.pre[i]) return +x.pre[i] - +y.pre[i];
    if (nx !== ny) return nx ? -1 : 1;
    if (x.pre[i] !== y.pre[i]) return x.pre[i] < y.pre[i] ? -1 : 1;
  }
  return 0;
}

// ---- states ----------------------------------------------------------------------------

/** Device states (what a device last reported) and rollout states (counts per deployment). */
export const DEVICE_STATES = ['idle', 'downloading', 'downloaded', 'shadow', 'installing', 'health-check', 'succeeded', 'failed', 'rolled-back', 'abandoned'];
export const ROLLOUT_STATES = ['pending', 'downloading', 'installing', 'succeeded', 'failed', 'rolled_back'];

const STATE_LABELS = {
  idle: 'idle', pending: 'pending', downloading: 'downloading', downloaded: 'downloaded', installing: 'installing',
  shadow: 'in shadow', 'health-check': 'health check', succeeded: 'succeeded', failed: 'failed', rolled_back: 'rolled back',
  'rolled-back': 'rolled back', abandoned: 'abandoned', active: 'active', paused: 'paused', completed: 'completed', cancelled: 'cancelled',
  committed: 'committed', trial: 'trial', accepted: 'accepted', rejected: 'rejected',
};

/** The CSS class suffix for a state: the same colour for 'rolled-back' and 'rolled_back'. */
export function stateKey(state) {
  const key = String(state || 'unknown').toLowerCase().replace(/_/g, '-');
  return /^[a-z-]+$/.test(key) ? key : 'unknown';
}

export function stateLabel(state) {
  return STATE_LABELS[state] || String(state);
}

export function badge(state, extra) {
  return h('span', { class: ['badge', 'st-' + stateKey(state), extra] }, stateLabel(state));
}

export function chip(text, props) {
  return h('span', { ...(props || {}), class: ['chip', props && props.class] }, text);
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
