// Fleet overview: aggregates only (GET /api/v1/fleet/summary), never the whole fleet.
import { h, replace, route, fmtNum, fmtAgo, fmtTime, timeAgo, isoAgo, compareVersions, stateKey, stateLabel, DEVICE_STATES, ROLLOUT_STATES } from '../dom.js';
import { api, query } from '../api.js';
import { barChart, donut, progressBar, legend } from '../charts.js';
import { card, empty } from '../ui.js';
import { versionFigures } from './quality.js';

export const SILENT_CHOICES = [
  [300, '5 minutes'], [900, '15 minutes'], [3600, '1 hour'], [6 * 3600, '6 hours'], [86400, '1 day'], [3 * 86400, '3 days'],
  [7 * 86400, '7 days'], [30 * 86400, '30 days'],
];
const SILENT_KEY = 'ota.dashboard.silent';

export function silentLabel(seconds) {
  const found = SILENT_CHOICES.find(([value]) => value === seconds);
  return found ? found[1] : `${seconds} s`;
}

function devicesHref(filters) {
  return '#/devices' + query(filters);
}

export async function renderOverview(ctx) {
  ctx.title('Overview');
  let silentAfter = Number(ctx.params.get('silent') || sessionStorage.getItem(SILENT_KEY) || 3600);
  if (!SILENT_CHOICES.some(([value]) => value === silentAfter)) silentAfter = 3600;

  const updated = h('span', { class: 'updated' });
  const kpis = h('section', { class: 'kpis', 'aria-label': 'Key figures' });
  const stateBody = h('div', { class: 'card-body' });
  const hardwareBody = h('div', { class: 'card-body' });
  const rolloutsBody = h('div', { class: 'card-body card-body-flush' });
  const silentBody = h('div', { class: 'card-body card-body-flush' });
  const versionsGrid = h('div', { class: 'grid grid-versions', id: 'versions' });
  const figuresBody = h('div', { class: 'card-body card-body-flush' });
  const silentTitle = h('span', null);

  const select = h('select', { id: 'silent-after', 'aria-label': 'Not seen for longer than' },
    SILENT_CHOICES.map(([value, label]) => h('option', { value: String(value), selected: value === silentAfter }, label)));
  select.addEventListener('change', () => {
    silentAfter = Number(select.value);
    sessionStorage.setItem(SILENT_KEY, String(silentAfter));
    history.replaceState(null, '', '#/overview?silent=' + silentAfter);
    load().catch((error) => ctx.fail(error));
  });

  replace(ctx.main,
    h('div', { class: 'page-head' },
      h('div', null, h('h1', null, 'Fleet overview'), h('p', { class: 'subtitle' }, 'Every device, by state, hardware and running version.')),
      h('div', { class: 'page-head-right' }, h('span', { class: 'live' }, h('span', { class: 'live-dot' }), 'Live'), updated)),
    kpis,
    h('div', { class: 'grid grid-2' },
      card('Devices by state', stateBody, { id: 'card-states' }),
      card('Devices by hardware class', hardwareBody, { id: 'card-hardware' })),
    h('div', { class: 'grid grid-2' },
      card('Rollouts in progress', rolloutsBody, { id: 'card-rollouts', action: h('a', { href: '#/rollouts' }, 'All rollouts →') }),
      card(silentTitle, silentBody, { id: 'card-silent', action: h('label', { class: 'inline-select' }, 'not seen for more than', select) })),
    h('section', { class: 'section' },
      h('div', { class: 'section-head' }, h('h2', null, 'Versions running in the fleet'),
        h('a', { href: '#/bundles' }, 'All bundles →')),
      versionsGrid),
    card('Model figures by version', figuresBody, { id: 'card-version-metrics' }));

  async function load() {
    const [summary, deployments, trust] = await Promise.all([
      api('/api/v1/fleet/summary' + query({ silent_after_s: silentAfter })),
      api('/api/v1/deployments?limit=50'),
      api('/api/v1/trust'),
    ]);
    // The first few silent devices, only when there are any (one small indexed page).
    const silentPage = summary.silent > 0
      ? await api('/api/v1/devices' + query({ seen_before: isoAgo(silentAfter), limit: 8 }))
      : { devices: [] };
    if (!ctx.alive()) return;
    draw(summary, deployments.deployments, silentPage, trust);
    updated.textContent = 'updated ' + fmtAgo(new Date().toISOString());
    ctx.ready();
  }

  function draw(summary, deployments, silentPage, trust) {
    const byState = Object.fromEntries(summary.by_state.map((c) => [c.key, c.count]));
    const failing = (byState.failed || 0) + (byState['rolled-back'] || 0);
    const live = deployments.filter((d) => d.status === 'active' || d.status === 'paused');

    replace(kpis,
      kpi('Devices', fmtNum(summary.devices), 'devices', `${summary.by_hardware.length} hardware classes`, '#/devices'),
      kpi('Rollouts in progress', fmtNum(summary.active_deployments), 'rollouts',
        `${live.filter((d) => d.status === 'paused').length} paused`, '#/rollouts'),
      kpi(`Not seen for > ${silentLabel(silentAfter)}`, fmtNum(summary.silent), 'silent',
        `${summary.devices ? Math.round((100 * summary.silent) / summary.devices) : 0}% of the fleet`,
        devicesHref({ seen: 'before:' + silentAfter }), summary.silent ? 'kpi-warn' : null),
      kpi('Failed or rolled back', fmtNum(failing), 'failing', 'last update did not stick',
        devicesHref({ state: 'failed' }), failing ? 'kpi-bad' : null),
      kpi('Stale trust', fmtNum(trust.stale_devices), 'stale-trust',
        trust.root_version ? `root ${trust.root_version} · release ${trust.targets_version ? 'v' + trust.targets_version + ', expires ' + fmtTime(trust.targets_expires) : 'none'}` : 'legacy trust root',
        devicesHref({ trust: 'stale' }), trust.stale_devices ? 'kpi-bad' : null));

    // States: known ones in lifecycle order, then anything new the server reports.
    const states = [...DEVICE_STATES.filter((s) => byState[s]), ...Object.keys(byState).filter((s) => !DEVICE_STATES.includes(s))];
    replace(stateBody, summary.devices === 0 ? empty('No devices have registered yet.') :
      h('div', { class: 'state-split' },
        donut(states.map((s) => ({ key: s, label: stateLabel(s), value: byState[s], cls: 'st-' + stateKey(s) }))),
        legend(byState, states, { hrefFor: (s) => devicesHref({ state: s }) })));

    replace(hardwareBody, summary.by_hardware.length === 0 ? empty('No devices yet.') :
      [barChart(summary.by_hardware.map((c) => ({ label: c.key, value: c.count, cls: 'bar-accent', href: devicesHref({ hardware: c.key }) })),
        { total: summary.devices, ariaLabel: 'Devices by hardware class' }),
      h('p', { class: 'card-note muted' }, `${fmtNum(summary.by_hardware.length)} hardware class${summary.by_hardware.length === 1 ? '' : 'es'} · select a bar to list its devices`)]);

    replace(rolloutsBody, live.length === 0 ? empty('No rollout is running.', h('a', { href: '#/rollouts' }, 'See past rollouts')) :
      h('ul', { class: 'rollout-mini' }, live.slice(0, 6).map((d) => h('li', null,
        h('a', { href: route('rollouts', d.id), class: 'rollout-mini-link' },
          h('div', { class: 'rollout-mini-head' },
            h('span', { class: 'rollout-name' }, d.bundle_name, ' ', h('span', { class: 'version' }, d.version)),
            h('span', { class: ['badge', 'st-' + stateKey(d.status)] }, stateLabel(d.status))),
          progressBar(d.counts, ROLLOUT_STATES),
          h('div', { class: 'rollout-mini-foot muted' },
            `phase ${d.current_phase + 1} of ${d.phases.length} · ${d.phases[d.current_phase] ? d.phases[d.current_phase].label : ''}`,
            ' · ', totalOf(d.counts) ? `${fmtNum(d.counts.succeeded)} of ${fmtNum(totalOf(d.counts))} succeeded` : 'no device reached yet',
            d.counts.failed + d.counts.rolled_back ? ` · ${fmtNum(d.counts.failed + d.counts.rolled_back)} failed` : ''))))));

    silentTitle.textContent = 'Silent devices';
    replace(silentBody, silentPage.devices.length === 0 ? empty('Every device checked in recently.') :
      h('div', null,
        h('table', { class: 'table table-compact', id: 'silent-table' },
          h('thead', null, h('tr', null, h('th', null, 'Device'), h('th', null, 'Hardware'), h('th', null, 'Last seen'))),
          h('tbody', null, silentPage.devices.map((d) => h('tr', null,
            h('td', null, h('a', { href: route('devices', d.id), class: 'mono' }, d.id)),
            h('td', null, d.hardware),
            h('td', null, timeAgo(d.last_seen)))))),
        h('div', { class: 'card-foot' }, h('a', { href: devicesHref({ seen: 'before:' + silentAfter }) },
          `Show all ${fmtNum(summary.silent)} →`))));

    replace(figuresBody, versionFigures(summary.metrics));
    replace(versionsGrid, summary.bundles.length === 0 ? h('div', { class: 'panel' }, empty('No device reports a bundle yet.')) :
      summary.bundles.map((bundle) => {
        const versions = [...bundle.versions].sort((a, b) => compareVersions(b.version, a.version));
        const total = versions.reduce((acc, v) => acc + v.count, 0);
        const target = live.find((d) => d.bundle_name === bundle.name);
        return card(h('span', null, h('a', { href: '#/bundles' + query({ name: bundle.name }) }, bundle.name)),
          h('div', { class: 'card-body' },
            barChart(versions.map((v, i) => ({
              label: v.version, value: v.count, cls: target && target.version === v.version ? 'bar-target' : 'v' + Math.min(i, 5),
              href: devicesHref({ bundle: bundle.name, version: v.version }), title: `${bundle.name} ${v.version}`,
            })), { total, ariaLabel: `Versions of ${bundle.name}` }),
            h('p', { class: 'card-note muted' }, `${fmtNum(total)} devices run ${bundle.name}`,
              target ? [' · rolling out ', h('a', { href: route('rollouts', target.id) }, target.version)] : '')),
          { class: 'version-card', dataset: { bundle: bundle.name } });
      }));
  }

  await load();
  ctx.every(10000, load);
}

function totalOf(counts) {
  return ROLLOUT_STATES.reduce((acc, s) => acc + (counts[s] || 0), 0);
}

function kpi(label, value, key, note, href, cls) {
  return h('a', { class: ['kpi', cls], href, dataset: { kpi: key } },
    h('span', { class: 'kpi-label' }, label),
    h('span', { class: 'kpi-value' }, value),
    h('span', { class: 'kpi-note' }, note));
}
