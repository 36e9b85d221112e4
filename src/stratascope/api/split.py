"""render_split_channel: every active channel as a grey panel, then the colour merge."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..render import pipeline

BORDER = 2
PANEL_MAX_SIDE = 1024


def _grid(n: int) -> tuple[int, int]:
    # omero.gateway ImageWrapper.splitChannelDims
    x = math.sqrt(n)
    y = int(round(x))
    x = y + 1 if x > y else y
    return int(x), y


def split_dims(size_x: int, size_y: int, size_c: int, border: int = BORDER) -> dict:
    out = {}
    for key, n in (("g", size_c), ("c", size_c + 1)):
        gx, gy = _grid(n)
        out[key] = {"width": size_x * gx + border * (gx + 1), "height": size_y * gy + border * (gy + 1),
                    "border": border, "gridx": gx, "gridy": gy}
    return out


async def render_split(reader, image, settings, *, z: int, t: int) -> np.ndarray:
    level = pipeline.level_for_size(image, PANEL_MAX_SIDE)
    spec = image.levels[level]
    if spec.shape[3] * spec.shape[4] > PANEL_MAX_SIDE**2 * 4:
        level = pipeline.level_within(image, PANEL_MAX_SIDE**2)
        spec = image.levels[level]
    h, w = spec.shape[3], spec.shape[4]
    active = [ch for ch in settings.channels if ch.active]
    panels = []
    for ch in active:
        solo = tuple(dataclasses.replace(c, active=c.index0 == ch.index0) for c in settings.channels)
        grey = dataclasses.replace(settings, channels=solo, model="greyscale")
        panels.append(await pipeline.render_region(reader, image, grey, level=level, z=z, t=t, y=(0, h), x=(0, w)))
    merged_settings = dataclasses.replace(settings, model="color")
    panels.append(await pipeline.render_region(reader, image, merged_settings, level=level, z=z, t=t, y=(0, h), x=(0, w)))
    gx, gy = _grid(len(panels))
    canvas = np.zeros((h * gy + BORDER * (gy + 1), w * gx + BORDER * (gx + 1), 3), np.uint8)
    for i, panel in enumerate(panels):
        row, col = divmod(i, gx)
        y0, x0 = BORDER + row * (h + BORDER), BORDER + col * (w + BORDER)
        canvas[y0:y0 + h, x0:x0 + w] = panel
    return canvas
