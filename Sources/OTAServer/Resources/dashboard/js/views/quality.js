// Model quality: what devices measured of a candidate in shadow (or of a version after
// commit), per phase against what it replaces, and each gate's verdict on the median.
import { h, fmtNum, ROLLOUT_STATES } from '../dom.js';
import { rangeChart, fmtFigure, progressBar } from '../charts.js';
import { empty } from '../ui.js';

const METRIC_LABELS = {
  agreement: 'agreement', distance: 'distance', latency_p50: 'latency p50 (ms)', latency_p95: 'latency p95 (ms)',
  confidence: 'confidence', errors: 'errors',
};
const metricLabel = (name) => METRIC_LABELS[name] || name;

/** The deployment's shadow policy and gates, one line (for the policy card). */
export function qualityPolicy(d) {
  const parts = [];
  if (d.shadow) parts.push(`shadow: ${fmtNum(d.shadow.min_samples)} samples within ${d.shadow.max_s}s, share ${d.shadow.sample_share}`);
  if (d.gates && d.gates.length) parts.push(`gates ${d.gates.join(', ')} (median over ${fmtNum(d.gate_min_devices || 20)} devices)`);
  return parts.length ? parts.join(' · ') : null;
}

/** One section per reached phase: the gates' verdicts, then a small chart per metric. */
export function qualityBody(d) {
  const phases = d.quality || [];
  if (phases.length === 0) return empty('This rollout has no shadow phase and no quality gates.');
  return h('div', { id: 'rollout-quality' }, phases.map((q) => {
    const label = d.phases[q.phase] ? d.phases[q.phase].label : '?';
    const baseline = q.source === 'shadow' ? 'live model' : 'before';
    const what = q.source === 'shadow'
      ? `${fmtNum(q.devices)} device${q.devices === 1 ? '' : 's'} ran ${d.version} in shadow beside the live model · ${fmtNum(q.passed_in_shadow || 0)} passed`
      : `${fmtNum(q.devices)} device${q.devices === 1 ? '' : 's'} report ${d.version} live, against the version they ran before`;
    return h('section', { class: 'quality-phase', dataset: { phase: String(q.phase) } },
      h('h3', null, `Phase ${q.phase + 1} (${label})`, h('span', { class: 'muted' }, ' · ' + what)),
      q.gates.length ? h('ul', { class: 'gates' }, q.gates.map((g) => h('li', { class: ['gate', 'gate-' + g.verdict], dataset: { gate: g.gate, verdict: g.verdict } },
        h('span', { class: 'gate-verdict' }, g.verdict), ' ', h('code', null, g.gate), ' ',
        h('span', { class: 'muted' }, g.median == null ? 'no figures yet'
          : `median ${fmtFigure(g.median)}${g.gate.endsWith('x') ? 'x' : ''} over ${fmtNum(g.devices)} device${g.devices === 1 ? '' : 's'}`)))) : null,
      h('div', { class: 'range-grid' }, q.metrics.filter((m) => m.candidate || m.baseline).map((m) => rangeChart(metricLabel(m.metric), [
        { label: d.version, dist: m.candidate, cls: 'range-candidate' },
        ...(m.metric === 'agreement' || m.metric === 'distance' ? [] : [{ label: baseline, dist: m.baseline, cls: 'range-baseline' }]),
      ]))));
  }));
}

/** The overview's figures per running version, from the devices' metrics_command. */
export function versionFigures(metrics) {
  if (!metrics || metrics.length === 0) return empty('No device sends model figures yet (metrics_command in its agent config).');
  const names = ['latency_p50', 'latency_p95', 'confidence', 'errors'];
  return h('table', { class: 'table', id: 'version-metrics' },
    h('thead', null, h('tr', null, h('th', null, 'Bundle'), h('th', null, 'Version'), h('th', { class: 'num' }, 'Devices'),
      names.map((n) => h('th', { class: 'num' }, 'median ' + metricLabel(n))))),
    h('tbody', null, metrics.map((v) => {
      const by = Object.fromEntries(v.metrics.map((m) => [m.metric, m.candidate]));
      const devices = Math.max(0, ...v.metrics.map((m) => (m.candidate ? m.candidate.devices : 0)));
      return h('tr', { dataset: { bundle: v.bundle_name, version: v.version } }, h('td', null, v.bundle_name), h('td', { class: 'mono' }, v.version),
        h('td', { class: 'num' }, fmtNum(devices)), names.map((n) => h('td', { class: 'num' }, by[n] ? fmtFigure(by[n].median) : '–')));
    })));
}

/** A bundle with variants: one row per build, its devices' progress and, with a shadow phase
 * or gates, what they measured (agreement, and latency against the model they replace). */
export function variantsBody(d) {
  const rows = d.variants || [];
  const figure = (q, name) => {
    const m = q && q.metrics.find((x) => x.metric === name);
    return m && m.candidate ? m : null;
  };
  return h('table', { class: 'table', id: 'rollout-variants' },
    h('thead', null, h('tr', null, h('th', null, 'Build'), h('th', { class: 'num' }, 'Devices'), h('th', null, 'Progress'),
      h('th', { class: 'num' }, 'Succeeded'), h('th', { class: 'num' }, 'Failed'), h('th', { class: 'num' }, 'Agreement'),
      h('th', { class: 'num' }, 'Latency p50 (ms)'))),
    h('tbody', null, rows.map((v) => {
      const c = v.counts;
      const total = c.pending + c.downloading + c.installing + c.succeeded + c.failed + c.rolled_back;
      const agreement = figure(v.quality, 'agreement');
      const latency = figure(v.quality, 'latency_p50');
      const speed = latency && latency.baseline && latency.candidate.median > 0
        ? ` (${fmtFigure(latency.baseline.median / latency.candidate.median)}× the live model)` : '';
      return h('tr', { dataset: { variant: v.name } }, h('td', { class: 'mono' }, v.name), h('td', { class: 'num' }, fmtNum(total)),
        h('td', null, total ? progressBar(c, ROLLOUT_STATES) : null), h('td', { class: 'num' }, fmtNum(c.succeeded)),
        h('td', { class: 'num' }, fmtNum(c.failed + c.rolled_back)),
        h('td', { class: 'num' }, agreement ? fmtFigure(agreement.candidate.median) : '–'),
        h('td', { class: 'num' }, latency ? fmtFigure(latency.candidate.median) + speed : '–'));
    })));
}
