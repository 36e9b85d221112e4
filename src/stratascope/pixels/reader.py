"""read_region: find the chunks a region covers, fetch them concurrently, decode, assemble.

The reader keeps one codec per (image revision, level) — so TIFF manifests are
deserialised once and shard indexes stay cached — an in-memory LRU of decoded chunks,
and a table of in-flight chunk reads so concurrent requests never fetch a chunk twice.

Every read is bounded before any work is done (`ReadLimits`): the bytes of the block
(t x c x z x y x x x itemsize), the number of chunks it touches, the fetches one read keeps
in flight, and the fetches the whole reader keeps in flight (one semaphore per event loop, so
a flood of requests cannot exhaust file descriptors or connections).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

from ..catalogue.records import ImageRecord
from ..storage import ObjectNotFound
from .chunks import ArrayChunks, ByteRange, ChunkCodec, ChunkIndex, Fetch, RevisionFetch
from .codecs import CodecFactory
from .errors import RegionOutOfRange, RegionTooLarge
from .memory_cache import ChunkLRU

MAX_CODECS = 256


@dataclass(frozen=True)
class ReadLimits:
    """What one read may cost; `None` disables a bound. Settings: `[server] max_read_bytes`,
    `max_chunks_per_request`, `request_fetch_concurrency`, `max_concurrent_fetches`."""

    #: t x c x z x y x x x itemsize of one read_block (the array it returns)
    max_bytes: int | None = 512 * 2**20
    #: chunks one read_block may touch (each is at least one fetch on a cold cache)
    max_chunks: int | None = 4096
    #: chunks one read_block (or warm) reads at a time
    request_concurrency: int = 16
    #: source fetches (chunks, shard indexes) in flight in this reader at once, all reads together
    max_concurrent_fetches: int = 64

    def __post_init__(self):
        if self.request_concurrency < 1 or self.max_concurrent_fetches < 1:
            raise ValueError("fetch concurrency limits must be at least 1")


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n} bytes"


def _span(start: int, stop: int, size: int, what: str) -> tuple[int, int]:
    if not (0 <= start < stop <= size):
        raise RegionOutOfRange(f"{what} range {start}:{stop} is outside 0:{size}")
    return start, stop


class PixelReader:
    def __init__(self, memory_bytes: int, fetch: RevisionFetch,
                 codecs: CodecFactory | None = None, limits: ReadLimits | None = None):
        self.chunks = ChunkLRU(memory_bytes)
        self.fetch: RevisionFetch = fetch
        self.limits = limits or ReadLimits()
        # asyncio semaphores belong to one loop: one per loop (a server has one; the CLI and
        # tests may run several loops in turn), dropped with the loop
        self._fetch_slots: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.make_codec = codecs or CodecFactory()
        self._codecs: OrderedDict[tuple, ChunkCodec | ArrayChunks] = OrderedDict()
        self._codec_lock = threading.Lock()
        self._inflight: dict[tuple, asyncio.Future] = {}

    def forget(self) -> None:
        """Drop decoded chunks and codecs (shard indexes, TIFF manifests) held in memory."""
        self.chunks.clear()
        with self._codec_lock:
            self._codecs.clear()

    def codec(self, image: ImageRecord, level: int) -> ChunkCodec | ArrayChunks:
        key = (image.cache_tag, level)
        with self._codec_lock:
            codec = self._codecs.get(key)
            if codec is None:
                codec = self.make_codec(image.levels[level])
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
        dtype = np.dtype(spec.dtype).newbyteorder("=")
        self._check_budget(out_shape, dtype)
        c_chunks = sorted({ci // chunk[1] for ci in c})
        ranges = [
            range(t[0] // chunk[0], -(-t[1] // chunk[0])),
            c_chunks,
            range(z[0] // chunk[2], -(-z[1] // chunk[2])),
            range(y[0] // chunk[3], -(-y[1] // chunk[3])),
            range(x[0] // chunk[4], -(-x[1] // chunk[4])),
        ]
        touched = math.prod(len(r) for r in ranges)
        if self.limits.max_chunks is not None and touched > self.limits.max_chunks:
            raise RegionTooLarge(
                f"the region touches {touched} chunks of level {level} (chunks of {chunk[3]}x{chunk[4]} pixels), "
                f"above the limit of {self.limits.max_chunks} chunks per request (max_chunks_per_request); "
                "ask for a smaller region or a coarser level"
            )
        out = np.empty(out_shape, dtype=dtype)
        codec = self.codec(image, level)
        indices = [cast(ChunkIndex, idx) for idx in itertools.product(*ranges)]
        slots = asyncio.Semaphore(self.limits.request_concurrency)

        async def bounded(idx: ChunkIndex) -> np.ndarray:
            async with slots:
                return await self._chunk(image, level, codec, idx)

        arrays = await asyncio.gather(*(bounded(idx) for idx in indices))
        c_pos = {ci: k for k, ci in enumerate(c)}
        for idx, array in zip(indices, arrays):
            self._place(out, array, idx, chunk, t, z, y, x, c, c_pos)
        return out

    def _check_budget(self, shape: Sequence[int], dtype: np.dtype) -> None:
        """Refuse a read whose array (all planes and channels together) is above max_read_bytes."""
        limit = self.limits.max_bytes
        size = math.prod(shape) * dtype.itemsize
        if limit is not None and size > limit:
            t, c, z, h, w = shape
            raise RegionTooLarge(
                f"reading {t} t x {c} c x {z} z x {h}x{w} pixels of {dtype.name} needs {_mib(size)}, "
                f"above the limit of {_mib(limit)} per read (max_read_bytes); "
                "ask for fewer planes, channels or a smaller region"
            )

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

    async def _chunk(self, image: ImageRecord, level: int, codec, idx: ChunkIndex) -> np.ndarray:
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
            array = await self._load(image, codec, idx)
            self.chunks.put(key, array)
            future.set_result(array)
            return array
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            self._inflight.pop(key, None)

    async def _load(self, image: ImageRecord, codec, idx: ChunkIndex) -> np.ndarray:
        if isinstance(codec, ArrayChunks):
            return await codec.read_chunk(idx)
        found = await self._located_bytes(image, codec, idx)
        if found is None:
            return codec.fill(idx)
        return await asyncio.to_thread(codec.decode, found, idx)

    async def _located_bytes(self, image: ImageRecord, codec: ChunkCodec, idx: ChunkIndex) -> bytes | None:
        """The stored bytes of a chunk through the reader's fetch; None when it is absent (fill)."""
        fetch = self.fetch_for(image)
        location: ByteRange | None = await codec.locate(idx, fetch)
        if location is None:
            return None
        try:
            return await fetch(location.url, location.start, location.end, location.version)
        except ObjectNotFound as exc:
            # Zarr writers skip chunks that are all fill value: an object absent at import is
            # fill; one present at import and gone now is an error (never fill, never cached)
            if codec.missing_object_is_fill and location.start is None:
                if codec.absent_at_import(location.url):
                    return None
                raise ObjectNotFound(
                    f"{location.url}: this chunk existed at import and is missing now (deleted, or the store "
                    f"is failing); not served as fill value ({exc})"
                ) from exc
            raise

    async def raw_chunk(self, image: ImageRecord, level: int, index: ChunkIndex) -> bytes | None:
        """A chunk's stored bytes as its source has them (Zarr pass-through); None = fill value."""
        codec = self.codec(image, level)
        if isinstance(codec, ArrayChunks):
            raise TypeError(f"level {level} of image {image.id} has no stored chunk bytes (an overview)")
        return await self._located_bytes(image, codec, cast(ChunkIndex, tuple(index)))

    async def warm(self, image: ImageRecord, level: int, indices: Iterable[ChunkIndex], *, concurrency: int = 16,
                   on_chunk: Callable[[], None] | None = None) -> list[str]:
        """Read chunks through the reader's fetch (so the cache tier holds them) without decoding.

        Bounded: at most `concurrency` reads at a time, in batches. Returns one message per
        chunk that failed (the others are still read)."""
        codec = self.codec(image, level)
        errors: list[str] = []
        semaphore = asyncio.Semaphore(max(1, min(concurrency, self.limits.max_concurrent_fetches)))

        async def one(idx: ChunkIndex) -> None:
            async with semaphore:
                try:
                    if isinstance(codec, ArrayChunks):
                        await codec.read_chunk(idx)
                    else:
                        await self._located_bytes(image, codec, idx)
                except ObjectNotFound:
                    errors.append(f"image {image.id} level {level} chunk {idx}: source object missing")
                except Exception as exc:
                    errors.append(f"image {image.id} level {level} chunk {idx}: {exc}")
                if on_chunk is not None:
                    on_chunk()

        iterator = iter(indices)
        while batch := list(itertools.islice(iterator, 1024)):  # bounded memory for huge grids
            await asyncio.gather(*(one(cast(ChunkIndex, tuple(idx))) for idx in batch))
        return errors

    def fetch_slots(self) -> asyncio.Semaphore:
        """The semaphore bounding this reader's fetches in flight on the running loop."""
        loop = asyncio.get_running_loop()
        slots = self._fetch_slots.get(loop)
        if slots is None:
            slots = self._fetch_slots[loop] = asyncio.Semaphore(self.limits.max_concurrent_fetches)
        return slots

    def fetch_for(self, image: ImageRecord) -> Fetch:
        """The fetch bound to this image's revision, so cached bytes never outlive a re-import;
        at most `max_concurrent_fetches` of them run at once in this reader."""
        tag = image.cache_tag

        async def fetch(url, start, end, version=None):
            async with self.fetch_slots():
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
