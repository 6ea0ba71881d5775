// Rollouts (deployments): the list, and one rollout with live phases, failures and controls.
import { h, replace, route, fmtNum, fmtPercent, fmtBytes, fmtDuration, fmtAgo, timeAgo, fmtTime, shortDigest, compareVersions, stateKey, stateLabel, ROLLOUT_STATES } from '../dom.js';
import { api, query } from '../api.js';
import { barChart, progressBar, legend } from '../charts.js';
import { toast, confirmDialog, card, empty, kv, rowClick } from '../ui.js';
import { qualityBody, qualityPolicy, variantsBody } from './quality.js';

const LIVE_MS = 2500;
const IDLE_MS = 15000;
const isLive = (status) => status === 'active' || status === 'paused';

export function totalOf(counts) {
  return ROLLOUT_STATES.reduce((acc, s) => acc + (counts[s] || 0), 0);
}

export function targetText(target) {
  if (!target) return '—';
  if (target.all) return 'all compatible devices';
  if (target.tag) return `tag ${target.tag}`;
  if (target.group) return `group ${target.group}`;
  if (target.devices) return `${fmtNum(target.devices.length)} listed device${target.devices.length === 1 ? '' : 's'}`;
  return '—';
}

function statusBadge(status) {
  return h('span', { class: ['badge', 'badge-lg', 'st-' + stateKey(status)], dataset: { status } }, stateLabel(status));
}

// ---- the list -----------------------------------------------------------------------------

export async function renderRollouts(ctx) {
  ctx.title('Rollouts');
  const updated = h('span', { class: 'updated' });
  const body = h('div', { class: 'table-wrap' });
  const counts = h('p', { class: 'subtitle' }, 'Staged deployments of bundles to the fleet, newest first.');
  replace(ctx.main,
    h('div', { class: 'page-head' },
      h('div', null, h('h1', null, 'Rollouts'), counts),
      h('div', { class: 'page-head-right' }, h('span', { class: 'live' }, h('span', { class: 'live-dot' }), 'Live'), updated)),
    h('section', { class: 'panel panel-flush' }, body));

  let anyLive = false;
  async function load() {
    const { deployments } = await api('/api/v1/deployments?limit=200');
    if (!ctx.alive()) return;
    anyLive = deployments.some((d) => isLive(d.status));
    const running = deployments.filter((d) => isLive(d.status)).length;
    counts.textContent = `${fmtNum(deployments.length)} rollouts · ${fmtNum(running)} in progress`;
    updated.textContent = 'updated ' + fmtAgo(new Date().toISOString());
    replace(body, deployments.length === 0 ? empty('No rollout yet. Start one with ', h('code', null, 'otactl deployments create NAME VERSION --all')) :
      h('table', { class: 'table table-hover', id: 'rollouts-table' },
        h('thead', null, h('tr', null,
          h('th', null, 'Bundle'), h('th', null, 'Status'), h('th', { class: 'hide-sm' }, 'Target'), h('th', null, 'Phase'),
          h('th', { class: 'col-progress' }, 'Progress'), h('th', { class: 'num' }, 'Failed'), h('th', { class: 'hide-md' }, 'Started'))),
        h('tbody', null, deployments.map((d) => {
          const total = totalOf(d.counts);
          const bad = d.counts.failed + d.counts.rolled_back;
          const phase = d.phases[d.current_phase];
          return h('tr', { class: 'row-link', dataset: { id: d.id }, onclick: rowClick(route('rollouts', d.id)) },
            h('td', null, h('a', { href: route('rollouts', d.id), class: 'strong' }, d.bundle_name, ' ', h('span', { class: 'version' }, d.version)),
              h('div', { class: 'muted small mono' }, d.id)),
            h('td', null, h('span', { class: ['badge', 'st-' + stateKey(d.status)] }, stateLabel(d.status))),
            h('td', { class: 'hide-sm' }, targetText(d.target)),
            h('td', { class: 'nowrap' }, `${d.current_phase + 1} / ${d.phases.length}`, phase ? h('div', { class: 'muted small' }, phase.label) : null),
            h('td', { class: 'col-progress' }, progressBar(d.counts, ROLLOUT_STATES),
              h('div', { class: 'muted small' }, total ? `${fmtNum(d.counts.succeeded)} of ${fmtNum(total)} succeeded` : 'no device reached yet')),
            h('td', { class: ['num', bad ? 'text-bad' : null] }, fmtNum(bad)),
            h('td', { class: 'hide-md nowrap' }, timeAgo(d.created_at), h('div', { class: 'muted small' }, actorName(d.created_by))));
        }))));
    ctx.ready();
  }
  await load();
  ctx.every(() => (anyLive ? 3000 : IDLE_MS), load);
}

