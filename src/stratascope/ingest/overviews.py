"""Overview levels at import, so that browsing and zooming out never touch the archive.

After an image is registered (and its thumbnails made):

(a) every source pyramid level whose plane is at most `overview_max_side` px
    (STRATASCOPE_OVERVIEW_MAX_SIDE, default 1024) on its long side has its chunks read through the serving reader's
    read-through chunk cache (`CachedFetch`, same keys), so later reads cost no source request;
(b) if even the coarsest source level is larger than that (a TIFF without pyramid, a
    pyramid that stops early), new levels are computed: 2x, 4x, ... block-mean
    downsamplings of the coarsest source level, down to the first one within the
    maximum side. Levels up to 4x the maximum side are kept as well (so zooming between
    the source and the small overview stays cheap); larger intermediate steps are only
    computed on the way. They are stored in the cache tier (pixels/overview_chunks.py)
    and appended to the image's levels in the catalogue, so imgData, IIIF, OME-Zarr over
    HTTP, the viewer and thumbnails use them without knowing.

Both are done for at most `overview_max_planes` (t, c, z) planes per image
(STRATASCOPE_OVERVIEW_MAX_PLANES, default 64): first every channel of the default plane (middle z, first t), then the
others in order. Planes past the cap are not read at import: their overview chunks are
computed (and cached) on first request, like evicted ones.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
from dataclasses import dataclass, field

from .. import catalogue
from ..catalogue.repository import add_levels
from ..pixels import PixelError, PixelReader
from ..pixels.overview_chunks import CHUNK_SIDE, chunk_key, downsample, encode_chunk, overview_level
from ..services import Services

log = logging.getLogger(__name__)

#: Intermediate new levels are kept while their long side is at most this many times the maximum.
KEEP_INTERMEDIATE = 4
WARM_CONCURRENCY = 16


@dataclass
class OverviewReport:
    warmed_levels: list[int] = field(default_factory=list)
    warmed_chunks: int = 0
    new_levels: list[int] = field(default_factory=list)
    planes: int = 0


def long_side(level) -> int:
    return max(level.shape[3], level.shape[4])


def plan_planes(image, cap: int) -> list[tuple[int, int, int]]:
    """(t, c, z) planes to prepare: every channel of the default plane first, up to `cap`."""
    t_n, c_n, z_n = image.levels[0].shape[:3]
    default = [(0, c, z_n // 2) for c in range(c_n)]
    first = set(default)
    rest = (p for p in itertools.product(range(t_n), range(c_n), range(z_n)) if p not in first)
    return list(itertools.islice(itertools.chain(default, rest), cap))


def plan_new_levels(image, limit: int) -> tuple[int, int, list[int]] | None:
    """(base level, steps, kept steps) for new levels, or None when a source level is small enough."""
    sources = [i for i, lv in enumerate(image.levels) if lv.layout.get("kind") != "overview"]
    base = min(sources, key=lambda i: long_side(image.levels[i]))
    side = long_side(image.levels[base])
    if side <= limit:
        return None
    steps = math.ceil(math.log2(side / limit))
    while math.ceil(side / 2 ** (steps - 1)) <= limit:  # guard against float rounding
        steps -= 1
    keep = [k for k in range(1, steps + 1) if k == steps or math.ceil(side / 2**k) <= KEEP_INTERMEDIATE * limit]
    return base, steps, keep


async def warm_source_level(reader: PixelReader, image, level: int, planes) -> int:
    """Read every chunk of `level` covering `planes` through the serving reader (the chunk cache)."""
    spec = image.levels[level]
    ct, cc, cz, cy, cx = spec.chunks
    heads = sorted({(t // ct, c // cc, z // cz) for t, c, z in planes})
    grid = list(itertools.product(range(-(-spec.shape[3] // cy)), range(-(-spec.shape[4] // cx))))
    indices = [(*head, gy, gx) for head, (gy, gx) in itertools.product(heads, grid)]
    errors = await reader.warm(image, level, indices, concurrency=WARM_CONCURRENCY)
    if errors:
        raise PixelError(f"{len(errors)} chunk(s) of level {level} could not be read: {errors[0]}")
    return len(indices)


async def store_overview_planes(cache, reader: PixelReader, image, base: int, steps: int, keep: list[int],
                                first_level: int, planes) -> None:
    """Compute the kept levels plane by plane (bounded tiles) and put their chunks in the cache tier."""
    t_h, t_w = image.levels[base].shape[3:]
    for t, c, z in planes:
        made = await downsample(reader, image, base, t, c, z, (0, t_h), (0, t_w), steps, set(keep))
        for offset, k in enumerate(keep):
            plane = made[k]
            entries = [
                (chunk_key(image.cache_tag, first_level + offset, (t, c, z, gy, gx)),
                 encode_chunk(plane[gy * CHUNK_SIDE:(gy + 1) * CHUNK_SIDE, gx * CHUNK_SIDE:(gx + 1) * CHUNK_SIDE]))
                for gy in range(-(-plane.shape[0] // CHUNK_SIDE)) for gx in range(-(-plane.shape[1] // CHUNK_SIDE))
            ]
            await asyncio.to_thread(_put_all, cache, entries)


def _put_all(cache, entries: list[tuple[str, bytes]]) -> None:
    for key, data in entries:
        cache.put(key, data)


async def make_overviews(services: Services, image_id: int) -> OverviewReport:
    """Prepare the overview levels of one registered image (see the module docstring)."""
    report = OverviewReport()
    cache = await asyncio.to_thread(services.cache.get)
    if not cache.enabled:
        log.info("cache tier disabled: no overviews for image %s", image_id)
        return report
    image = await asyncio.to_thread(catalogue.get_image, services.catalogue, image_id)
    limit = services.settings.overview_max_side
    planes = plan_planes(image, services.settings.overview_max_planes)
    report.planes = len(planes)
    for i, level in enumerate(image.levels):
        if level.layout.get("kind") != "overview" and long_side(level) <= limit:
            # the serving reader: the same cache keys its later reads use
            report.warmed_chunks += await warm_source_level(services.reader, image, i, planes)
            report.warmed_levels.append(i)
    plan = plan_new_levels(image, limit)
    if plan is None:
        return report
    base, steps, keep = plan
    existing = [i for i, lv in enumerate(image.levels) if lv.layout.get("kind") == "overview"]
    first = existing[0] if existing else len(image.levels)
    if existing and [image.levels[i].layout.get("steps") for i in existing] != keep:
        log.info("image %s has overview levels made with other settings; kept as they are", image.id)
        return report
    await store_overview_planes(cache, services.base_reader, image, base, steps, keep, first, planes)
    if not existing:
        specs = [overview_level(image, base, k, first + n) for n, k in enumerate(keep)]
        if not await asyncio.to_thread(add_levels, services.catalogue, image.id, image.revision, specs):
            log.info("image %s changed while its overviews were made; not recorded", image.id)
            return report
    report.new_levels = list(range(first, first + len(keep)))
    return report
