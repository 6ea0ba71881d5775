// Bundles: every published version with its signers, size, hardware and metadata.
import { h, replace, route, fmtNum, fmtBytes, fmtTime, fmtAgo, timeAgo, shortDigest, compareVersions, chip } from '../dom.js';
import { api, query } from '../api.js';
import { card, empty, kv } from '../ui.js';

function kindBadge(kind) {
  const known = ['model', 'firmware'].includes(kind) ? kind : 'other';
  return h('span', { class: ['badge', 'kind-' + known] }, kind);
}

function signerChips(signers) {
  return h('div', { class: 'chips' }, signers.map((keyid) => chip(shortDigest(keyid, 12), { class: 'chip-key mono', title: 'key id ' + keyid })));
}

/** A few well-known metadata fields, shown inline in the list. */
function highlights(metadata) {
  if (!metadata || typeof metadata !== 'object' || Array.isArray(metadata)) return null;
  const items = [];
  for (const key of ['framework', 'quantization', 'precision', 'build']) {
    if (metadata[key] !== undefined && typeof metadata[key] !== 'object') items.push(chip([h('span', { class: 'muted' }, key + ' '), String(metadata[key])]));
  }
  const metrics = metadata.metrics && typeof metadata.metrics === 'object' && !Array.isArray(metadata.metrics) ? metadata.metrics : null;
  if (metrics) {
    for (const [key, value] of Object.entries(metrics).slice(0, 2)) {
      if (typeof value !== 'object') items.push(chip([h('span', { class: 'muted' }, key + ' '), formatScalar(value)], { class: 'chip-metric' }));
    }
  }
  return items.length ? h('div', { class: 'chips' }, items) : null;
}

function formatScalar(value) {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return Number.isInteger(value) ? fmtNum(value) : String(value);
  return String(value);
}

export async function renderBundles(ctx) {
  ctx.title('Bundles');
  const only = ctx.params.get('name') || '';
  const [list, summary] = await Promise.all([
    api('/api/v1/bundles' + query({ name: only })),
    api('/api/v1/fleet/summary?silent_after_s=3600'),
  ]);
  if (!ctx.alive()) return;
  const running = {};
  for (const b of summary.bundles) for (const v of b.versions) running[`${b.name}\u0000${v.version}`] = v.count;

  const byName = new Map();
  for (const bundle of list.bundles) {
    if (!byName.has(bundle.name)) byName.set(bundle.name, []);
    byName.get(bundle.name).push(bundle);
  }
  const names = [...byName.keys()].sort();

  replace(ctx.main,
    h('div', { class: 'page-head' },
      h('div', null, h('h1', null, only ? ['Bundles: ', h('span', { class: 'mono' }, only)] : 'Bundles'),
        h('p', { class: 'subtitle' }, `${fmtNum(list.bundles.length)} published version${list.bundles.length === 1 ? '' : 's'} of ${fmtNum(names.length)} bundle${names.length === 1 ? '' : 's'}, signed and verified against the server's trust root.`)),
      only ? h('div', { class: 'page-head-right' }, h('a', { href: '#/bundles', class: 'btn' }, 'Show all bundles')) : null),
    names.length === 0 ? h('div', { class: 'panel' }, empty('Nothing is published yet. Publish with ', h('code', null, 'otactl publish NAME-VERSION.otab'))) : null,
    names.map((name) => {
      const versions = byName.get(name).sort((a, b) => compareVersions(b.version, a.version));
      const onDevices = versions.reduce((acc, v) => acc + (running[`${name}\u0000${v.version}`] || 0), 0);
      const kinds = [...new Set(versions.map((v) => v.kind))];
      return card(h('span', { class: 'bundle-title' }, name, ' ', kinds.map(kindBadge)),
        h('div', { class: 'card-body card-body-flush table-wrap' },
          h('table', { class: 'table table-hover bundle-table', dataset: { bundle: name } },
            h('thead', null, h('tr', null,
              h('th', null, 'Version'), h('th', { class: 'num' }, 'Devices'), h('th', { class: 'num' }, 'Size'), h('th', null, 'Compatible'),
              h('th', { class: 'hide-sm' }, 'Signed by'), h('th', { class: 'hide-md' }, 'Metadata'), h('th', { class: 'hide-sm nowrap' }, 'Published'))),
            h('tbody', null, versions.map((b) => {
              const count = running[`${name}\u0000${b.version}`] || 0;
              return h('tr', { dataset: { version: b.version } },
                h('td', null, h('a', { href: route('bundles', b.name, b.version), class: 'strong version-link' }, b.version)),
                h('td', { class: 'num' }, count ? h('a', { href: '#/devices' + query({ bundle: b.name, version: b.version }) }, fmtNum(count)) : h('span', { class: 'muted' }, '0')),
                h('td', { class: 'num nowrap' }, fmtBytes(b.size)),
                h('td', null, h('div', { class: 'chips' }, b.compatible.map((hw) => chip(hw, { class: 'chip-hw' })))),
                h('td', { class: 'hide-sm' }, signerChips(b.signers)),
                h('td', { class: 'hide-md' }, highlights(b.metadata) || h('span', { class: 'muted' }, '—')),
                h('td', { class: 'hide-sm nowrap' }, timeAgo(b.published_at)));
            })))),
        { class: 'bundle-card', action: h('span', { class: 'muted small' }, `${versions.length} version${versions.length === 1 ? '' : 's'} · on ${fmtNum(onDevices)} device${onDevices === 1 ? '' : 's'}`) });
    }));
  ctx.ready();
}