function actorName(createdBy) {
  return String(createdBy || '').replace(/\s*\(tok_[^)]*\)$/, '');
}

// ---- one rollout ------------------------------------------------------------------------

const ACTIONS = {
  advance: {
    label: 'Advance phase', confirm: 'Advance', cls: 'btn-primary',
    body: (d) => {
      const next = d.phases[d.current_phase + 1];
      return [`Phase ${d.current_phase + 2} (${next ? next.label : ''}) starts now: more devices receive ${d.bundle_name} ${d.version}.`,
        'Devices already in earlier phases keep their progress.'];
    },
  },
  pause: { label: 'Pause', confirm: 'Pause rollout', cls: '', body: () => ['Devices that have not started the update will not receive it until the rollout is resumed. Updates already running finish.'] },
  resume: { label: 'Resume', confirm: 'Resume rollout', cls: 'btn-primary', body: () => ['Devices start receiving the update again. Failures so far are accepted; thresholds count new ones only.'] },
  cancel: { label: 'Cancel rollout', confirm: 'Cancel rollout', cls: 'btn-danger-outline', danger: true, body: (d) => [`No device will start ${d.bundle_name} ${d.version} from this rollout any more. This cannot be undone.`, 'Devices that already installed it keep it.'] },
};

function availableActions(d) {
  if (d.status === 'cancelled') return [];
  const actions = [];
  const lastPhase = d.current_phase >= d.phases.length - 1;
  if (!lastPhase) actions.push('advance');
  if (d.status === 'active') actions.push('pause');
  if (d.status === 'paused') actions.push('resume');
  actions.push('cancel');
  return actions;
}

/** What the devices fetched against the full size: the bytes saved by reusing files and chunks. */
function transferNote(t) {
  if (!t || !t.devices) return null;
  return h('div', { class: 'muted', id: 'rollout-transfer' },
    `${fmtNum(t.devices)} device${t.devices === 1 ? '' : 's'} fetched ${fmtBytes(t.fetched_bytes)} of ${fmtBytes(t.total_bytes)} · `,
    h('b', null, `${fmtBytes(t.saved_bytes)} saved`), ` (${fmtPercent(t.saved_bytes, t.total_bytes)}) by reusing what they held`);
}

