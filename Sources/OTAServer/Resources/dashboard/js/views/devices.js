// Devices: the filtered, server-side paged table, and one device with its event timeline.
import { h, replace, route, fmtNum, fmtTime, fmtAgo, timeAgo, isoAgo, shortDigest, compareVersions, stateKey, stateLabel, badge, chip, debounce, DEVICE_STATES } from '../dom.js';
import { api, query } from '../api.js';
import { errorPanel, card, empty, kv, rowClick } from '../ui.js';

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const PAGE_SIZES = [10, 25, 50, 100, 200];
const SEEN_CHOICES = [
  ['', 'any time'],
  ['after:300', 'seen in the last 5 min'], ['after:3600', 'seen in the last hour'], ['after:86400', 'seen in the last day'],
  ['before:3600', 'not seen for 1 hour'], ['before:86400', 'not seen for 1 day'], ['before:259200', 'not seen for 3 days'],
  ['before:604800', 'not seen for 7 days'], ['before:2592000', 'not seen for 30 days'],
];
const FILTER_KEYS = ['q', 'state', 'hardware', 'bundle', 'version', 'tag', 'group', 'seen', 'seen_before', 'seen_after', 'trust'];

/** API query parameters for the filters in the page's address. */
function apiFilters(filters) {
  const out = {};
  for (const key of ['q', 'state', 'hardware', 'bundle', 'version', 'tag', 'group', 'seen_before', 'seen_after', 'trust']) {
    if (filters[key]) out[key] = filters[key];
  }
  const seen = /^(before|after):(\d+)$/.exec(filters.seen || '');
  if (seen) out[seen[1] === 'before' ? 'seen_before' : 'seen_after'] = isoAgo(Number(seen[2]));
  return out;
}

