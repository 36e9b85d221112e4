// HCS on the home page: screens → plates → a plate grid of thumbnails (one field at a time),
// from OMERO.web's JSON API and the webgateway plate grid (/webgateway/plate/{id}/{field}/).
import { getJSON, thumbnailUrl, viewerUrl } from './api.js';
import { h, clear } from './dom.js';

const LIMIT = 500;
export const ORPHANS = -1; // the pseudo-screen of plates that are in no screen

export const plateApi = {
  screens: () => getJSON(`/api/v0/m/screens/?childCount=true&limit=${LIMIT}`),
  plates: (screenId) => getJSON(screenId === ORPHANS
    ? `/api/v0/m/plates/?orphaned=true&limit=${LIMIT}` : `/api/v0/m/screens/${screenId}/plates/?limit=${LIMIT}`),
  plate: (plateId) => getJSON(`/api/v0/m/plates/${plateId}/`),
  grid: (plateId, field) => getJSON(`/webgateway/plate/${plateId}/${field}/?layout=trim&size=96`),
};

function item(label, count, selected, onclick, kind, id) {
  return h('li', { class: selected ? 'selected' : '' },
    h('button', { type: 'button', onclick, dataset: { kind, id: String(id) } },
      h('span', { class: 'name' }, label), count !== undefined ? h('span', { class: 'count' }, String(count)) : null));
}

export async function showScreens(list, state, navigate) {
  const [{ data: screens }, { data: orphans }] = await Promise.all([
    plateApi.screens(), getJSON(`/api/v0/m/plates/?orphaned=true&limit=1`)]);
  const items = screens.map((s) => item(s.Name, s['omero:childCount'], s['@id'] === state.screen,
    () => navigate({ screen: s['@id'] }), 'screen', s['@id']));
  if (orphans.length) {
    items.push(item('Plates in no screen', undefined, state.screen === ORPHANS,
      () => navigate({ screen: ORPHANS }), 'screen', ORPHANS));
  }
  clear(list, items.length ? items : h('li', { class: 'hint' }, 'No screens'));
}

export async function showPlates(list, state, navigate) {
  const { data } = await plateApi.plates(state.screen);
  clear(list, data.length ? data.map((p) => item(p.Name, `${p.Rows}×${p.Columns}`, p['@id'] === state.plate,
    () => navigate({ screen: state.screen, plate: p['@id'] }), 'plate', p['@id']))
    : h('li', { class: 'hint' }, 'No plates'));
}

function fieldPicker(plate, state, navigate) {
  const [low, high] = plate['omero:wellsampleIndex'] || [0, 0];
  if (high <= low) return null;
  const select = h('select', { 'aria-label': 'Field', id: 'plate-field',
    onchange: (e) => navigate({ ...state, field: Number(e.target.value), image: null }) });
  for (let f = low; f <= high; f += 1) {
    select.append(h('option', { value: String(f), selected: f === (state.field || 0) }, `Field ${f + 1}`));
  }
  return h('label', { class: 'field-picker' }, 'Show ', select);
}

function wellCell(cell, state, navigate, label) {
  if (!cell) return h('td', { class: 'well empty', title: `${label}: no image` });
  const select = () => navigate({ ...state, image: cell.id });
  return h('td', { class: `well${cell.id === state.image ? ' selected' : ''}`, dataset: { imageId: String(cell.id) } },
    h('button', { type: 'button', class: 'thumb', onclick: select, ondblclick: () => { location.href = viewerUrl(cell.id); },
      title: `${label} — ${cell.name} (double-click to open)` },
      h('img', { src: cell.thumb_url || thumbnailUrl(cell.id, 96), alt: cell.name, loading: 'lazy', width: 96, height: 96 })));
}

export async function showPlateGrid(container, title, state, navigate) {
  const field = state.field || 0;
  const [plate, grid] = await Promise.all([plateApi.plate(state.plate), plateApi.grid(state.plate, field)]);
  title.textContent = `Plate ${plate.data.Name}`;
  const head = h('tr', {}, h('th', {}), grid.collabels.map((c) => h('th', { scope: 'col' }, String(c))));
  const rows = grid.grid.map((row, r) => h('tr', {}, h('th', { scope: 'row' }, String(grid.rowlabels[r])),
    row.map((cell, c) => wellCell(cell, state, navigate, `${grid.rowlabels[r]}${grid.collabels[c]}`))));
  clear(container, h('div', { class: 'plate-view' }, fieldPicker(plate.data, state, navigate),
    h('table', { class: 'plate-grid', 'aria-label': `Plate ${plate.data.Name}, field ${field + 1}` },
      h('thead', {}, head), h('tbody', {}, rows))));
}
