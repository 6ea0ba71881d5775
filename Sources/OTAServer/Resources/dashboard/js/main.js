// The fleet dashboard: sign-in, the header, hash routing and polling. Views live in views/.
import { h, replace, clear } from './dom.js';
import { errorPanel } from './ui.js';
import { session, probeRole, capabilities, onUnauthorized, ApiError } from './api.js';
import { renderOverview } from './views/overview.js';
import { renderRollouts, renderRollout } from './views/rollouts.js';
import { renderDevices, renderDevice } from './views/devices.js';
import { renderBundles, renderBundle } from './views/bundles.js';

const root = document.getElementById('app');
const ROLE_KEY = 'ota.dashboard.role';

const NAV = [
  { key: 'overview', label: 'Overview', href: '#/overview' },
  { key: 'rollouts', label: 'Rollouts', href: '#/rollouts' },
  { key: 'devices', label: 'Devices', href: '#/devices' },
  { key: 'bundles', label: 'Bundles', href: '#/bundles' },
];

const ROUTES = [
  { pattern: /^overview$/, nav: 'overview', view: renderOverview },
  { pattern: /^rollouts$/, nav: 'rollouts', view: renderRollouts },
  { pattern: /^rollouts\/([^/]+)$/, nav: 'rollouts', view: renderRollout },
  { pattern: /^devices$/, nav: 'devices', view: renderDevices },
  { pattern: /^devices\/([^/]+)$/, nav: 'devices', view: renderDevice },
  { pattern: /^bundles$/, nav: 'bundles', view: renderBundles },
  { pattern: /^bundles\/([^/]+)\/([^/]+)$/, nav: 'bundles', view: renderBundle },
];

let shell = null;       // {main, nav: {key: a}, role}
let generation = 0;     // bumps on every navigation; stale polls and renders stop

// ---- sign-in ----------------------------------------------------------------------------

function showSignIn(message, tone = 'error') {
  generation += 1;
  shell = null;
  document.title = 'Sign in · OTA fleet';
  const input = h('input', {
    id: 'token', type: 'password', name: 'token', autocomplete: 'off', spellcheck: 'false', required: true,
    'aria-describedby': 'token-help',
  });
  const error = h('p', { class: ['form-error', tone === 'info' && 'form-info'], role: 'alert', id: 'signin-error' }, message || '');
  const button = h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, 'Sign in');
  const form = h('form', { class: 'signin-form', novalidate: true },
    h('label', { for: 'token' }, 'Admin-API token'),
    input,
    h('p', { class: 'help', id: 'token-help' }, 'Create one with ', h('code', null, 'ota-server token create --role viewer'),
      '. It is kept in this browser tab only and sent to the server with each request.'),
    error,
    button);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) { error.textContent = 'Paste a token first.'; return; }
    button.disabled = true;
    button.textContent = 'Checking…';
    error.textContent = '';
    error.classList.remove('form-info');
    try {
      const role = await probeRole(token);
      session.token = token;
      sessionStorage.setItem(ROLE_KEY, role);
      if (!location.hash || location.hash === '#/' || location.hash === '#') history.replaceState(null, '', '#/overview');
      start(role);
    } catch (e) {
      error.textContent = e.status === 401 ? 'The server does not accept this token (unknown or revoked).' : e.message;
      button.disabled = false;
      button.textContent = 'Sign in';
    }
  });
  replace(root,
    h('div', { class: 'signin' },
      h('div', { class: 'signin-card' },
        h('div', { class: 'signin-brand' }, h('img', { src: '/ui/favicon.svg', alt: '', width: 40, height: 40 }),
          h('div', null, h('h1', null, 'OTA fleet'), h('p', { class: 'muted' }, 'Devices, rollouts and bundles at a glance'))),
        form)));
  input.focus();
}

function signOut(message, tone) {
  session.clear();
  sessionStorage.removeItem(ROLE_KEY);
  showSignIn(message, tone);
}

onUnauthorized(() => signOut('The server no longer accepts this token. Sign in again.'));

// ---- the shell ----------------------------------------------------------------------------

