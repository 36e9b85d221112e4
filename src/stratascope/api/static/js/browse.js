// The home page: projects → datasets → images (thumbnails), screens → plates → plate grid,
// name search, metadata panel. Where the user is lives in the URL hash (#project=1&dataset=2&image=3,
// #screen=1&plate=2&field=0&image=3 or #q=name&image=3), so the back button and shared links work.
import { api, thumbnailUrl, viewerUrl } from './api.js';
import { h, clear, debounce } from './dom.js';
import { renderMeta } from './meta.js';
import { showPlateGrid, showPlates, showScreens } from './plates.js';

const el = {
  projects: document.getElementById('projects'),
  screens: document.getElementById('screens'),
  datasetsTitle: document.getElementById('datasets-title'),
  datasets: document.getElementById('datasets'),
  images: document.getElementById('images'),
  imagesTitle: document.getElementById('images-title'),
  meta: document.getElementById('meta'),
  search: document.getElementById('search'),
  searchInput: document.getElementById('search-input'),
};

function readHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  const num = (k) => (p.has(k) && /^-?\d+$/.test(p.get(k)) ? Number(p.get(k)) : null);
  return { project: num('project'), dataset: num('dataset'), image: num('image'), q: p.get('q') || '',
    screen: num('screen'), plate: num('plate'), field: num('field') };
}

function writeHash(state) {
  const p = new URLSearchParams();
  for (const key of ['q', 'project', 'dataset', 'screen', 'plate', 'field', 'image']) if (state[key]) p.set(key, state[key]);
  const next = `#${p}`;
  if (location.hash !== next) history.pushState(null, '', next);
  show(state);
}

function errorItem(err) {
  return h('p', { class: 'error' }, String(err.message || err));
}

function listItem(label, count, selected, onclick, kind, id) {
  return h('li', { class: selected ? 'selected' : '' },
    h('button', { type: 'button', onclick, dataset: { kind, id: String(id) } },
      h('span', { class: 'name' }, label), count !== undefined ? h('span', { class: 'count' }, String(count)) : null));
}

let shown = {};
// the pseudo-project of images imported without --project (OMERO.web's "Orphaned Images")
const ORPHANS = -1;

async function showProjects(state) {
  try {
    const [{ data }, orphans] = await Promise.all([api.projects(), api.orphans(1)]);
    const items = data.map((p) => listItem(p.Name, p['omero:childCount'], p['@id'] === state.project,
      () => writeHash({ project: p['@id'] }), 'project', p['@id']));
    if (orphans.meta.totalCount) {
      items.push(listItem('Orphaned images', orphans.meta.totalCount, state.project === ORPHANS,
        () => writeHash({ project: ORPHANS }), 'project', ORPHANS));
    }
    clear(el.projects, items.length ? items
      : h('li', { class: 'hint' }, 'No projects yet: import some images (stratascope import URL)'));
  } catch (err) { clear(el.projects, errorItem(err)); }
  try {
    await showScreens(el.screens, state, writeHash);
  } catch (err) { clear(el.screens, errorItem(err)); }
}

async function showDatasets(state) {
  el.datasetsTitle.textContent = state.screen ? 'Plates' : 'Datasets';
  if (state.screen) {
    try { await showPlates(el.datasets, state, writeHash); } catch (err) { clear(el.datasets, errorItem(err)); }
    return;
  }
  if (!state.project) { clear(el.datasets, h('li', { class: 'hint' }, 'Choose a project')); return; }
  if (state.project === ORPHANS) { clear(el.datasets, h('li', { class: 'hint' }, 'Images in no dataset')); return; }
  try {
    const { data } = await api.datasets(state.project);
    clear(el.datasets, data.length ? data.map((d) => listItem(d.Name, d['omero:childCount'], d['@id'] === state.dataset,
      () => writeHash({ project: state.project, dataset: d['@id'] }), 'dataset', d['@id']))
      : h('li', { class: 'hint' }, 'No datasets'));
  } catch (err) { clear(el.datasets, errorItem(err)); }
}

function imageCard(image, state) {
  const select = () => writeHash({ ...state, image: image.id });
  return h('figure', { class: `card${image.id === state.image ? ' selected' : ''}`, dataset: { imageId: String(image.id) } },
    h('button', { type: 'button', class: 'thumb', onclick: select, ondblclick: () => { location.href = viewerUrl(image.id); },
      title: `${image.name} (double-click to open)` },
      h('img', { src: thumbnailUrl(image.id), alt: image.name, loading: 'lazy', width: 160, height: 160 })),
    h('figcaption', {}, h('a', { href: viewerUrl(image.id), title: 'Open in viewer' }, image.name)));
}

async function showImages(state) {
  let images;
  try {
    if (state.plate && !state.q) {
      await showPlateGrid(el.images, el.imagesTitle, state, writeHash);
      return;
    }
    if (state.q) {
      el.imagesTitle.textContent = `Images named like “${state.q}”`;
      images = (await api.search(state.q)).data;
    } else if (state.project === ORPHANS) {
      el.imagesTitle.textContent = 'Orphaned images';
      images = (await api.orphans()).data.map((i) => ({ id: i['@id'], name: i.Name }));
    } else if (state.dataset) {
      el.imagesTitle.textContent = 'Images';
      images = (await api.images(state.dataset)).data.map((i) => ({ id: i['@id'], name: i.Name }));
    } else {
      el.imagesTitle.textContent = 'Images';
      clear(el.images, h('p', { class: 'hint' }, 'Choose a dataset, or search by name'));
      return;
    }
  } catch (err) { clear(el.images, errorItem(err)); return; }
  clear(el.images, images.length ? images.map((i) => imageCard(i, state)) : h('p', { class: 'hint' }, 'No images'));
}

async function showMeta(state) {
  if (!state.image) { clear(el.meta, h('p', { class: 'hint' }, 'Select an image to see its metadata')); return; }
  try {
    renderMeta(el.meta, await api.details(state.image));
  } catch (err) { clear(el.meta, errorItem(err)); }
}

async function show(state) {
  const prev = shown;
  shown = state;
  el.searchInput.value = state.q || '';
  const tasks = [];
  const containerMoved = prev.project !== state.project || prev.screen !== state.screen;
  if (containerMoved || !prev.loaded) tasks.push(showProjects(state));
  if (containerMoved || prev.dataset !== state.dataset || prev.plate !== state.plate || !prev.loaded) {
    tasks.push(showDatasets(state));
  }
  if (prev.dataset !== state.dataset || prev.plate !== state.plate || prev.field !== state.field || prev.q !== state.q
      || (prev.project === ORPHANS) !== (state.project === ORPHANS) || !prev.loaded) {
    tasks.push(showImages(state));
  } else if (prev.image !== state.image) { // same grid: move the selection only
    for (const card of el.images.querySelectorAll('.card, .well[data-image-id]')) {
      card.classList.toggle('selected', Number(card.dataset.imageId) === state.image);
    }
  }
  if (prev.image !== state.image || !prev.loaded) tasks.push(showMeta(state));
  shown.loaded = true;
  await Promise.all(tasks);
  document.body.dataset.ready = 'true';
}

const search = debounce(() => {
  const q = el.searchInput.value.trim();
  writeHash(q ? { q } : { project: shown.project, dataset: shown.dataset });
}, 250);
el.searchInput.addEventListener('input', search);
el.search.addEventListener('submit', (e) => { e.preventDefault(); search(); });
window.addEventListener('popstate', () => show(readHash()));
show(readHash());
