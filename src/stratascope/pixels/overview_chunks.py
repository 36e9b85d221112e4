"""Overview levels made at import: block-mean downsamplings kept in the cache tier.

A level with layout {"kind": "overview", ...} is a 2^steps downsampling of a source
level ("base_level") of the same image. Its chunks are (1, 1, 1, 256, 256) planes stored
under "overview/<image cache_tag>/<level>/<t>.<c>.<z>.<cy>.<cx>" in the cache tier.

A chunk missing from the cache (evicted, never made because the plane cap was reached,
or dropped with `cache drop --all`) is recomputed on demand from the base level —
reading only the base region that chunk covers, in bounded tiles — and stored again.
So an overview read never fails for lack of a cache entry; it costs source reads the
first time (and needs the source to be readable: an archived source gives a 409).

Overview chunks are arrays made by stratascope, not bytes at a source, so the level speaks
the `ArrayChunks` protocol (`read_chunk`). Its collaborators are passed in: the cache tier,
the base reader (which reads straight from the source, past the chunk cache, so that
downsampling a whole plane does not push full-resolution chunks into the cache tier and evict
the overviews it is making) and a loader of image records.
"""

from __future__ import annotations

import asyncio
import logging
import math
import zlib
from collections.abc import Callable

import numpy as np

from ..cachetier import LazyCache
from ..catalogue.records import ImageRecord
from ..formats.model import LevelSpec
from .chunks import ChunkIndex, RegionReader
from .errors import PixelError

log = logging.getLogger(__name__)

CHUNK_SIDE = 256
#: Side of the base-level tiles read at a time (a multiple of the factor): bounds memory.
TILE_SIDE = 2048
#: Memory for decoded base chunks while downsampling (chunks straddling two tiles are decoded once).
BASE_MEMORY_BYTES = 128 * 2**20

class OverviewUnavailable(PixelError):
    """An overview chunk can be neither read from the cache nor recomputed."""


def chunk_key(tag: str, level: int, index: ChunkIndex) -> str:
    return f"overview/{tag}/{level}/" + ".".join(str(int(i)) for i in index)