export async function renderBundle(ctx, name, version) {
  ctx.title(`${name} ${version}`);
  const [b, summary] = await Promise.all([
    api(`/api/v1/bundles/${encodeURIComponent(name)}/${encodeURIComponent(version)}`),
    api('/api/v1/fleet/summary?silent_after_s=3600'),
  ]);
  if (!ctx.alive()) return;
  const entry = summary.bundles.find((x) => x.name === b.name);
  const versionCount = entry ? (entry.versions.find((v) => v.version === b.version) || { count: 0 }).count : 0;
  const allCount = entry ? entry.versions.reduce((acc, v) => acc + v.count, 0) : 0;
  const files = b.files || [];

  replace(ctx.main,
    h('nav', { class: 'breadcrumb' }, h('a', { href: '#/bundles' }, 'Bundles'), ' / ', h('a', { href: '#/bundles' + query({ name: b.name }) }, b.name), ' / ', b.version),
    h('div', { class: 'page-head' },
      h('div', null,
        h('h1', { id: 'bundle-title' }, b.name, ' ', h('span', { class: 'version' }, b.version), ' ', kindBadge(b.kind)),
        h('p', { class: 'subtitle' }, `${fmtBytes(b.size)} in ${fmtNum(files.length)} file${files.length === 1 ? '' : 's'} · published ${fmtAgo(b.published_at)}`)),
      h('div', { class: 'page-head-right' },
        h('a', { class: 'btn', href: '#/devices' + query({ bundle: b.name, version: b.version }) }, `Running on ${fmtNum(versionCount)} device${versionCount === 1 ? '' : 's'}`))),
    h('div', { class: 'grid grid-2' },
      card('Bundle', h('div', { class: 'card-body' }, h('dl', { class: 'kv', id: 'bundle-facts' },
        kv('Kind', b.kind),
        kv('Version', b.version),
        kv('Size', `${fmtBytes(b.size)} (${fmtNum(b.size)} bytes)`),
        kv('Digest', h('span', { class: 'mono break' }, b.digest)),
        kv('Created', fmtTime(b.created)),
        kv('Published', fmtTime(b.published_at)),
        kv('Compatible', h('div', { class: 'chips' }, b.compatible.map((hw) => h('a', { href: '#/devices' + query({ hardware: hw }), class: 'chip chip-hw' }, hw)))),
        kv('Health check', b.health ? [h('code', null, b.health.command), ` · timeout ${b.health.timeout_s} s`] : h('span', { class: 'muted' }, 'device default')),
        kv('Devices', `${fmtNum(versionCount)} run this version · ${fmtNum(allCount)} run ${b.name}`))), { id: 'card-bundle' }),
      card('Signed by', h('div', { class: 'card-body' },
        h('p', { class: 'muted small' }, 'Key ids (SHA-256 of the Ed25519 public key) of the valid signatures the server verified.'),
        h('ul', { class: 'signers', id: 'signers' }, b.signers.map((keyid) => h('li', { class: 'mono break' }, keyid)))), { id: 'card-signers' })),
    card('Metadata', h('div', { class: 'card-body card-body-flush' },
      b.metadata && typeof b.metadata === 'object' && Object.keys(b.metadata).length
        ? h('table', { class: 'table metadata', id: 'metadata-table' }, h('tbody', null, metadataRows(b.metadata, 0)))
        : empty('This bundle carries no metadata.')), { id: 'card-metadata' }),
    b.variants && b.variants.length ? card('Builds', h('div', { class: 'card-body card-body-flush table-wrap' },
      h('table', { class: 'table', id: 'variants-table' },
        h('thead', null, h('tr', null, h('th', null, 'Build'), h('th', { class: 'num' }, 'Files'), h('th', { class: 'num' }, 'Size'), h('th', null, 'Requires'))),
        h('tbody', null, b.variants.map((v) => h('tr', { dataset: { variant: v.name } },
          h('td', { class: 'mono' }, v.name), h('td', { class: 'num' }, fmtNum(v.files)), h('td', { class: 'num nowrap' }, fmtBytes(v.size)),
          h('td', { class: 'mono' }, v.requires || 'any device')))))),
      { id: 'card-variants', action: h('span', { class: 'muted small' }, 'best first · each device takes the first that fits') }) : null,
    card('Files', h('div', { class: 'card-body card-body-flush table-wrap' },
      files.length === 0 ? empty('No files.') :
        h('table', { class: 'table', id: 'files-table' },
          h('thead', null, h('tr', null, h('th', null, 'Path'), h('th', { class: 'num' }, 'Size'), h('th', { class: 'hide-sm' }, 'SHA-256'))),
          h('tbody', null, files.map((f) => h('tr', null,
            h('td', { class: 'mono' }, f.path), h('td', { class: 'num nowrap' }, fmtBytes(f.size)),
            h('td', { class: 'hide-sm mono muted', title: f.sha256 }, shortDigest(f.sha256, 24))))))), { id: 'card-files' }));
  ctx.ready();
}