export async function renderDevices(ctx) {
  ctx.title('Devices');
  const filters = {};
  for (const key of FILTER_KEYS) filters[key] = ctx.params.get(key) || '';
  let limit = PAGE_SIZES.includes(Number(ctx.params.get('limit'))) ? Number(ctx.params.get('limit')) : 50;
  let cursor = ctx.params.get('cursor') || '';
  let previous = [];           // cursors of the pages before this one
  let pageIndex = cursor ? Math.max(1, Number(ctx.params.get('page')) || 1) : 0;

  // Choices for the selects come from the aggregates, not from the device list.
  const summary = await api('/api/v1/fleet/summary?silent_after_s=3600');
  if (!ctx.alive()) return;

  const search = h('input', { type: 'search', id: 'device-search', placeholder: 'Search by device id prefix…', value: filters.q,
    autocomplete: 'off', spellcheck: 'false', 'aria-label': 'Device id prefix' });
  const select = (key, label, options) => h('label', { class: 'field' }, h('span', null, label),
    h('select', { id: 'filter-' + key, dataset: { filter: key } },
      options.map(([value, text]) => h('option', { value, selected: value === filters[key] }, text))));
  const text = (key, label, placeholder) => h('label', { class: 'field' }, h('span', null, label),
    h('input', { type: 'text', id: 'filter-' + key, dataset: { filter: key }, value: filters[key], placeholder, autocomplete: 'off', spellcheck: 'false' }));

  const withCurrent = (list, value) => (value && !list.some(([v]) => v === value) ? [...list, [value, value]] : list);
  const hardwareOptions = withCurrent([['', 'any'], ...summary.by_hardware.map((c) => [c.key, `${c.key} (${fmtNum(c.count)})`])], filters.hardware);
  const stateOptions = withCurrent([['', 'any'], ...DEVICE_STATES.map((s) => [s, stateLabel(s)])], filters.state);
  const bundleOptions = withCurrent([['', 'any'], ...summary.bundles.map((b) => [b.name, b.name])], filters.bundle);
  const versionOptions = () => {
    const chosen = summary.bundles.filter((b) => !filters.bundle || b.name === filters.bundle);
    const versions = [...new Set(chosen.flatMap((b) => b.versions.map((v) => v.version)))].sort((a, b) => compareVersions(b, a));
    return withCurrent([['', 'any'], ...versions.map((v) => [v, v])], filters.version);
  };
  const seenOptions = withCurrent(SEEN_CHOICES, filters.seen);

  const versionField = select('version', 'Version', versionOptions());
  const form = h('form', { class: 'filters', id: 'device-filters', role: 'search' },
    h('div', { class: 'search-row' }, h('span', { class: 'search-icon', 'aria-hidden': 'true' }), search),
    h('div', { class: 'filter-row' },
      select('state', 'State', stateOptions),
      select('hardware', 'Hardware', hardwareOptions),
      select('bundle', 'Bundle', bundleOptions),
      versionField,
      text('tag', 'Tag', 'any'),
      text('group', 'Group', 'any'),
      select('seen', 'Last seen', seenOptions),
      select('trust', 'Trust', withCurrent([['', 'any'], ['stale', 'stale only']], filters.trust)),
      h('label', { class: 'field' }, h('span', null, 'Per page'),
        h('select', { id: 'page-size' }, PAGE_SIZES.map((n) => h('option', { value: String(n), selected: n === limit }, String(n))))),
      h('button', { type: 'button', class: 'btn btn-ghost-dark', id: 'clear-filters' }, 'Clear')));
  form.addEventListener('submit', (event) => { event.preventDefault(); reset(); });

  const status = h('div', { class: 'table-status', id: 'device-status' });
  const tableWrap = h('div', { class: 'table-wrap' });
  const prev = h('button', { type: 'button', class: 'btn', id: 'page-prev' }, '← Previous');
  const next = h('button', { type: 'button', class: 'btn', id: 'page-next' }, 'Next →');
  const pager = h('div', { class: 'pager' }, status, h('div', { class: 'pager-buttons' }, prev, next));

  replace(ctx.main,
    h('div', { class: 'page-head' },
      h('div', null, h('h1', null, 'Devices'), h('p', { class: 'subtitle' }, `${fmtNum(summary.devices)} registered · filtered and paged by the server`))),
    h('section', { class: 'panel' }, form),
    h('section', { class: 'panel panel-flush' }, tableWrap, pager));

  function readForm() {
    filters.q = search.value.trim();
    for (const el of form.querySelectorAll('[data-filter]')) filters[el.dataset.filter] = el.value.trim();
    limit = Number(form.querySelector('#page-size').value);
    markSet();
  }

  function markSet() {
    for (const el of form.querySelectorAll('[data-filter]')) el.classList.toggle('is-set', el.value.trim() !== '');
  }
  markSet();

  function problem() {
    for (const [key, label] of [['q', 'The id prefix'], ['tag', 'The tag'], ['group', 'The group']]) {
      if (filters[key] && !SAFE_NAME.test(filters[key])) return `${label} may hold only letters, digits, '.', '_' and '-', and starts with a letter or digit.`;
    }
    return null;
  }

  function syncAddress() {
    const state = {};
    for (const key of FILTER_KEYS) if (filters[key]) state[key] = filters[key];
    if (limit !== 50) state.limit = limit;
    if (cursor) {
      state.cursor = cursor;
      state.page = pageIndex;
    }
    history.replaceState(null, '', '#/devices' + query(state));
  }

  function reset() {
    readForm();
    cursor = '';
    previous = [];
    pageIndex = 0;
    load();
  }

  let loading = 0;
  async function load() {
    const mine = ++loading;
    syncAddress();
    const bad = problem();
    if (bad) {
      replace(tableWrap, h('div', { class: 'callout callout-warn inline-error' }, bad));
      status.textContent = '';
      prev.disabled = true;
      next.disabled = true;
      ctx.ready();
      return;
    }
    tableWrap.classList.add('is-loading');
    let page;
    try {
      page = await api('/api/v1/devices' + query({ ...apiFilters(filters), limit, cursor }));
    } catch (error) {
      if (mine !== loading || !ctx.alive()) return;
      tableWrap.classList.remove('is-loading');
      replace(tableWrap, errorPanel(error));
      ctx.ready();
      return;
    }
    if (mine !== loading || !ctx.alive()) return;
    tableWrap.classList.remove('is-loading');
    replace(tableWrap, page.devices.length === 0
      ? empty(Object.values(apiFilters(filters)).length ? 'No device matches these filters.' : 'No device has registered yet.')
      : deviceTable(page.devices));
    const first = pageIndex * limit + 1;
    status.textContent = page.devices.length
      ? `Showing ${fmtNum(first)}–${fmtNum(first + page.devices.length - 1)}${page.next_cursor ? '' : ' (last page)'}`
      : '';
    prev.disabled = pageIndex === 0 && !cursor;
    next.disabled = !page.next_cursor;
    next.onclick = () => {
      previous.push(cursor);
      cursor = page.next_cursor;
      pageIndex += 1;
      load();
    };
    ctx.ready();
  }

  prev.addEventListener('click', () => {
    cursor = previous.length ? previous.pop() : '';
    pageIndex = Math.max(0, pageIndex - 1);
    if (!cursor) pageIndex = 0;
    load();
  });
  search.addEventListener('input', debounce(reset, 250));
  for (const el of form.querySelectorAll('select')) {
    el.addEventListener('change', () => {
      if (el.dataset.filter === 'bundle') {
        filters.bundle = el.value;
        filters.version = '';
        replace(versionField.querySelector('select'), versionOptions().map(([value, label]) => h('option', { value, selected: value === '' }, label)));
      }
      reset();
    });
  }
  for (const el of form.querySelectorAll('input[type=text]')) el.addEventListener('input', debounce(reset, 350));
  form.querySelector('#clear-filters').addEventListener('click', () => {
    search.value = '';
    for (const el of form.querySelectorAll('[data-filter]')) el.value = '';
    replace(versionField.querySelector('select'), (filters.bundle = '', filters.version = '', versionOptions()).map(([value, label]) => h('option', { value }, label)));
    reset();
  });

  await load();
}

