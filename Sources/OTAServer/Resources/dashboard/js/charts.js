// Charts drawn as SVG (or plain elements) with DOM APIs only.
import { h, s, fmtNum, fmtPercent, stateKey, stateLabel } from './dom.js';

/**
 * A horizontal bar chart. rows: [{label, value, cls?, title?, href?}]. The SVG is redrawn at
 * the pixel width of its box (ResizeObserver), so labels keep their size at any width.
 */
export function barChart(rows, options = {}) {
  const box = h('div', { class: 'chart-box' });
  let drawnWidth = 0;
  const draw = (width) => {
    if (!width || Math.abs(width - drawnWidth) < 2) return;
    drawnWidth = width;
    box.replaceChildren(barSvg(rows, { ...options, width }));
  };
  draw(options.width || 520);
  if (typeof ResizeObserver === 'function') {
    const observer = new ResizeObserver((entries) => {
      for (const entry of entries) draw(Math.floor(entry.contentRect.width));
    });
    observer.observe(box);
  }
  return box;
}

function barSvg(rows, { width, rowHeight = 30, ariaLabel = 'bar chart', total }) {
  const sum = total ?? rows.reduce((acc, row) => acc + row.value, 0);
  const max = Math.max(1, ...rows.map((row) => row.value));
  const longest = Math.max(1, ...rows.map((row) => Math.min(20, String(row.label).length)));
  const labelWidth = Math.round(Math.min(170, Math.max(56, 14 + longest * 7.6)));
  const valueWidth = 96;
  const barArea = Math.max(40, width - labelWidth - valueWidth);
  const height = rows.length * rowHeight + 4;
  const svg = s('svg', {
    class: 'chart bar-chart', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': ariaLabel,
  });
  rows.forEach((row, i) => {
    const y = 2 + i * rowHeight;
    const barWidth = row.value > 0 ? Math.max(3, (barArea * row.value) / max) : 0;
    const group = s('g', { class: ['bar-row', row.cls] });
    group.appendChild(s('title', null, `${row.title || row.label}: ${fmtNum(row.value)} (${fmtPercent(row.value, sum, 1)})`));
    group.appendChild(s('rect', { x: labelWidth, y: y + 6, width: barArea, height: rowHeight - 12, rx: 4, class: 'bar-track' }));
    group.appendChild(s('rect', { x: labelWidth, y: y + 6, width: barWidth, height: rowHeight - 12, rx: 4, class: ['bar', row.cls] }));
    group.appendChild(s('text', { x: labelWidth - 10, y: y + rowHeight / 2, class: 'bar-label', 'text-anchor': 'end', 'dominant-baseline': 'central' },
      truncate(row.label, 20)));
    group.appendChild(s('text', { x: width - 2, y: y + rowHeight / 2, class: 'bar-value', 'text-anchor': 'end', 'dominant-baseline': 'central' },
      s('tspan', { class: 'bar-count' }, fmtNum(row.value)), ` · ${fmtPercent(row.value, sum)}`));
    if (row.href) {
      const anchor = s('a', { href: row.href, class: 'bar-link' });
      anchor.appendChild(group);
      svg.appendChild(anchor);
    } else {
      svg.appendChild(group);
    }
  });
  return svg;
}

function truncate(text, length) {
  const value = String(text);
  return value.length > length ? value.slice(0, length - 1) + '…' : value;
}

/** A donut of parts [{key, value, cls}] with the total in the middle. */
export function donut(parts, { size = 168, thickness = 24, caption = 'devices' } = {}) {
  const total = parts.reduce((acc, p) => acc + p.value, 0);
  const radius = (size - thickness) / 2;
  const circumference = 2 * Math.PI * radius;
  const svg = s('svg', { class: 'chart donut', viewBox: `0 0 ${size} ${size}`, width: size, height: size, role: 'img',
    'aria-label': `${fmtNum(total)} ${caption}` });
  const c = size / 2;
  svg.appendChild(s('circle', { cx: c, cy: c, r: radius, class: 'donut-track', 'stroke-width': thickness, fill: 'none' }));
  let offset = 0;
  for (const part of parts) {
    if (!part.value) continue;
    const length = (circumference * part.value) / total;
    const arc = s('circle', {
      cx: c, cy: c, r: radius, fill: 'none', 'stroke-width': thickness, class: ['donut-arc', part.cls],
      'stroke-dasharray': `${Math.max(0, length - (parts.length > 1 ? 1.5 : 0))} ${circumference}`,
      'stroke-dashoffset': String(-offset), transform: `rotate(-90 ${c} ${c})`,
    });
    arc.appendChild(s('title', null, `${part.label || part.key}: ${fmtNum(part.value)} (${fmtPercent(part.value, total, 1)})`));
    svg.appendChild(arc);
    offset += length;
  }
  svg.appendChild(s('text', { x: c, y: c - 6, class: 'donut-total', 'text-anchor': 'middle', 'dominant-baseline': 'central' }, fmtNum(total)));
  svg.appendChild(s('text', { x: c, y: c + 16, class: 'donut-caption', 'text-anchor': 'middle', 'dominant-baseline': 'central' }, caption));
  return svg;
}