/** Nested metadata as indented rows: objects become a heading row and their keys below it. */
function metadataRows(value, depth, prefix = '') {
  const rows = [];
  const entries = Object.entries(value).sort(([a, av], [b, bv]) => {
    const ao = isObject(av) ? 1 : 0;
    const bo = isObject(bv) ? 1 : 0;
    return ao - bo || (a < b ? -1 : a > b ? 1 : 0);
  });
  for (const [key, child] of entries) {
    const path = prefix ? `${prefix}.${key}` : key;
    const keyCell = h('th', { class: 'meta-key', scope: 'row', title: path }, key);
    keyCell.style.paddingLeft = `${16 + depth * 20}px`;
    if (isObject(child) && Object.keys(child).length) {
      keyCell.setAttribute('colspan', '2');
      keyCell.classList.add('meta-group');
      rows.push(h('tr', { class: 'meta-group-row', dataset: { path } }, keyCell));
      rows.push(...metadataRows(child, depth + 1, path));
    } else {
      rows.push(h('tr', { dataset: { path } }, keyCell, h('td', { class: ['meta-value', 'type-' + typeOf(child)] }, formatValue(child))));
    }
  }
  return rows;
}

function isObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function typeOf(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function formatValue(value) {
  if (Array.isArray(value)) {
    if (value.every((x) => x === null || typeof x !== 'object')) return value.length ? value.map(formatScalar).join(', ') : '(empty list)';
    return h('code', { class: 'json' }, JSON.stringify(value, null, 1));
  }
  if (isObject(value)) return '(empty)';
  return formatScalar(value);
}