function deviceTable(devices) {
  return h('table', { class: 'table table-hover', id: 'devices-table' },
    h('thead', null, h('tr', null,
      h('th', null, 'Device'), h('th', null, 'State'), h('th', { class: 'hide-sm' }, 'Protocol'), h('th', { class: 'hide-sm' }, 'Hardware'), h('th', null, 'Running'),
      h('th', { class: 'hide-md' }, 'Tags'), h('th', { class: 'hide-md' }, 'Group'), h('th', { class: 'nowrap' }, 'Last seen'))),
    h('tbody', null, devices.map((d) => h('tr', { class: 'row-link', dataset: { id: d.id }, onclick: rowClick(route('devices', d.id)) },
      h('td', null, h('a', { href: route('devices', d.id), class: 'mono strong device-link' }, d.id),
        d.status && d.status !== 'accepted' ? [' ', badge(d.status)] : null,
        d.trust_stale ? [' ', staleBadge(d)] : null),
      h('td', null, badge(d.state)),
      h('td', { class: 'hide-sm', title: d.protocol === 'ddi' ? 'its own update client, on hawkBit\'s DDI API' : 'ota-agent' }, d.protocol === 'ddi' ? 'DDI' : 'agent'),
      h('td', { class: 'hide-sm' }, d.hardware),
      h('td', null, d.installed.length ? h('div', { class: 'chips' }, d.installed.map((b) =>
        chip([b.name, ' ', h('b', null, b.version), b.state === 'trial' ? ' (trial)' : ''], { class: b.state === 'trial' ? 'chip-trial' : null, title: `${b.name} ${b.version} · ${b.state} · ${b.digest}` }))) : h('span', { class: 'muted' }, 'nothing reported')),
      h('td', { class: 'hide-md' }, h('div', { class: 'chips' }, d.tags.map((t) => chip(t, { class: 'chip-tag' })))),
      h('td', { class: 'hide-md' }, d.group || h('span', { class: 'muted' }, '—')),
      h('td', { class: 'nowrap' }, timeAgo(d.last_seen))))));
}

/** The device says its trust is stale: a trust problem, or expired release metadata. */
function staleBadge(d) {
  return h('span', { class: 'badge st-failed trust-stale', title: (d.trust && d.trust.problem) || 'release metadata expired' }, 'stale trust');
}