/**
 * A stacked progress bar over rollout states. Returns an element with `update(counts)`, so a
 * live page moves the existing bar (with a CSS transition) instead of redrawing it.
 */
export function progressBar(counts, order, { large = false } = {}) {
  const bar = h('div', { class: ['progress', large && 'progress-lg'], role: 'img' });
  const segments = {};
  for (const state of order) {
    const seg = h('div', { class: ['progress-seg', 'st-' + stateKey(state)] });
    segments[state] = seg;
    bar.appendChild(seg);
  }
  bar.update = (next) => {
    const total = order.reduce((acc, state) => acc + (next[state] || 0), 0);
    const parts = [];
    for (const state of order) {
      const value = next[state] || 0;
      segments[state].style.width = total ? `${(100 * value) / total}%` : '0%';
      segments[state].title = `${stateLabel(state)}: ${fmtNum(value)}`;
      if (value) parts.push(`${stateLabel(state)} ${fmtNum(value)}`);
    }
    bar.classList.toggle('progress-empty', total === 0);
    bar.setAttribute('aria-label', total ? parts.join(', ') : 'no devices yet');
  };
  bar.update(counts || {});
  return bar;
}

/** A legend with counts: [• succeeded 12] [• failed 1] ... */
export function legend(counts, order, { hrefFor, showZero = true } = {}) {
  const list = h('ul', { class: 'legend' });
  for (const state of order) {
    const value = counts[state] || 0;
    if (!value && !showZero) continue;
    const content = [h('span', { class: ['dot', 'st-' + stateKey(state)] }), h('span', { class: 'legend-label' }, stateLabel(state)),
      h('span', { class: 'legend-value', dataset: { state } }, fmtNum(value))];
    const href = hrefFor && value ? hrefFor(state) : null;
    list.appendChild(h('li', { class: value ? null : 'zero' }, href ? h('a', { href }, content) : content));
  }
  return list;
}

/**
 * A small range chart of one metric over devices: per row [{label, dist, cls}] a whisker from
 * min to max, a box from p25 to p75 and a tick at the median, on one scale for every row.
 */
export function rangeChart(title, rows, { width = 260, rowHeight = 22 } = {}) {
  const present = rows.filter((row) => row.dist);
  const low = Math.min(0, ...present.map((row) => row.dist.min));
  const high = Math.max(...present.map((row) => row.dist.max), low + 1e-9);
  const labelWidth = 74;
  const valueWidth = 58;
  const area = width - labelWidth - valueWidth;
  const x = (value) => labelWidth + (area * (value - low)) / (high - low);
  const svg = s('svg', { class: 'chart range-chart', viewBox: `0 0 ${width} ${rows.length * rowHeight + 4}`, width,
    height: rows.length * rowHeight + 4, role: 'img', 'aria-label': title });
  rows.forEach((row, i) => {
    const y = 2 + i * rowHeight + rowHeight / 2;
    const group = s('g', { class: ['range-row', row.cls], dataset: { row: row.label } });
    group.appendChild(s('text', { x: labelWidth - 8, y, class: 'bar-label', 'text-anchor': 'end', 'dominant-baseline': 'central' }, truncate(row.label, 11)));
    if (row.dist) {
      const d = row.dist;
      group.appendChild(s('title', null, `${row.label}: median ${fmtFigure(d.median)} (min ${fmtFigure(d.min)}, p25 ${fmtFigure(d.p25)}, p75 ${fmtFigure(d.p75)}, max ${fmtFigure(d.max)}) over ${fmtNum(d.devices)} device${d.devices === 1 ? '' : 's'}`));
      group.appendChild(s('line', { x1: x(d.min), x2: x(d.max), y1: y, y2: y, class: 'range-whisker' }));
      group.appendChild(s('rect', { x: x(d.p25), y: y - 6, width: Math.max(2, x(d.p75) - x(d.p25)), height: 12, rx: 2, class: 'range-box' }));
      group.appendChild(s('line', { x1: x(d.median), x2: x(d.median), y1: y - 8, y2: y + 8, class: 'range-median' }));
    }
    group.appendChild(s('text', { x: width - 2, y, class: 'bar-value range-value', 'text-anchor': 'end', 'dominant-baseline': 'central' },
      row.dist ? fmtFigure(row.dist.median) : '–'));
    svg.appendChild(group);
  });
  return h('figure', { class: 'range-figure', dataset: { metric: title } }, h('figcaption', null, title), svg);
}

/** A figure with four significant digits: 0.9533, 0.09123, 12.5. */
export function fmtFigure(value) {
  if (value == null || !Number.isFinite(value)) return '–';
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(4)));
}