def down2(a: np.ndarray) -> np.ndarray:
    """Halve a 2-D plane: mean of 2x2 blocks (rounded for integers); odd edges repeat their
    last row/column. 64-bit integers, bools and other kinds take every second pixel."""
    if a.shape[0] % 2:
        a = np.concatenate([a, a[-1:]], axis=0)
    if a.shape[1] % 2:
        a = np.concatenate([a, a[:, -1:]], axis=1)
    h, w = a.shape[0] // 2, a.shape[1] // 2
    blocks = a.reshape(h, 2, w, 2)
    if a.dtype.kind in "ui" and a.dtype.itemsize <= 4:
        total = blocks.sum(axis=(1, 3), dtype=np.int64)
        return ((total + 2) // 4).astype(a.dtype)
    if a.dtype.kind == "f":
        wide = np.float64 if a.dtype.itemsize == 8 else np.float32
        return blocks.mean(axis=(1, 3), dtype=wide).astype(a.dtype)
    return np.ascontiguousarray(a[::2, ::2])


async def downsample(reader, image, base_level: int, t: int, c: int, z: int,
                     y: tuple[int, int], x: tuple[int, int], steps: int, keep) -> dict[int, np.ndarray]:
    """Levels 2^k (k in `keep`, 1 <= k <= steps) of a base-level region whose origin is a
    multiple of 2^steps, read in tiles of at most max(TILE_SIDE, 2^steps)^2 pixels —
    never the whole plane at once. Returns {k: plane region at level k}."""
    factor = 2**steps
    if y[0] % factor or x[0] % factor:
        raise ValueError(f"region origin {y[0]},{x[0]} is not a multiple of {factor}")
    side = max(TILE_SIDE, factor)
    dtype = np.dtype(image.levels[base_level].dtype).newbyteorder("=")
    out = {k: np.empty((-(-(y[1] - y[0]) // 2**k), -(-(x[1] - x[0]) // 2**k)), dtype) for k in keep}
    for y0 in range(y[0], y[1], side):
        for x0 in range(x[0], x[1], side):
            a = await reader.read_region(image, base_level, t=t, z=z, c=c,
                                         y=(y0, min(y[1], y0 + side)), x=(x0, min(x[1], x0 + side)))
            for k in range(1, steps + 1):
                a = down2(a)
                if k in out:
                    oy, ox = (y0 - y[0]) >> k, (x0 - x[0]) >> k
                    out[k][oy:oy + a.shape[0], ox:ox + a.shape[1]] = a
    return out


def encode_chunk(plane: np.ndarray) -> bytes:
    """A (<=256, <=256) plane region padded to the full chunk, little-endian, zlib."""
    full = np.zeros((CHUNK_SIDE, CHUNK_SIDE), plane.dtype.newbyteorder("<"))
    full[: plane.shape[0], : plane.shape[1]] = plane
    return zlib.compress(full.tobytes(), 1)


class OverviewChunks:
    """The chunks of one overview level: from the cache tier, else recomputed and stored again."""

    def __init__(self, level: LevelSpec, cache: LazyCache, base_reader: RegionReader,
                 load_image: Callable[[int], ImageRecord]):
        self.layout = level.layout
        self.shape, self.chunks = tuple(level.shape), tuple(level.chunks)
        self.dtype = np.dtype(level.dtype).newbyteorder("=")
        self.tag, self.level = str(self.layout["tag"]), int(self.layout["level"])
        self.steps, self.base_level = int(self.layout["steps"]), int(self.layout["base_level"])
        self.cache, self.base_reader, self.load_image = cache, base_reader, load_image

    async def read_chunk(self, index: ChunkIndex) -> np.ndarray:
        cache = await self.cache.open()
        key = chunk_key(self.tag, self.level, index)
        data = await asyncio.to_thread(cache.get, key) if cache.enabled else None
        array = self._decode_or_none(data, index)
        if array is None:
            array = await self._recompute(index)
            if cache.enabled:
                try:
                    await asyncio.to_thread(cache.put, key, encode_chunk(array[0, 0, 0]))
                except Exception as exc:  # a full or broken cache never fails a read
                    log.warning("could not store overview chunk %s: %s", key, exc)
        return array

    def _decode_or_none(self, data: bytes | None, index: ChunkIndex) -> np.ndarray | None:
        if data is None:
            return None
        try:
            return self.decode(data, index)
        except (zlib.error, ValueError) as exc:
            log.warning("overview chunk %s of %s is unreadable (%s); recomputing", index, self.tag, exc)
            return None

    def decode(self, data: bytes, index: ChunkIndex) -> np.ndarray:
        raw = zlib.decompress(data)
        plane = np.frombuffer(raw, self.dtype.newbyteorder("<")).reshape(CHUNK_SIDE, CHUNK_SIDE)
        return plane.astype(self.dtype, copy=False).reshape(self.chunks)

    async def _recompute(self, index: ChunkIndex) -> np.ndarray:
        """The chunk from the base level: reads the (256 * 2^steps)^2 base region it covers."""
        image = await asyncio.to_thread(self.load_image, int(self.layout["image_id"]))
        if image.cache_tag != self.tag:
            raise OverviewUnavailable(f"image {image.id} was re-imported (now {image.cache_tag}, overview made "
                                      f"for {self.tag}); reload it")
        t, c, z, cy, cx = index
        base = image.levels[self.base_level].shape
        span = CHUNK_SIDE * 2**self.steps
        y = (cy * span, min(base[3], (cy + 1) * span))
        x = (cx * span, min(base[4], (cx + 1) * span))
        log.info("recomputing overview chunk %s of image %s level %s from level %s",
                 index, image.id, self.level, self.base_level)
        planes = await downsample(self.base_reader, image, self.base_level, t, c, z, y, x, self.steps, {self.steps})
        plane = planes[self.steps]
        out = np.zeros(self.chunks, self.dtype)
        out[0, 0, 0, : plane.shape[0], : plane.shape[1]] = plane
        return out


def overview_level(image, base_level: int, steps: int, level_index: int) -> LevelSpec:
    """The LevelSpec of a 2^steps overview of `base_level` of `image`."""
    base = image.levels[base_level]
    t, c, z, h, w = base.shape
    dtype = np.dtype(base.dtype).newbyteorder("=").str
    layout = {"kind": "overview", "image_id": image.id, "tag": image.cache_tag, "level": level_index,
              "base_level": base_level, "steps": steps, "chunk_side": CHUNK_SIDE}
    shape = (t, c, z, math.ceil(h / 2**steps), math.ceil(w / 2**steps))
    return LevelSpec(shape, (1, 1, 1, CHUNK_SIDE, CHUNK_SIDE), dtype, layout)