function buildShell(role) {
  const navLinks = {};
  const nav = h('nav', { class: 'nav', 'aria-label': 'Main' },
    NAV.map((item) => {
      navLinks[item.key] = h('a', { href: item.href, class: 'nav-link', dataset: { nav: item.key } }, item.label);
      return navLinks[item.key];
    }));
  const main = h('main', { id: 'main', class: 'main', tabindex: '-1' });
  const signOutButton = h('button', { type: 'button', class: 'btn btn-ghost btn-signout', id: 'signout' }, 'Sign out');
  signOutButton.addEventListener('click', () => signOut('Signed out. The token is no longer kept in this tab.', 'info'));
  const header = h('header', { class: 'topbar' },
    h('div', { class: 'topbar-inner' },
      h('a', { class: 'brand', href: '#/overview' }, h('img', { src: '/ui/favicon.svg', alt: '', width: 26, height: 26 }), h('span', null, 'OTA fleet')),
      nav,
      h('div', { class: 'topbar-right' },
        h('span', { class: ['role-badge', 'role-' + role], id: 'role', title: roleHelp(role) }, role),
        signOutButton)));
  const toasts = h('div', { class: 'toasts', id: 'toasts', 'aria-live': 'polite' });
  replace(root, header, main, toasts);
  return { main, navLinks, role, can: capabilities(role) };
}

function roleHelp(role) {
  return {
    viewer: 'viewer: may read everything',
    publisher: 'publisher: may read and publish bundles',
    operator: 'operator: may read, publish and control rollouts, devices and enrollment tokens',
    admin: 'admin: may do everything',
  }[role] || role;
}

async function start(knownRole) {
  let role = knownRole;
  if (!role) {
    replace(root, h('div', { class: 'loading-page' }, h('div', { class: 'spinner' }), 'Connecting…'));
    try {
      role = await probeRole(session.token);
      sessionStorage.setItem(ROLE_KEY, role);
    } catch (error) {
      if (error.status === 401) { signOut('The server no longer accepts this token. Sign in again.'); return; }
      role = sessionStorage.getItem(ROLE_KEY) || 'viewer';
    }
  }
  shell = buildShell(role);
  render();
}

// ---- routing ------------------------------------------------------------------------------

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, search = ''] = raw.split('?');
  return { path: path || 'overview', params: new URLSearchParams(search) };
}

function render() {
  if (!shell) return;
  generation += 1;
  const gen = generation;
  const { path, params } = parseHash();
  const found = ROUTES.map((r) => ({ r, m: path.match(r.pattern) })).find((x) => x.m);
  for (const [key, a] of Object.entries(shell.navLinks)) {
    const active = found && found.r.nav === key;
    a.classList.toggle('active', Boolean(active));
    if (active) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  const main = shell.main;
  clear(main);
  delete main.dataset.ready;
  main.dataset.view = found ? found.r.nav : 'none';
  if (!found) {
    main.appendChild(h('div', { class: 'empty' }, h('h2', null, 'Nothing here'), h('p', null, h('a', { href: '#/overview' }, 'Back to the overview'))));
    return;
  }
  let segments;
  try {
    segments = found.m.slice(1).map((x) => decodeURIComponent(x));
  } catch {
    segments = found.m.slice(1);
  }
  const ctx = makeContext(gen, main, params);
  Promise.resolve()
    .then(() => found.r.view(ctx, ...segments))
    .catch((error) => { if (ctx.alive()) ctx.fail(error); });
}

function makeContext(gen, main, params) {
  const ctx = {
    main,
    params,
    can: shell.can,
    role: shell.role,
    alive: () => gen === generation && shell !== null,
    /** Marks the view as rendered (tests and screenshots wait for this). */
    ready() { if (ctx.alive()) main.dataset.ready = '1'; },
    title(text) { document.title = `${text} · OTA fleet`; },
    /** Runs fn every `ms` (or ms() ms) while this view is shown and the tab is visible. */
    every(ms, fn) {
      const delay = () => (typeof ms === 'function' ? ms() : ms);
      const tick = async () => {
        if (!ctx.alive()) return;
        if (!document.hidden) {
          try { await fn(); } catch (error) { if (!(error instanceof ApiError) || error.status !== 401) console.warn('refresh failed', error); }
        }
        if (ctx.alive()) setTimeout(tick, delay());
      };
      setTimeout(tick, delay());
    },
    fail(error) {
      clear(main);
      main.appendChild(errorPanel(error, () => render()));
      ctx.ready();
    },
    navigate(hash) { location.hash = hash; },
  };
  return ctx;
}

// ---- boot ---------------------------------------------------------------------------------

window.addEventListener('hashchange', () => { if (shell) render(); });

if (session.token) start(null);
else showSignIn('');

