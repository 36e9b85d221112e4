"""Overview levels at import, so that browsing and zooming out never touch the archive.

After an image is registered (and its thumbnails made):

(a) every source pyramid level whose plane is at most STRATASCOPE_OVERVIEW_MAX_SIDE px
    (default 1024) on its long side has its chunks read through the serving reader's
    read-through chunk cache (`CachedFetch`, same keys), so later reads cost no source request;
(b) if even the coarsest source level is larger than that (a TIFF without pyramid, a
    pyramid that stops early), new levels are computed: 2x, 4x, ... block-mean
    downsamplings of the coarsest source level, down to the first one within the
    maximum side. Levels up to 4x the maximum side are kept as well (so zooming between
    the source and the small overview stays cheap); larger intermediate steps are only
    computed on the way. They are stored in the cache tier (pixels/overview_chunks.py)
    and appended to the image's levels in the catalogue, so imgData, IIIF, OME-Zarr over
    HTTP, the viewer and thumbnails use them without knowing.

Both are done for at most STRATASCOPE_OVERVIEW_MAX_PLANES (t, c, z) planes per image
(default 64): first every channel of the default plane (middle z, first t), then the
others in order. Planes past the cap are not read at import: their overview chunks are
computed (and cached) on first request, like evicted ones.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import os
from dataclasses import dataclass, field

from .. import catalogue
from ..cachetier import get_cache
from ..catalogue.repository import add_levels
from ..pixels.overview_chunks import CHUNK_SIDE, chunk_key, downsample, encode_chunk, overview_level

log = logging.getLogger(__name__)

DEFAULT_MAX_SIDE = 1024
DEFAULT_MAX_PLANES = 64
#: Intermediate new levels are kept while their long side is at most this many times the maximum.
KEEP_INTERMEDIATE = 4
WARM_CONCURRENCY = 16


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    number = int(value)
    if number < 1:
        raise ValueError(f"{name} must be at least 1, got {number}")
    return number


def max_side() -> int:
    return _env_int("STRATASCOPE_OVERVIEW_MAX_SIDE", DEFAULT_MAX_SIDE)


def max_planes() -> int:
    return _env_int("STRATASCOPE_OVERVIEW_MAX_PLANES", DEFAULT_MAX_PLANES)


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


async def warm_source_level(image, level: int, planes, fetch) -> int:
    """Read every chunk of `level` covering `planes` through `fetch` (the chunk cache)."""
    from ..pixels.reader import make_codec
    from ..storage import ObjectNotFound

    spec = image.levels[level]
    codec = make_codec(spec)
    ct, cc, cz, cy, cx = spec.chunks
    heads = sorted({(t // ct, c // cc, z // cz) for t, c, z in planes})
    grid = itertools.product(range(-(-spec.shape[3] // cy)), range(-(-spec.shape[4] // cx)))
    indices = [(*head, gy, gx) for head, (gy, gx) in itertools.product(heads, list(grid))]
    semaphore = asyncio.Semaphore(WARM_CONCURRENCY)

    async def one(index) -> None:
        async with semaphore:
            location = await codec.locate(index, fetch)
            if location is None:
                return
            try:
                await fetch(location.url, location.start, location.end, location.version)
            except ObjectNotFound:
                if not getattr(codec, "missing_object_is_fill", False):
                    raise

    await asyncio.gather(*(one(index) for index in indices))
    return len(indices)


async def store_overview_planes(image, base: int, steps: int, keep: list[int], first_level: int, planes) -> None:
    """Compute the kept levels plane by plane (bounded tiles) and put their chunks in the cache tier."""
    from ..pixels.overview_chunks import base_reader

    cache, reader = get_cache(), base_reader()
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


async def make_overviews(image_id: int) -> OverviewReport:
    """Prepare the overview levels of one registered image (see the module docstring)."""
    from ..pixels import get_reader

    report = OverviewReport()
    cache = get_cache()
    if not cache.enabled:
        log.info("cache tier disabled: no overviews for image %s", image_id)
        return report
    image = await asyncio.to_thread(catalogue.get_image, image_id)
    limit = max_side()
    planes = plan_planes(image, max_planes())
    report.planes = len(planes)
    # the serving reader's own fetch for this image: the same cache keys its later reads use
    fetch = get_reader().fetch_for(image)
    for i, level in enumerate(image.levels):
        if level.layout.get("kind") != "overview" and long_side(level) <= limit:
            report.warmed_chunks += await warm_source_level(image, i, planes, fetch)
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
    await store_overview_planes(image, base, steps, keep, first, planes)
    if not existing:
        specs = [overview_level(image, base, k, first + n) for n, k in enumerate(keep)]
        if not await asyncio.to_thread(add_levels, image.id, image.revision, specs):
            log.info("image %s changed while its overviews were made; not recorded", image.id)
            return report
    report.new_levels = list(range(first, first + len(keep)))
    return report
