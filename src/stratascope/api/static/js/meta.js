// The image metadata panel, shared by the browse page and the viewer.
import { h, clear, humanBytes } from './dom.js';
import { viewerUrl } from './api.js';

const SYMBOLS = {
  micrometer: 'µm', nanometer: 'nm', millimeter: 'mm', centimeter: 'cm', meter: 'm', angstrom: 'Å',
  second: 's', millisecond: 'ms', microsecond: 'µs', minute: 'min', hour: 'h',
};

function physical(sizes, axis) {
  const s = sizes[axis];
  if (!s) return '—';
  const unit = s.unit ? (SYMBOLS[s.unit.toLowerCase()] || s.unit) : (axis === 't' ? 's' : 'µm');
  return `${Number(s.value.toPrecision(6))} ${unit}`;
}

function swatch(color) {
  // RRGGBB, or RRGGBBAA (alpha dropped); grey only when the channel has no colour at all
  const css = color && /^[0-9a-f]{6}([0-9a-f]{2})?$/i.test(color) ? `#${color.slice(0, 6)}` : '#888';
  return h('span', { class: 'swatch', style: `background:${css}` });
}

export function linkList(links, { includeViewer = null } = {}) {
  const items = [];
  if (includeViewer) items.push(['Open in viewer', viewerUrl(includeViewer), 'open-viewer']);
  if (links.iiif) items.push(['IIIF info.json', links.iiif, 'iiif']);
  if (links.zarr) items.push(['OME-Zarr (v0.4)', links.zarr, 'zarr']);
  if (links.zarr_v3) items.push(['OME-Zarr (v0.5)', links.zarr_v3, 'zarr-v3']);
  items.push(['imgData JSON', links.imgData, 'imgdata']);
  items.push(['JSON API', links.json, 'json']);
  if (links.download) items.push(['Download original', links.download, 'download']);
  return items.map(([label, href, key]) => h('li', {}, h('a', { href, class: `link-${key}`, dataset: { link: key } }, label)));
}

export function renderMeta(panel, d, { withViewerLink = true, withLinks = true, colors = null } = {}) {
  const size = d.size;
  const rows = [
    ['Format', d.format],
    ['Pixels', `${d.dtype}`],
    ['Size (X×Y)', `${size.x} × ${size.y}`],
    ['Z / C / T', `${size.z} / ${size.c} / ${size.t}`],
    ['Pixel size X', physical(d.physicalSizes, 'x')],
    ['Pixel size Y', physical(d.physicalSizes, 'y')],
    ['Pixel size Z', physical(d.physicalSizes, 'z')],
    ['Time step', physical(d.physicalSizes, 't')],
    ['Levels', d.levels.map((l) => `${l.shape[4]}×${l.shape[3]}`).join(', ')],
    ['Chunks', d.levels.length ? d.levels[0].chunks.join('×') : '—'],
  ];
  clear(panel,
    h('h3', { class: 'meta-name', title: d.name }, d.name),
    d.description ? h('p', { class: 'meta-desc' }, d.description) : null,
    h('dl', { class: 'meta-table' }, rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
    h('h4', {}, 'Channels'),
    h('ul', { class: 'meta-channels' }, d.channels.map((c, i) =>
      h('li', { dataset: { channel: String(i) } }, swatch((colors && colors[i]) || c.color), c.label, c.emissionWave ? h('span', { class: 'dim' }, ` ${c.emissionWave} nm`) : null))),
    h('h4', {}, 'Source'),
    h('p', { class: 'source-url', title: d.url }, h('code', {}, d.url), d.series ? ` (series ${d.series})` : ''),
    h('ul', { class: 'meta-sources' }, d.sources.slice(0, 20).map((s) =>
      h('li', { title: s.url }, h('code', {}, s.url.split('/').slice(-2).join('/')), ` ${humanBytes(s.size)}`,
        s.storageClass ? ` · ${s.storageClass}` : '', s.etag ? h('span', { class: 'dim' }, ` · etag ${s.etag}`) : null))),
    d.sources.length > 20 ? h('p', { class: 'dim' }, `… and ${d.sources.length - 20} more objects`) : null,
    withLinks ? h('ul', { class: 'links' }, linkList(d.links, { includeViewer: withViewerLink ? d.id : null })) : null,
  );
}
