"""Thumbnails: rendered once (at import for the defaults) and kept in the cache tier."""

from __future__ import annotations

import asyncio
import hashlib

from ..cachetier import LazyCache
from ..pixels import PixelReader
from . import pipeline
from .encode import encode

DEFAULT_SIZE = 96
PRECOMPUTED_SIZES = (96, 256)
THUMBNAIL_BATCH_LIMIT = 100
THUMBNAIL_QUALITY = 0.9


def thumbnail_key(image, width: int, height: int, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    return f"thumb/{image.cache_tag}/{width}x{height}-{digest}.jpg"


async def thumbnail_jpeg(reader: PixelReader, cache_tier: LazyCache, image, w: int | None, h: int | None,
                         query) -> bytes:
    """JPEG bytes of a thumbnail; longest side `w` (default 96), or fitted in w x h."""
    settings = pipeline.settings_from_query(image, query)
    width, height = pipeline.fit_size(image, w or (None if h else DEFAULT_SIZE), h)
    key = thumbnail_key(image, width, height, settings.canonical())
    cache = await cache_tier.open()
    data = await asyncio.to_thread(cache.get, key)
    if data is not None:
        return data
    z, t = pipeline.default_z_t(image)
    rgb, _ = await pipeline.render_plane(reader, image, settings, z=z, t=t, longest_side=max(width, height))
    data = encode(pipeline.resize_rgb(rgb, width, height), "jpeg", THUMBNAIL_QUALITY)
    await asyncio.to_thread(cache.put, key, data)
    return data


async def make_default_thumbnails(reader: PixelReader, cache_tier: LazyCache, image) -> None:
    """Render the default thumbnails into the cache tier (run at import)."""
    for size in PRECOMPUTED_SIZES:
        await thumbnail_jpeg(reader, cache_tier, image, size, None, {})