export async function renderRollout(ctx, id) {
  ctx.title(`Rollout ${id}`);
  const head = h('div', { class: 'page-head' });
  const banner = h('div', { id: 'rollout-banner' });
  const actionsBar = h('div', { class: 'actions', id: 'rollout-actions' });
  const overall = h('div', { class: 'card-body' });
  const phasesBody = h('div', { class: 'card-body card-body-flush' });
  const failuresBody = h('div', { class: 'card-body card-body-flush' });
  const versionsBody = h('div', { class: 'card-body' });
  const policyBody = h('div', { class: 'card-body' });
  const qualityCardBody = h('div', { class: 'card-body' });
  const qualityCard = card('Model quality', qualityCardBody, { id: 'card-quality' });
  const variantsCardBody = h('div', { class: 'card-body card-body-flush' });
  const variantsCard = card('Builds', variantsCardBody, { id: 'card-variants', action: h('span', { class: 'muted small' }, 'each device takes the first build that fits it') });
  variantsCard.hidden = true;
  const updated = h('span', { class: 'updated' });
  const liveBadge = h('span', { class: 'live' }, h('span', { class: 'live-dot' }), 'Live');

  replace(ctx.main,
    h('nav', { class: 'breadcrumb' }, h('a', { href: '#/rollouts' }, 'Rollouts'), ' / ', h('span', { class: 'mono' }, id)),
    head, banner, actionsBar,
    card('Progress', overall, { id: 'card-progress' }),
    h('div', { class: 'grid grid-2-1' },
      card('Phases', phasesBody, { id: 'card-phases' }),
      card('Policy', policyBody, { id: 'card-policy' })),
    variantsCard,
    qualityCard,
    h('div', { class: 'grid grid-2' },
      card('Failure reasons', failuresBody, { id: 'card-failures' }),
      card('Running versions', versionsBody, { id: 'card-versions' })));

  let current = null;
  let actionsKey = null;
  let busy = false;
  let overallBar = null;

  async function load() {
    const d = await api('/api/v1/deployments/' + encodeURIComponent(id));
    if (!ctx.alive()) return;
    current = d;
    draw(d);
    ctx.ready();
  }

  function draw(d) {
    ctx.title(`${d.bundle_name} ${d.version} rollout`);
    const total = totalOf(d.counts);
    replace(head,
      h('div', null,
        h('h1', { id: 'rollout-title' }, d.bundle_name, ' ', h('span', { class: 'version' }, d.version), ' ', statusBadge(d.status)),
        h('p', { class: 'subtitle' }, `To ${targetText(d.target)}${d.where ? ' where ' + d.where : ''} · started ${fmtAgo(d.created_at)} by ${actorName(d.created_by)} · bundle `,
          h('a', { href: route('bundles', d.bundle_name, d.version), class: 'mono', title: d.digest }, shortDigest(d.digest)))),
      h('div', { class: 'page-head-right' }, isLive(d.status) ? liveBadge : null, updated));
    updated.textContent = 'updated ' + fmtAgo(new Date().toISOString());

    replace(banner, d.status === 'paused'
      ? h('div', { class: 'callout callout-warn', id: 'paused-reason' }, h('strong', null, 'Paused. '), d.paused_reason || 'No reason given.')
      : d.status === 'cancelled' ? h('div', { class: 'callout' }, 'This rollout was cancelled: no device starts it any more.')
        : d.status === 'completed' ? h('div', { class: 'callout callout-good' }, 'Every device this rollout reached has finished. Devices that join later still receive it.')
          : null);

    // The buttons are rebuilt only when what is possible changes, so a poll never steals focus.
    const actions = ctx.can.controlDeployments ? availableActions(d) : [];
    const key = actions.join(',') + '|' + d.current_phase;
    if (key !== actionsKey) {
      actionsKey = key;
      replace(actionsBar, actions.map((name) => h('button', {
        type: 'button', class: ['btn', ACTIONS[name].cls], dataset: { action: name }, onclick: () => act(name),
      }, ACTIONS[name].label)));
      actionsBar.hidden = actions.length === 0;
    }

    if (!overallBar) {
      overallBar = progressBar(d.counts, ROLLOUT_STATES, { large: true });
    } else {
      overallBar.update(d.counts);
    }
    replace(overall,
      h('div', { class: 'progress-summary' },
        h('div', { class: 'big-number' }, h('span', { id: 'overall-succeeded' }, fmtNum(d.counts.succeeded)), h('span', { class: 'muted' }, ` of ${fmtNum(total)} devices succeeded`)),
        h('div', { class: 'muted' }, total ? `${fmtPercent(d.counts.succeeded, total)} done · ${fmtPercent(d.counts.failed + d.counts.rolled_back, total)} failed or rolled back` : 'No device has received it yet.'),
        transferNote(d.transfer)),
      overallBar,
      legend(d.counts, ROLLOUT_STATES));

    replace(phasesBody, h('ol', { class: 'phases', id: 'phases' }, d.phases.map((p) => {
      const state = p.index < d.current_phase ? 'done' : p.index === d.current_phase ? 'current' : 'upcoming';
      const ptotal = totalOf(p.counts);
      return h('li', { class: ['phase', 'phase-' + state], dataset: { phase: String(p.index) } },
        h('div', { class: 'phase-marker' }, String(p.index + 1)),
        h('div', { class: 'phase-main' },
          h('div', { class: 'phase-head' },
            h('span', { class: 'phase-label' }, p.label),
            h('span', { class: 'phase-state' }, state === 'current' ? (p.started_at ? `current · since ${fmtAgo(p.started_at)}` : 'current') : state),
            h('span', { class: 'phase-total muted' }, `${fmtNum(ptotal)} device${ptotal === 1 ? '' : 's'}`)),
          ptotal || state !== 'upcoming' ? progressBar(p.counts, ROLLOUT_STATES) : null,
          ptotal ? h('ul', { class: 'phase-counts' }, ROLLOUT_STATES.filter((s) => p.counts[s]).map((s) =>
            h('li', { dataset: { state: s } }, h('span', { class: ['dot', 'st-' + stateKey(s)] }), `${stateLabel(s)} `, h('b', null, fmtNum(p.counts[s]))))) : null));
    })));

    variantsCard.hidden = !(d.variants && d.variants.length);
    if (!variantsCard.hidden) replace(variantsCardBody, variantsBody(d));
    qualityCard.hidden = !d.shadow && !(d.gates && d.gates.length);
    if (!qualityCard.hidden) replace(qualityCardBody, qualityBody(d));

    const reasons = d.failure_reasons || [];
    const failedTotal = reasons.reduce((acc, r) => acc + r.count, 0);
    replace(failuresBody, reasons.length === 0 ? empty('No failures reported.') :
      h('table', { class: 'table', id: 'failure-reasons' },
        h('thead', null, h('tr', null, h('th', null, 'Reason'), h('th', { class: 'num' }, 'Devices'), h('th', { class: 'col-share hide-sm' }, 'Share'))),
        h('tbody', null, reasons.map((r) => {
          const share = h('div', { class: 'share-bar' }, h('div', { class: 'share-fill' }));
          share.firstChild.style.width = `${(100 * r.count) / Math.max(1, failedTotal)}%`;
          return h('tr', null, h('td', { class: 'reason' }, r.reason || '(no detail)'), h('td', { class: 'num' }, fmtNum(r.count)),
            h('td', { class: 'col-share hide-sm' }, share));
        }))));

    const versions = [...(d.versions || [])].sort((a, b) => compareVersions(b.version, a.version));
    const vtotal = versions.reduce((acc, v) => acc + v.count, 0);
    replace(versionsBody, versions.length === 0 ? empty(`No device reports ${d.bundle_name} yet.`) : [
      barChart(versions.map((v, i) => ({
        label: v.version, value: v.count, cls: v.version === d.version ? 'bar-target' : 'v' + Math.min(i + 1, 5),
        href: '#/devices' + query({ bundle: d.bundle_name, version: v.version }), title: `${d.bundle_name} ${v.version}`,
      })), { total: vtotal, ariaLabel: `Running versions of ${d.bundle_name}` }),
      h('p', { class: 'card-note muted' }, `Across the whole fleet. `, h('span', { class: 'swatch bar-target' }), ` ${d.version} is this rollout's version.`)]);

    const threshold = d.failure_threshold_count != null ? `${fmtNum(d.failure_threshold_count)} devices`
      : d.failure_threshold_percent != null ? `${d.failure_threshold_percent}% (after ${fmtNum(d.failure_min_finished)} finished)` : 'none';
    replace(policyBody, h('dl', { class: 'kv' },
      kv('Rollout id', h('span', { class: 'mono' }, d.id)),
      kv('Target', targetText(d.target)),
      kv('Phases', d.phases.map((p) => p.label).join(' → ')),
      kv('Advance', d.auto_advance ? `automatically, after ${fmtDuration(d.soak_s)} soak` : 'by hand'),
      kv('Success ratio', `${Math.round(d.success_ratio * 100)}%`),
      kv('Pause on failures', threshold),
      qualityPolicy(d) ? kv('Quality', qualityPolicy(d)) : null,
      kv('Rate limit', d.rate_limit_per_minute ? `${fmtNum(d.rate_limit_per_minute)} devices / min` : 'none'),
      kv('Created', h('span', { title: d.created_at }, fmtTime(d.created_at))),
      kv('Created by', d.created_by)));
  }

  async function act(name) {
    if (busy || !current) return;
    const spec = ACTIONS[name];
    const answer = await confirmDialog({
      title: `${spec.label}: ${current.bundle_name} ${current.version}?`, body: spec.body(current), confirm: spec.confirm,
      danger: Boolean(spec.danger), reason: name !== 'resume',
    });
    if (!answer || !ctx.alive()) return;
    busy = true;
    for (const b of actionsBar.querySelectorAll('button')) b.disabled = true;
    try {
      const d = await api(`/api/v1/deployments/${encodeURIComponent(id)}/${name}`,
        { method: 'POST', body: answer.reason ? { reason: answer.reason } : undefined });
      toast(`${spec.label}: done.`, 'good');
      if (ctx.alive()) { current = d; actionsKey = null; draw(d); }
    } catch (error) {
      toast(`${spec.label} failed: ${error.message}`, 'error');
      actionsKey = null;
      if (current && ctx.alive()) draw(current);
    } finally {
      busy = false;
    }
  }

  await load();
  ctx.every(() => (current && isLive(current.status) ? LIVE_MS : IDLE_MS), load);
}
