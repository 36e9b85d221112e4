"""read_region: find the chunks a region covers, fetch them concurrently, decode, assemble.

The reader keeps one codec per (image revision, level) — so TIFF manifests are
deserialised once and shard indexes stay cached — an in-memory LRU of decoded chunks,
and a table of in-flight chunk reads so concurrent requests never fetch a chunk twice.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from ..catalogue.records import ImageRecord
from ..formats.model import LevelSpec
from ..storage import ObjectNotFound
from .chunks import ChunkCodec, ChunkIndex, Fetch
from .errors import RegionOutOfRange, RegionTooLarge
from .fetch import SourceFetch
from .memory_cache import ChunkLRU

MAX_CODECS = 256


def make_codec(level: LevelSpec) -> ChunkCodec:
    kind = level.layout.get("kind")
    if kind == "zarr":
        from .zarr_chunks import ZarrChunkCodec

        return ZarrChunkCodec(level)
    if kind == "tiff":
        from .tiff_tiles import TiffChunkCodec

        return TiffChunkCodec(level)
    if kind == "overview":
        from .overview_chunks import OverviewChunkCodec

        return OverviewChunkCodec(level)
    raise ValueError(f"unknown level layout kind {kind!r}")


def _span(start: int, stop: int, size: int, what: str) -> tuple[int, int]:
    if not (0 <= start < stop <= size):
        raise RegionOutOfRange(f"{what} range {start}:{stop} is outside 0:{size}")
    return start, stop


class PixelReader:
    def __init__(self, memory_bytes: int, fetch: Fetch | None = None, max_pixels: int | None = None):
        self.chunks = ChunkLRU(memory_bytes)
        self.fetch: Fetch = fetch or SourceFetch()
        self.max_pixels = max_pixels
        self._codecs: OrderedDict[tuple, ChunkCodec] = OrderedDict()
        self._codec_lock = threading.Lock()
        self._inflight: dict[tuple, asyncio.Future] = {}

    def codec(self, image: ImageRecord, level: int) -> ChunkCodec:
        key = (image.cache_tag, level)
        with self._codec_lock:
            codec = self._codecs.get(key)
            if codec is None:
                codec = make_codec(image.levels[level])
                self._codecs[key] = codec
                while len(self._codecs) > MAX_CODECS:
                    self._codecs.popitem(last=False)
            else:
                self._codecs.move_to_end(key)
            return codec

    async def read_block(
        self, image: ImageRecord, level: int, t: tuple[int, int], c: Sequence[int],
        z: tuple[int, int], y: tuple[int, int], x: tuple[int, int],
    ) -> np.ndarray:
        """Pixels as a 5-D array (t, len(c), z, y, x) in the level's dtype (native byte order)."""
        if not 0 <= level < len(image.levels):
            raise RegionOutOfRange(f"level {level} does not exist (image has {len(image.levels)} levels)")
        spec = image.levels[level]
        shape, chunk = spec.shape, spec.chunks
        t, z = _span(*t, shape[0], "t"), _span(*z, shape[2], "z")
        y, x = _span(*y, shape[3], "y"), _span(*x, shape[4], "x")
        c = list(c)
        if not c or any(not 0 <= ci < shape[1] for ci in c):
            raise RegionOutOfRange(f"channels {c} are outside 0:{shape[1]}")
        out_shape = (t[1] - t[0], len(c), z[1] - z[0], y[1] - y[0], x[1] - x[0])
        if self.max_pixels and math.prod(out_shape) > self.max_pixels:
            raise RegionTooLarge(f"region of {math.prod(out_shape)} pixels is above the limit of {self.max_pixels}")
        dtype = np.dtype(spec.dtype).newbyteorder("=")
        out = np.empty(out_shape, dtype=dtype)
        codec = self.codec(image, level)

        c_chunks = sorted({ci // chunk[1] for ci in c})
        ranges = [
            range(t[0] // chunk[0], -(-t[1] // chunk[0])),
            c_chunks,
            range(z[0] // chunk[2], -(-z[1] // chunk[2])),
            range(y[0] // chunk[3], -(-y[1] // chunk[3])),
            range(x[0] // chunk[4], -(-x[1] // chunk[4])),
        ]
        indices = list(itertools.product(*ranges))
        arrays = await asyncio.gather(*(self._chunk(image, level, codec, idx) for idx in indices))
        c_pos = {ci: k for k, ci in enumerate(c)}
        for idx, array in zip(indices, arrays):
            self._place(out, array, idx, chunk, t, z, y, x, c, c_pos)
        return out

    @staticmethod
    def _place(out, array, idx, chunk, t, z, y, x, c, c_pos) -> None:
        origin = [i * s for i, s in zip(idx, chunk)]
        sel_src, sel_dst = [], []
        for dim, (lo, hi) in zip((0, 2, 3, 4), (t, z, y, x)):
            a = max(lo, origin[dim])
            b = min(hi, origin[dim] + chunk[dim])
            sel_src.append(slice(a - origin[dim], b - origin[dim]))
            sel_dst.append(slice(a - lo, b - lo))
        c_lo = origin[1]
        for ci in c:
            if c_lo <= ci < c_lo + chunk[1]:
                out[sel_dst[0], c_pos[ci], sel_dst[1], sel_dst[2], sel_dst[3]] = array[
                    sel_src[0], ci - c_lo, sel_src[1], sel_src[2], sel_src[3]
                ]

    async def _chunk(self, image: ImageRecord, level: int, codec: ChunkCodec, idx: ChunkIndex) -> np.ndarray:
        key = (image.cache_tag, level, idx)
        array = self.chunks.get(key)
        if array is not None:
            return array
        pending = self._inflight.get(key)
        if pending is not None and pending.get_loop() is asyncio.get_running_loop():
            return await asyncio.shield(pending)
        future = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            fetch = self.fetch_for(image)
            location = await codec.locate(idx, fetch)
            if location is None:
                array = codec.fill(idx)
            else:
                try:
                    data = await fetch(location.url, location.start, location.end, location.version)
                except ObjectNotFound:
                    # Zarr writers skip chunks that are all fill value: an absent object is not an error
                    if not (getattr(codec, "missing_object_is_fill", False) and location.start is None):
                        raise
                    data = None
                array = codec.fill(idx) if data is None else await asyncio.to_thread(codec.decode, data, idx)
            self.chunks.put(key, array)
            future.set_result(array)
            return array
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            self._inflight.pop(key, None)

    def fetch_for(self, image: ImageRecord) -> Fetch:
        """The fetch bound to this image's revision, so cached bytes never outlive a re-import."""
        tag = image.cache_tag

        async def fetch(url, start, end, version=None):
            return await self.fetch(url, start, end, version, generation=tag)

        return fetch

    async def read_region(
        self, image: ImageRecord, level: int, *, t: int = 0, z: int = 0, c: int | Sequence[int] | None = None,
        y: tuple[int, int] | None = None, x: tuple[int, int] | None = None,
    ) -> np.ndarray:
        """A plane region: (y, x) for one channel, (c, y, x) for several (None = all)."""
        if not 0 <= level < len(image.levels):
            raise RegionOutOfRange(f"level {level} does not exist (image has {len(image.levels)} levels)")
        shape = image.levels[level].shape
        y = y or (0, shape[3])
        x = x or (0, shape[4])
        channels = list(range(shape[1])) if c is None else ([c] if isinstance(c, int) else list(c))
        block = await self.read_block(image, level, (t, t + 1), channels, (z, z + 1), y, x)
        planes = block[0, :, 0]
        return planes[0] if isinstance(c, int) else planes
