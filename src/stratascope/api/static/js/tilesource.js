// OpenSeadragon sources over webgateway URLs.
//   Tiled images: tile=L,COL,ROW,W,H where L=0 is full resolution, so OSD level = maxLevel - L,
//   and each level's scale comes from imgData's zoomLevelScaling (not assumed to be powers of 2).
//   Small single-plane images: one render_image request.
import { renderQuery } from './rendering.js';

const OSD = window.OpenSeadragon;

export function tileUrl(img, s, level, col, row) {
  const { width, height } = img.tile_size;
  return `/webgateway/render_image_region/${img.id}/${s.z}/${s.t}/?tile=${level},${col},${row},${width},${height}&${renderQuery(s)}`;
}

export function makeTileSource(img, settings) {
  const s = structuredClone(settings); // a source is immutable: new settings make a new source
  if (!img.tiles) {
    return { type: 'image', url: `/webgateway/render_image/${img.id}/${s.z}/${s.t}/?${renderQuery(s)}` };
  }
  const maxLevel = img.levels - 1;
  const scaling = img.zoomLevelScaling;
  return new OSD.TileSource({
    width: img.size.width,
    height: img.size.height,
    tileWidth: img.tile_size.width,
    tileHeight: img.tile_size.height,
    tileOverlap: 0,
    minLevel: 0,
    maxLevel,
    getLevelScale(level) {
      return scaling[String(maxLevel - level)] ?? 2 ** (level - maxLevel);
    },
    getTileUrl(level, col, row) {
      return tileUrl(img, s, maxLevel - level, col, row);
    },
  });
}
