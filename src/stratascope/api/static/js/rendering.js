// Rendering settings as OMERO.web's query grammar (c=, m=, p=), shared by tile URLs and
// permalinks, so a permalink's query can be pasted onto any webgateway render URL.

const HEX = /^[0-9a-f]{6}$/i;

/** Settings from imgData's defaults. */
export function defaultSettings(img) {
  return {
    z: img.rdefs.defaultZ ?? 0,
    t: img.rdefs.defaultT ?? 0,
    projection: img.rdefs.projection === 'intmax' || img.rdefs.projection === 'intmean' ? img.rdefs.projection : 'normal',
    greyscale: img.rdefs.model === 'greyscale',
    channels: img.channels.map((ch) => ({
      active: Boolean(ch.active),
      color: ch.color,
      start: ch.window.start,
      end: ch.window.end,
    })),
  };
}

function num(value) {
  // short, exact enough: windows are data values, not screen positions
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6)));
}

/** `1|100:3000$FF0000,-2|0:4000$00FF00` (1-based; a leading minus means off). */
export function channelParam(channels) {
  return channels.map((ch, i) => `${ch.active ? '' : '-'}${i + 1}|${num(ch.start)}:${num(ch.end)}$${ch.color}`).join(',');
}

/** The render query (without z/t, which are path segments in webgateway URLs). */
export function renderQuery(s) {
  let q = `c=${channelParam(s.channels)}&m=${s.greyscale ? 'g' : 'c'}`;
  if (s.projection !== 'normal') q += `&p=${s.projection}`;
  return q;
}

function clampInt(raw, lo, hi) {
  if (raw === null || !/^-?\d+$/.test(raw)) return null;
  return Math.min(hi, Math.max(lo, Number(raw)));
}

function parseChannels(text, defaults) {
  // channels not listed become inactive, as in omero-web
  const out = defaults.map((ch) => ({ ...ch, active: false }));
  for (const entry of text.split(',')) {
    const m = /^(-?)(\d+)(?:\|(-?[\d.e+-]+):(-?[\d.e+-]+))?(?:\$([^,]+))?$/i.exec(entry.trim());
    if (!m) continue;
    const index = Number(m[2]) - 1;
    if (index < 0 || index >= out.length) continue;
    const ch = out[index];
    ch.active = m[1] !== '-';
    if (m[3] !== undefined && Number.isFinite(Number(m[3])) && Number.isFinite(Number(m[4]))) {
      ch.start = Number(m[3]);
      ch.end = Number(m[4]);
    }
    if (m[5] && (HEX.test(m[5]) || m[5].toLowerCase().endsWith('.lut'))) ch.color = m[5].toUpperCase().replace('.LUT', '.lut');
  }
  return out;
}

/** Settings and view from a permalink query, falling back to the image's defaults. */
export function fromQuery(search, img) {
  const q = new URLSearchParams(search);
  const s = defaultSettings(img);
  const z = clampInt(q.get('z'), 0, img.size.z - 1);
  const t = clampInt(q.get('t'), 0, img.size.t - 1);
  if (z !== null) s.z = z;
  if (t !== null) s.t = t;
  if (['normal', 'intmax', 'intmean'].includes(q.get('p'))) s.projection = q.get('p');
  if (q.get('m') === 'g' || q.get('m') === 'c') s.greyscale = q.get('m') === 'g';
  if (q.get('c')) s.channels = parseChannels(q.get('c'), s.channels);
  let view = null;
  const [zoom, x, y] = ['zoom', 'x', 'y'].map((k) => Number(q.get(k)));
  if (q.has('zoom') && Number.isFinite(zoom) && zoom > 0 && Number.isFinite(x) && Number.isFinite(y)) {
    view = { zoom, x, y };
  }
  return { settings: s, view };
}

/** The permalink query: z, t, render settings, and the view (zoom + centre in image pixels). */
export function toQuery(s, view) {
  let q = `z=${s.z}&t=${s.t}&${renderQuery(s)}`;
  if (view) q += `&zoom=${Number(view.zoom.toPrecision(4))}&x=${Math.round(view.x)}&y=${Math.round(view.y)}`;
  // keep | $ : , readable (all are legal in a query string)
  return encodeURI(q).replace(/%7C/gi, '|');
}