/** What the device last said it is, in the words a deployment's `where` condition uses. */
function inventoryTable(d) {
  const inv = d.inventory;
  if (!inv) return empty(d.protocol === 'ddi' ? 'A DDI client reports no inventory.' : 'The device has not reported an inventory yet.');
  const rows = [];
  if (inv.architecture) rows.push(['cpu.arch', inv.architecture]);
  if ((inv.cpu_features || []).length) rows.push(['cpu.features', inv.cpu_features.join(' ')]);
  if (inv.memory_mib) rows.push(['memory.mib', String(inv.memory_mib)]);
  for (const a of inv.accelerators || []) {
    const parts = [a.name, a.compute_capability ? 'compute capability ' + a.compute_capability : null, a.memory_mib ? a.memory_mib + ' MiB' : null].filter(Boolean);
    rows.push(['accelerator', a.kind + (parts.length ? ' (' + parts.join(', ') + ')' : '')]);
  }
  for (const [name, version] of Object.entries(inv.runtimes || {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) rows.push(['runtime.' + name, version]);
  if (rows.length === 0) return empty('The device reported an empty inventory.');
  return h('table', { class: 'table table-compact', id: 'inventory-table' },
    h('tbody', null, rows.map(([key, value]) => h('tr', null, h('th', { class: 'kv-key' }, key), h('td', { class: 'wrap mono' }, value)))));
}

/** What the device trusts: root and release metadata versions, its channel, any problem. */
function trustFacts(d) {
  const t = d.trust;
  if (!t) return h('span', { class: 'muted' }, 'not reported yet');
  if (t.root_version === 0) return [h('span', null, 'legacy trust root'), h('span', { class: 'muted' }, ` · channel ${t.channel}`)];
  return h('div', { id: 'device-trust' },
    h('div', null, `root ${t.root_version} · `,
      t.targets_version ? `release metadata ${t.targets_version}, expires ${fmtTime(t.targets_expires)}` : 'no release metadata',
      ` · channel ${t.channel} `, d.trust_stale ? staleBadge(d) : h('span', { class: 'badge st-succeeded' }, 'fresh')),
    t.verified_at ? h('div', { class: 'muted small' }, `last verified answer ${fmtAgo(t.verified_at)}`) : null,
    t.problem ? h('div', { class: 'event-detail', id: 'device-trust-problem' }, t.problem) : null);
}

// ---- one device ---------------------------------------------------------------------------

export async function renderDevice(ctx, id) {
  ctx.title(`Device ${id}`);
  const head = h('div', { class: 'page-head' });
  const facts = h('div', { class: 'card-body' });
  const attributes = h('div', { class: 'card-body card-body-flush' });
  const inventory = h('div', { class: 'card-body card-body-flush' });
  const running = h('div', { class: 'card-body card-body-flush' });
  const timeline = h('div', { class: 'card-body' });
  const updated = h('span', { class: 'updated' });
  replace(ctx.main,
    h('nav', { class: 'breadcrumb' }, h('a', { href: '#/devices' }, 'Devices'), ' / ', h('span', { class: 'mono' }, id)),
    head,
    h('div', { class: 'grid grid-2' },
      card('Device', facts, { id: 'card-device' }),
      card('Attributes', attributes, { id: 'card-attributes' })),
    card('Inventory', inventory, { id: 'card-inventory', action: h('span', { class: 'muted small' }, 'what the device says it is · read by --where') }),
    card('Running', running, { id: 'card-running' }),
    card('Event timeline', timeline, { id: 'card-events', action: h('span', { class: 'muted small' }, 'newest first · last 200') }));

  async function load() {
    const detail = await api('/api/v1/devices/' + encodeURIComponent(id));
    if (!ctx.alive()) return;
    draw(detail.device, detail.events);
    ctx.ready();
  }

  /** Accept or reject: only operators, and only what changes the device's standing. */
  function standingActions(d) {
    if (!ctx.can.controlDeployments) return [];
    const actions = d.status === 'accepted' ? [['reject', 'Reject', 'btn btn-danger']] :
      d.status === 'rejected' ? [['accept', 'Accept', 'btn btn-primary']] :
        [['accept', 'Accept', 'btn btn-primary'], ['reject', 'Reject', 'btn btn-danger']];
    return actions.map(([action, label, cls]) => h('button', {
      type: 'button', class: cls, id: 'device-' + action,
      onclick: async (event) => {
        event.target.disabled = true;
        try { draw(await api(`/api/v1/devices/${encodeURIComponent(id)}/${action}`, { method: 'POST' }), lastEvents); } finally { event.target.disabled = false; }
      },
    }, label));
  }

  let lastEvents = [];
  function draw(d, events) {
    lastEvents = events;
    replace(head,
      h('div', null,
        h('h1', { id: 'device-title' }, h('span', { class: 'mono device-id' }, d.id), ' ', badge(d.state, 'badge-lg'),
          d.status && d.status !== 'accepted' ? [' ', h('span', { id: 'device-status' }, badge(d.status, 'badge-lg'))] : null),
        h('p', { class: 'subtitle' }, d.status === 'pending' ? 'waits for an operator to accept it · ' + d.hardware : `${d.hardware} · last seen ${fmtAgo(d.last_seen)}`)),
      h('div', { class: 'page-head-right' }, ...standingActions(d), h('span', { class: 'live' }, h('span', { class: 'live-dot' }), 'Live'), updated));
    updated.textContent = 'updated ' + fmtAgo(new Date().toISOString());

    replace(facts, h('dl', { class: 'kv' },
      kv('Hardware', h('a', { href: '#/devices' + query({ hardware: d.hardware }) }, d.hardware)),
      kv('State', badge(d.state)),
      kv('Standing', badge(d.status || 'accepted')),
      kv('Protocol', d.protocol === 'ddi' ? 'DDI (its own update client, on hawkBit\'s DDI API)' : 'ota-agent'),
      d.protocol === 'ddi' ? null : kv('Key', d.key_id ? h('span', { class: 'mono', title: d.key_id }, shortDigest(d.key_id, 16)) : h('span', { class: 'muted' }, 'bearer token (before device keys)')),
      kv('Group', d.group ? h('a', { href: '#/devices' + query({ group: d.group }) }, d.group) : h('span', { class: 'muted' }, 'none')),
      kv('Tags', d.tags.length ? h('div', { class: 'chips' }, d.tags.map((t) => h('a', { href: '#/devices' + query({ tag: t }), class: 'chip chip-tag' }, t))) : h('span', { class: 'muted' }, 'none')),
      kv('Last seen', d.last_seen ? [fmtTime(d.last_seen), h('span', { class: 'muted' }, ` (${fmtAgo(d.last_seen)})`)] : 'never'),
      kv('Trust', trustFacts(d)),
      kv('Registered', fmtTime(d.registered_at))));

    const attrs = Object.entries(d.attributes || {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    replace(attributes, attrs.length === 0 ? empty('The device reports no attributes.') :
      h('table', { class: 'table table-compact', id: 'attributes-table' },
        h('tbody', null, attrs.map(([key, value]) => h('tr', null, h('th', { class: 'kv-key' }, key), h('td', { class: 'wrap' }, value))))));

    replace(inventory, inventoryTable(d));

    replace(running, d.installed.length === 0 ? empty('The device reports no installed bundle.') :
      h('table', { class: 'table', id: 'installed-table' },
        h('thead', null, h('tr', null, h('th', null, 'Bundle'), h('th', null, 'Version'), h('th', null, 'Build'), h('th', null, 'State'), h('th', { class: 'hide-sm' }, 'Digest'))),
        h('tbody', null, d.installed.map((b) => h('tr', null,
          h('td', { class: 'strong' }, b.name),
          h('td', null, h('a', { href: route('bundles', b.name, b.version) }, b.version)),
          h('td', { class: 'mono' }, b.variant || '–'),
          h('td', null, badge(b.state)),
          h('td', { class: 'hide-sm mono muted', title: b.digest }, shortDigest(b.digest, 16)))))));

    replace(timeline, events.length === 0 ? empty('No update events yet.') :
      h('ol', { class: 'timeline', id: 'timeline' }, events.map((e) => h('li', { class: ['event', 'st-' + stateKey(e.state)], dataset: { event: String(e.id) } },
        h('span', { class: 'event-dot' }),
        h('div', { class: 'event-main' },
          h('div', { class: 'event-head' },
            badge(e.state),
            h('span', { class: 'event-bundle' }, e.bundle_name, ' ', h('b', null, e.version)),
            e.deployment_id ? h('a', { href: route('rollouts', e.deployment_id), class: 'mono small' }, e.deployment_id) : null,
            h('span', { class: 'event-time muted', title: `at ${e.at} on the device, received ${e.received_at}` }, fmtTime(e.at))),
          e.detail ? h('div', { class: 'event-detail' }, e.detail) : null)))));
  }

  await load();
  ctx.every(5000, load);
}
