// The image page /view/{id}: OpenSeadragon over webgateway tiles, sidebar controls, scale bar,
// and a permalink (the page's own query string) that restores z, t, channels and the view.
import { api } from './api.js';
import { h, clear, debounce } from './dom.js';
import { renderMeta, linkList } from './meta.js';
import { fromQuery, toQuery } from './rendering.js';
import { makeTileSource } from './tilesource.js';
import { attachScaleBar } from './scalebar.js';
import { buildControls, bindKeys } from './controls.js';

const OSD = window.OpenSeadragon;
const imageId = Number(location.pathname.split('/').filter(Boolean).pop());
const status = document.getElementById('status');

function fail(message) {
  status.textContent = message;
  status.classList.add('error');
  document.body.dataset.ready = 'error';
}

function crumbs(img) {
  const m = img.meta;
  const parts = [h('a', { href: '/' }, 'Home')];
  if (m.projectId) parts.push(h('a', { href: `/#project=${m.projectId}` }, m.projectName));
  if (m.datasetId) parts.push(h('a', { href: `/#project=${m.projectId ?? ''}&dataset=${m.datasetId}` }, m.datasetName));
  parts.push(h('span', { class: 'current' }, m.imageName));
  clear(document.getElementById('crumbs'), parts.flatMap((p, i) => (i ? [h('span', { class: 'sep' }, '›'), p] : [p])));
  document.title = `${m.imageName} · stratascope`;
}

/** The current view as zoom (viewport units: 1 = whole width) and centre in image pixels. */
function currentView(viewer, img) {
  const centre = viewer.viewport.getCenter(true);
  return { zoom: viewer.viewport.getZoom(true), x: centre.x * img.size.width, y: centre.y * img.size.width };
}

function restoreView(viewer, img, view) {
  // viewport coordinates: the image spans x 0..1 and y 0..height/width
  viewer.viewport.zoomTo(view.zoom, null, true);
  viewer.viewport.panTo(new OSD.Point(view.x / img.size.width, view.y / img.size.width), true);
}

/**
 * New settings make a new layer on top; the old one stays visible until the new one has all
 * the tiles it needs, then goes (no flash of an empty canvas while tiles arrive).
 * `layers.requested` / `layers.settled` count layers asked for and fully drawn (tests wait on them).
 */
const layers = { requested: 0, settled: 0 };

function redraw(viewer, img, settings, onFirst) {
  const world = viewer.world;
  for (let i = world.getItemCount() - 1; i >= 1; i -= 1) world.removeItem(world.getItemAt(i));
  layers.requested += 1;
  const generation = layers.requested;
  viewer.addTiledImage({
    tileSource: makeTileSource(img, settings),
    success: ({ item }) => {
      if (generation === 1 && onFirst) onFirst();
      const settle = () => {
        if (!item.getFullyLoaded() || world.getIndexOfItem(item) < 0) return;
        item.removeHandler('fully-loaded-change', settle);
        for (let i = world.getItemCount() - 1; i >= 0; i -= 1) {
          const other = world.getItemAt(i);
          if (other !== item) world.removeItem(other);
        }
        layers.settled = Math.max(layers.settled, generation);
      };
      item.addHandler('fully-loaded-change', settle);
      settle();
    },
    error: (e) => fail(`Cannot open the image: ${e.message}`),
  });
}

async function main() {
  if (!Number.isInteger(imageId) || imageId < 1) { fail('No image id in the URL (expected /view/ID).'); return; }
  let img;
  let details;
  try {
    [img, details] = await Promise.all([api.imgData(imageId), api.details(imageId)]);
  } catch (err) { fail(`Cannot load image ${imageId}: ${err.message}`); return; }
  crumbs(img);
  // the links are in the Share section above; the swatches show the colours the image is drawn in
  renderMeta(document.getElementById('meta'), details,
    { withViewerLink: false, withLinks: false, colors: img.channels.map((c) => c.color) });
  clear(document.getElementById('links'), linkList(details.links));

  const { settings, view } = fromQuery(location.search, img);
  const viewer = OSD({
    element: document.getElementById('osd'),
    prefixUrl: '/static/vendor/openseadragon/images/',
    drawer: 'canvas', // the same pixels on every machine (WebGL may be absent in headless/VMs)
    showNavigator: true,
    navigatorPosition: 'BOTTOM_RIGHT',
    navigatorAutoFade: false,
    showRotationControl: false,
    maxZoomPixelRatio: 4,
    visibilityRatio: 0.3,
    preserveImageSizeOnResize: true,
    gestureSettingsMouse: { clickToZoom: false, dblClickToZoom: true },
  });
  window.stratascope = { viewer, img, settings, layers }; // for the console and for browser tests

  const permalink = document.getElementById('permalink');
  const updateLink = () => {
    const query = toQuery(settings, currentView(viewer, img));
    history.replaceState(null, '', `${location.pathname}?${query}`);
    permalink.value = location.href;
  };
  const redrawSoon = debounce(() => { redraw(viewer, img, settings); updateLink(); }, 120);
  const changed = (what) => {
    if (what === 'active' || what === 'z' || what === 't' || what === 'projection') {
      redraw(viewer, img, settings); // discrete steps: no need to wait
      updateLink();
    } else redrawSoon(); // sliders and colour pickers fire continuously
  };
  buildControls(img, settings, changed);
  bindKeys(img, settings, changed, () => viewer.viewport.goHome());
  document.getElementById('copy-link').addEventListener('click', async () => {
    permalink.select();
    try { await navigator.clipboard.writeText(permalink.value); status.textContent = 'Link copied'; } catch {
      status.textContent = 'Select the link and copy it';
    }
    setTimeout(() => { status.textContent = ''; }, 1500);
  });

  viewer.addHandler('animation-finish', updateLink);
  viewer.addHandler('tile-load-failed', (e) => { status.textContent = `Tile failed: ${e.message}`; });
  attachScaleBar(viewer, document.getElementById('scalebar'), img);
  redraw(viewer, img, settings, () => {
    if (view) restoreView(viewer, img, view);
    updateLink();
    document.body.dataset.ready = 'true';
  });
}

main();
