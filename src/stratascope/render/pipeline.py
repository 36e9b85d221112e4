"""From an image record and render settings to an RGB array: read pixels, project, compose.

This is the bridge between `pixels` (which reads) and the pure-numpy render modules.
It never imports FastAPI; api/ modules call it.
"""

from __future__ import annotations

import math

import numpy as np

from ..catalogue.records import ImageRecord
from ..pixels import PixelReader, RegionTooLarge
from .compose import project, render_rgb, render_split_channel
from .params import RenderSettings, channel_defaults, parse_render_query, projection_z_range

#: Largest plane (pixels) read to make a whole-image rendering or a thumbnail.
MAX_PLANE_PIXELS = 4096 * 4096
#: Largest tile side (pixels) served or advertised.
MAX_TILE = 1024
#: Split-channel panels are read from the level whose plane fits this side.
SPLIT_PANEL_SIDE = 1024


def dtype_range(image: ImageRecord) -> tuple[float, float]:
    dtype = np.dtype(image.dtype)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        return float(info.min), float(info.max)
    lows = [c.window_min for c in image.channels if c.window_min is not None]
    highs = [c.window_max for c in image.channels if c.window_max is not None]
    return (min(lows) if lows else 0.0, max(highs) if highs else 1.0)


def default_settings(image: ImageRecord) -> RenderSettings:
    return parse_render_query({}, channel_defaults(image.channels, dtype_range(image)))


def settings_from_query(image: ImageRecord, query) -> RenderSettings:
    return parse_render_query(query, channel_defaults(image.channels, dtype_range(image)))


def default_z_t(image: ImageRecord) -> tuple[int, int]:
    """OMERO's defaults: the middle z section, the first time point."""
    return image.size_z // 2, 0


def level_for_size(image: ImageRecord, longest_side: int) -> int:
    """The coarsest level whose plane is still at least `longest_side` on its long side."""
    best = 0
    for i, level in enumerate(image.levels):
        if max(level.shape[3], level.shape[4]) >= longest_side:
            best = i
    return best


def tile_size(image: ImageRecord) -> tuple[int, int]:
    """Chunk-aligned tiles: the level-0 chunk size when sensible, else 512."""
    cy, cx = image.levels[0].chunks[3], image.levels[0].chunks[4]
    w = cx if 64 <= cx <= MAX_TILE else 512
    h = cy if 64 <= cy <= MAX_TILE else 512
    return w, h


def level_within(image: ImageRecord, max_pixels: int) -> int:
    """The finest level whose whole plane is at most `max_pixels`."""
    for i, level in enumerate(image.levels):
        if level.shape[3] * level.shape[4] <= max_pixels:
            return i
    return len(image.levels) - 1


async def read_planes(
    reader: PixelReader, image: ImageRecord, settings: RenderSettings, channels: list[int], *, level: int, z: int, t: int,
    y: tuple[int, int], x: tuple[int, int],
) -> np.ndarray:
    """(c, h, w) planes of `channels` (0-based) at z, t; z-projected when the settings ask for it."""
    if settings.invert_axis:
        z, t = t, z
    spec = image.levels[level]
    if settings.projection != "normal":
        z0, z1 = projection_z_range(settings, spec.shape[2])
        # projection_z_range is inclusive; read_block spans are half-open
        block = await reader.read_block(image, level, (t, t + 1), channels, (z0, z1 + 1), y, x)
        return project(block[0], settings.projection)
    return await reader.read_region(image, level, t=t, z=z, c=channels, y=y, x=x)


async def render_region(
    reader: PixelReader, image: ImageRecord, settings: RenderSettings, *, level: int, z: int, t: int,
    y: tuple[int, int], x: tuple[int, int],
) -> np.ndarray:
    """An RGB uint8 array (h, w, 3) of a region of one level."""
    active = settings.channels_to_read()
    if not active:
        return np.zeros((y[1] - y[0], x[1] - x[0], 3), np.uint8)
    planes = await read_planes(reader, image, settings, active, level=level, z=z, t=t, y=y, x=x)
    return render_rgb(planes, settings, dtype_range(image), channels=active)


async def render_split(reader: PixelReader, image: ImageRecord, settings: RenderSettings, *, z: int, t: int) -> np.ndarray:
    """omero-web's render_split_channel of the plane z, t: channel panels, then the merge.

    The panels come from the level that fits SPLIT_PANEL_SIDE (OMERO uses level 0 whatever
    its size, which does not bound memory for large images).
    """
    level = level_for_size(image, SPLIT_PANEL_SIDE)
    spec = image.levels[level]
    if spec.shape[3] * spec.shape[4] > SPLIT_PANEL_SIDE**2 * 4:
        level = level_within(image, SPLIT_PANEL_SIDE**2)
        spec = image.levels[level]
    h, w = spec.shape[3], spec.shape[4]
    active = [ch.index0 for ch in settings.active_channels]
    if active:
        planes = await read_planes(reader, image, settings, active, level=level, z=z, t=t, y=(0, h), x=(0, w))
    else:
        planes = np.zeros((0, h, w), np.dtype(image.dtype))
    return render_split_channel(planes, settings, dtype_range(image), channels=active)


async def render_plane(reader: PixelReader, image: ImageRecord, settings: RenderSettings, *, z: int, t: int,
                       longest_side: int | None = None, max_pixels: int = MAX_PLANE_PIXELS) -> tuple[np.ndarray, int]:
    """The whole plane from the level that fits `longest_side` (or `max_pixels`); returns (rgb, level)."""
    level = level_for_size(image, longest_side) if longest_side else 0
    spec = image.levels[level]
    if spec.shape[3] * spec.shape[4] > max_pixels:
        level = max(level, level_within(image, max_pixels))
        spec = image.levels[level]
    if spec.shape[3] * spec.shape[4] > max_pixels:
        # even the coarsest level is too big (a flat image without overviews): refuse, never
        # read it whole (omero-web would ask the server for the full plane and run out of memory)
        raise RegionTooLarge(
            f"image {image.id} has no level small enough to render whole: its coarsest level is "
            f"{spec.shape[4]}x{spec.shape[3]} pixels, above the limit of {max_pixels} pixels per plane; "
            "render tiles or regions instead (overviews are made at import when the cache tier is on)"
        )
    rgb = await render_region(reader, image, settings, level=level, z=z, t=t, y=(0, spec.shape[3]), x=(0, spec.shape[4]))
    return rgb, level


def resize_rgb(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    from PIL import Image

    if rgb.shape[1] == width and rgb.shape[0] == height:
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.BILINEAR))


def fit_size(image: ImageRecord, width: int | None, height: int | None = None) -> tuple[int, int]:
    """OMERO thumbnail sizing: longest side = size, aspect kept; both given = exact box fit."""
    sx, sy = image.size_x, image.size_y
    if width and height:
        scale = min(width / sx, height / sy)
    else:
        size = width or height or 96
        scale = size / max(sx, sy)
    return max(1, math.floor(sx * scale + 0.5)), max(1, math.floor(sy * scale + 0.5))
