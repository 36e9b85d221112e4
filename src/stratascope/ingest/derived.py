"""Work done once at import so that browsing never touches the archive:
overview levels, channel statistics (automatic windows) and the default thumbnails."""

from __future__ import annotations

import asyncio
import logging

import numpy as np

from .. import catalogue
from ..pixels import PixelReader
from ..render.pipeline import default_z_t, level_within
from ..render.thumbnails import make_default_thumbnails
from ..services import Services
from .overviews import make_overviews

log = logging.getLogger(__name__)
STATS_MAX_PIXELS = 1024 * 1024


async def gather_channel_ranges(reader: PixelReader, image) -> list[tuple[float, float]]:
    """Min/max per channel over the middle z, first t of the coarsest small level."""
    level = level_within(image, STATS_MAX_PIXELS)
    z, t = default_z_t(image)
    planes = await reader.read_region(image, level, t=t, z=z)
    ranges = []
    for plane in planes:
        finite = plane[np.isfinite(plane)] if plane.dtype.kind == "f" else plane
        ranges.append((float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0))
    return ranges


async def make_derived_async(services: Services, image_id: int) -> None:
    """Overviews, channel ranges and default thumbnails of one registered image."""
    db = services.catalogue
    # overviews first: statistics and thumbnails then read the small levels, not the full plane
    try:
        await make_overviews(services, image_id)
        overview_error = None
    except Exception as exc:  # thumbnails may still be possible (e.g. a full cache tier)
        overview_error = exc
    image = await asyncio.to_thread(catalogue.get_image, db, image_id)
    if any(ch.window_min is None or ch.window_max is None for ch in image.channels):
        ranges = await gather_channel_ranges(services.reader, image)
        await asyncio.to_thread(catalogue.set_channel_ranges, db, image_id, ranges)
        image = await asyncio.to_thread(catalogue.get_image, db, image_id)
    await make_default_thumbnails(services.reader, services.cache, image)
    if overview_error is not None:
        raise overview_error
