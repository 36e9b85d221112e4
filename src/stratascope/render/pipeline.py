"""From an image record and render settings to an RGB array: read pixels, project, compose.

This is the bridge between `pixels` (which reads) and the pure-numpy render modules.
It never imports FastAPI; api/ modules call it.
"""

from __future__ import annotations

import math

import numpy as np

from ..catalogue.records import ImageRecord
from ..pixels import PixelReader
from .compose import project, render_rgb
from .params import RenderSettings, channel_defaults, parse_render_query, projection_z_range

#: Largest plane (pixels) read to make a whole-image rendering or a thumbnail.
MAX_PLANE_PIXELS = 4096 * 4096


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


def level_within(image: ImageRecord, max_pixels: int) -> int:
    """The finest level whose whole plane is at most `max_pixels`."""
    for i, level in enumerate(image.levels):
        if level.shape[3] * level.shape[4] <= max_pixels:
            return i
    return len(image.levels) - 1


async def render_region(
    reader: PixelReader, image: ImageRecord, settings: RenderSettings, *, level: int, z: int, t: int,
    y: tuple[int, int], x: tuple[int, int],
) -> np.ndarray:
    """An RGB uint8 array (h, w, 3) of a region of one level."""
    if settings.invert_axis:
        z, t = t, z
    active = [ch.index0 for ch in settings.channels if ch.active]
    if settings.model == "greyscale":
        active = active[:1]
    spec = image.levels[level]
    h, w = y[1] - y[0], x[1] - x[0]
    if not active:
        return np.zeros((h, w, 3), np.uint8)
    if settings.projection != "normal":
        z0, z1 = projection_z_range(settings, spec.shape[2])
        # projection_z_range is inclusive; read_block spans are half-open
        block = await reader.read_block(image, level, (t, t + 1), active, (z0, z1 + 1), y, x)
        planes = project(block[0], settings.projection)
    else:
        planes = await reader.read_region(image, level, t=t, z=z, c=active, y=y, x=x)
    return render_rgb(planes, settings, dtype_range(image), channels=active)


async def render_plane(reader: PixelReader, image: ImageRecord, settings: RenderSettings, *, z: int, t: int,
                       longest_side: int | None = None, max_pixels: int = MAX_PLANE_PIXELS) -> tuple[np.ndarray, int]:
    """The whole plane from the level that fits `longest_side` (or `max_pixels`); returns (rgb, level)."""
    level = level_for_size(image, longest_side) if longest_side else 0
    spec = image.levels[level]
    if spec.shape[3] * spec.shape[4] > max_pixels:
        level = max(level, level_within(image, max_pixels))
        spec = image.levels[level]
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
