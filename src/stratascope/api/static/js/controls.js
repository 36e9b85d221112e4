// Sidebar controls: channels (on/off, colour, window start/end), z, t, projection, greyscale.
// Each control edits the settings object and calls onChange(); the viewer decides when to redraw.
import { h, clear } from './dom.js';

const HEX = /^[0-9a-f]{6}$/i;

function windowStep(img) {
  // a coarser step would snap values from permalinks; the slider's width limits precision anyway
  return ['float', 'double'].includes(img.meta.pixelsType) ? 'any' : '1';
}

function channelRow(img, settings, index, onChange) {
  const info = img.channels[index];
  const ch = settings.channels[index];
  const step = windowStep(img);
  const lo = Math.min(info.window.min, ch.start);
  const hi = Math.max(info.window.max, ch.end);
  // a slider for dragging and a number field for exact values, kept in step
  const setValue = (key, value) => {
    ch[key] = value;
    row.querySelector(`.window-${key}`).value = String(value);
    row.querySelector(`.window-${key}-value`).value = String(value);
  };
  const edit = (key, value) => {
    if (!Number.isFinite(value)) return;
    setValue(key, value);
    if (ch.start > ch.end) setValue(key === 'start' ? 'end' : 'start', value); // keep start <= end
    onChange('window');
  };
  const slider = (key) => h('input', {
    type: 'range', min: String(lo), max: String(hi), step, value: String(ch[key]),
    class: `window-${key}`, 'aria-label': `${info.label} window ${key}`,
    oninput: (e) => edit(key, Number(e.target.value)),
  });
  const field = (key) => h('input', {
    type: 'number', step, value: String(ch[key]), class: `window-${key}-value number`,
    'aria-label': `${info.label} window ${key} value`,
    onchange: (e) => edit(key, Number(e.target.value)),
  });
  const colour = HEX.test(ch.color)
    ? h('input', { type: 'color', value: `#${ch.color.toLowerCase()}`, class: 'colour', 'aria-label': `${info.label} colour`,
      oninput: (e) => { ch.color = e.target.value.slice(1).toUpperCase(); onChange('color'); } })
    : h('span', { class: 'lut', title: 'lookup table' }, ch.color);
  const row = h('div', { class: `channel${ch.active ? '' : ' off'}`, dataset: { channel: String(index) } },
    h('div', { class: 'channel-head' },
      h('label', { class: 'channel-toggle' },
        h('input', { type: 'checkbox', checked: ch.active, class: 'active', 'aria-label': `${info.label} on/off`,
          onchange: (e) => { ch.active = e.target.checked; row.classList.toggle('off', !ch.active); onChange('active'); } }),
        h('span', { class: 'channel-label', title: info.label }, info.label),
        index < 9 ? h('kbd', { class: 'channel-key', title: `key ${index + 1} turns it on/off` }, String(index + 1)) : null),
      colour),
    h('div', { class: 'window' }, h('span', { class: 'dim' }, 'start'), slider('start'), field('start')),
    h('div', { class: 'window' }, h('span', { class: 'dim' }, 'end'), slider('end'), field('end')));
  return row;
}

export function buildControls(img, settings, onChange) {
  const channels = document.getElementById('channels');
  clear(channels, img.channels.map((_, i) => channelRow(img, settings, i, onChange)));

  const plane = (axis, size) => {
    const slider = document.getElementById(`${axis}-slider`);
    const value = document.getElementById(`${axis}-value`);
    slider.max = String(size - 1);
    slider.value = String(settings[axis]);
    value.textContent = `${settings[axis] + 1}/${size}`;
    document.getElementById(`${axis}-row`).hidden = size < 2;
    slider.addEventListener('input', () => {
      settings[axis] = Number(slider.value);
      value.textContent = `${settings[axis] + 1}/${size}`;
      onChange(axis);
    });
  };
  plane('z', img.size.z);
  plane('t', img.size.t);

  const projection = document.getElementById('projection');
  projection.value = settings.projection;
  projection.disabled = img.size.z < 2;
  projection.closest('label').hidden = img.size.z < 2; // nothing to project in a single plane
  const zSlider = document.getElementById('z-slider');
  zSlider.disabled = settings.projection !== 'normal';
  projection.addEventListener('change', () => {
    settings.projection = projection.value;
    zSlider.disabled = settings.projection !== 'normal';
    onChange('projection');
  });

  const grey = document.getElementById('greyscale');
  grey.checked = settings.greyscale;
  grey.addEventListener('change', () => { settings.greyscale = grey.checked; onChange('greyscale'); });
}

/** Keyboard shortcuts (ignored while typing in a field). */
export function bindKeys(img, settings, onChange, onHome) {
  const step = (axis, delta) => {
    const size = img.size[axis];
    const next = Math.min(size - 1, Math.max(0, settings[axis] + delta));
    if (next === settings[axis]) return;
    const slider = document.getElementById(`${axis}-slider`);
    slider.value = String(next);
    slider.dispatchEvent(new Event('input'));
  };
  document.addEventListener('keydown', (e) => {
    const target = e.target;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (target instanceof HTMLInputElement && target.type !== 'checkbox' && target.type !== 'range') return;
    if (target instanceof HTMLSelectElement || target instanceof HTMLTextAreaElement) return;
    if (e.key === ']') step('z', 1);
    else if (e.key === '[') step('z', -1);
    else if (e.key === '>' || e.key === '.') step('t', 1);
    else if (e.key === '<' || e.key === ',') step('t', -1);
    else if (e.key === 'p' && img.size.z > 1) {
      const select = document.getElementById('projection');
      const order = ['normal', 'intmax', 'intmean'];
      select.value = order[(order.indexOf(select.value) + 1) % order.length];
      select.dispatchEvent(new Event('change'));
    } else if (/^[1-9]$/.test(e.key) && Number(e.key) <= img.channels.length) {
      const box = document.querySelector(`.channel[data-channel="${Number(e.key) - 1}"] input.active`);
      box.checked = !box.checked;
      box.dispatchEvent(new Event('change'));
    } else if (e.key === '0') onHome();
    else return;
    e.preventDefault();
  });
}
