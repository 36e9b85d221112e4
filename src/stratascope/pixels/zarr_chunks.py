"""Where a Zarr chunk's bytes are and how to decode them, from a level's layout alone.

Chunk keys follow from a formula, so nothing per chunk is stored at import. An
unsharded chunk is a whole object (`locate` costs no request; a missing object means
fill value, see `missing_object_is_fill`). A sharded chunk is a byte range of its shard:
the shard index is read once with one ranged request (suffix or prefix, as zarr-python
does in `zarr/codecs/sharding.py`) and kept in a bounded, pluggable cache.
The layout is documented in `formats/ome_zarr.py`.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import OrderedDict
from collections.abc import MutableMapping

import google_crc32c
import numpy as np

from ..formats.model import AXES, MAX_CHUNK_BYTES, ChunkTooLarge, FormatError, LevelSpec
from ..formats.zarr_codecs import MAX_UINT64, decode_chunk, parse_fill_value
from ..storage.errors import ObjectChanged, ObjectNotFound
from .chunks import ByteRange, ChunkIndex, Fetch

_NOT_CACHED = object()
log = logging.getLogger(__name__)


class LRUCache(MutableMapping):
    """A small bounded mapping: the least recently used entry goes first."""

    def __init__(self, max_entries: int = 1024):
        self.max_entries = max_entries
        self._data: OrderedDict = OrderedDict()

    def __getitem__(self, key):
        value = self._data[key]
        self._data.move_to_end(key)
        return value

    def __setitem__(self, key, value):
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)

    def __delitem__(self, key):
        del self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self):
        return len(self._data)


class ZarrChunkCodec:
    """The `ChunkCodec` of one OME-Zarr resolution level."""

    #: For unsharded arrays `locate` cannot know (without a request) whether the chunk
    #: object exists; Zarr's rule is that a missing chunk is fill value, so the reader
    #: calls `fill` when fetching the located object raises ObjectNotFound — but only for
    #: objects `absent_at_import` (see there).
    missing_object_is_fill = True

    def __init__(self, level: LevelSpec, index_cache: MutableMapping | None = None):
        layout = level.layout
        if layout.get("kind") != "zarr":
            raise FormatError(f"not a Zarr layout: {layout.get('kind')!r}")
        self.layout = layout
        self.axes: str = layout["native_axes"]
        self.chunk_shape = tuple(level.chunks)
        self.dtype = np.dtype(level.dtype)
        self.fill_value = parse_fill_value(layout["fill_value"], self.dtype)
        self.base_url = layout["url"].rstrip("/")
        self.shard = layout["shard"]
        self._grid = [math.ceil(s / c) for s, c in zip(layout["native_shape"], layout["native_chunks"])]
        # native axis order -> logical (t, c, z, y, x) order of the present axes
        self._to_logical = sorted(range(len(self.axes)), key=lambda i: AXES.index(self.axes[i]))
        self.index_cache = index_cache if index_cache is not None else LRUCache()
        self._pending: dict[str, asyncio.Future] = {}
        # keys of chunk/shard objects absent at import (formats/zarr_image.absent_objects);
        # None: not recorded (older imports, huge grids), every absent object is fill
        absent = layout.get("absent_objects")
        self._absent = None if absent is None else frozenset(absent)

    def absent_at_import(self, url: str) -> bool:
        """May this object's absence be read as fill value? Only if import saw it absent (or did
        not record it): an object seen at import and missing now was deleted or the store is
        failing, an error (410), never a black tile that would then be cached."""
        if self._absent is None:
            return True
        return url.startswith(self.base_url + "/") and url[len(self.base_url) + 1:] in self._absent

    # --- where ---------------------------------------------------------------------------

    def _native_index(self, index: ChunkIndex) -> tuple[int, ...]:
        native = tuple(int(index[AXES.index(axis)]) for axis in self.axes)
        absent = [index[i] for i, axis in enumerate(AXES) if axis not in self.axes]
        if any(absent) or any(not 0 <= i < n for i, n in zip(native, self._grid)):
            raise IndexError(f"chunk {tuple(index)} is outside the chunk grid of {self.base_url}")
        return native

    def chunk_url(self, coords: tuple[int, ...]) -> str:
        """The object of a (shard-grid, if sharded) chunk: chunk key encoding of Zarr v2 / v3."""
        encoding = self.layout["key_encoding"]
        separator = encoding["separator"]
        if encoding["name"] == "default":
            key = separator.join(["c", *map(str, coords)])
        else:
            key = separator.join(map(str, coords)) or "0"
        return f"{self.base_url}/{key}"

    async def locate(self, index: ChunkIndex, fetch: Fetch) -> ByteRange | None:
        native = self._native_index(index)
        if not self.shard:
            return ByteRange(self.chunk_url(native))
        per_shard = self.shard["chunks_per_shard"]
        url = self.chunk_url(tuple(i // n for i, n in zip(native, per_shard)))
        offsets = await self._shard_index(url, fetch)
        if offsets is None:
            return None
        start, length = (int(v) for v in offsets[tuple(i % n for i, n in zip(native, per_shard))])
        if start == MAX_UINT64 and length == MAX_UINT64:
            return None
        if length > MAX_CHUNK_BYTES or start >= MAX_UINT64 - length:
            raise FormatError(f"shard {url}: index entry ({start}, {length}) for chunk {tuple(index)} is absurd")
        return ByteRange(url, start, start + length)

    async def _shard_index(self, url: str, fetch: Fetch) -> np.ndarray | None:
        """The decoded index of one shard (None: no shard object); one request per shard."""
        cached = self.index_cache.get(url, _NOT_CACHED)
        if cached is not _NOT_CACHED:
            return cached
        pending = self._pending.get(url)
        if pending is None:  # concurrent locates of one shard share one request
            pending = self._pending[url] = asyncio.ensure_future(self._load_shard_index(url, fetch))
            pending.add_done_callback(lambda _: self._pending.pop(url, None))
        return await asyncio.shield(pending)

    async def _load_shard_index(self, url: str, fetch: Fetch) -> np.ndarray | None:
        size = self.shard["index_bytes"]
        try:
            if self.shard["index_location"] == "end":
                data = await fetch(url, -size, None, None)
            else:
                data = await fetch(url, 0, size, None)
        except ObjectNotFound as exc:
            if not self.absent_at_import(url):
                raise ObjectNotFound(f"{url}: this shard existed at import and is missing now (deleted, or the "
                                     f"store is failing); its chunks are not served as fill value ({exc})") from exc
            self.index_cache[url] = None  # a shard absent at import: all its chunks are fill value
            return None
        offsets = self._decode_shard_index(url, bytes(data))
        self.index_cache[url] = offsets
        return offsets

    def _decode_shard_index(self, url: str, data: bytes) -> np.ndarray:
        size = self.shard["index_bytes"]
        if len(data) != size:
            raise FormatError(f"shard {url}: index has {len(data)} bytes, expected {size}")
        codecs = self.shard["index_codecs"]
        if any(c["name"] == "crc32c" for c in codecs):
            data, checksum = data[:-4], data[-4:]
            if google_crc32c.value(data) != int.from_bytes(checksum, "little"):
                raise ObjectChanged(f"shard {url}: the index checksum does not match (changed or corrupt)")
        endian = (codecs[0].get("configuration") or {}).get("endian", "little")
        offsets = np.frombuffer(data, dtype="<u8" if endian == "little" else ">u8").astype("=u8")
        offsets = offsets.reshape([*self.shard["chunks_per_shard"], 2])
        offsets.flags.writeable = False
        return offsets

    # --- what ----------------------------------------------------------------------------

    def decode(self, data: bytes, index: ChunkIndex) -> np.ndarray:
        try:
            native = decode_chunk(self.layout, bytes(data))
        except ChunkTooLarge as exc:  # a decompression bomb (or a corrupt header): worth an admin's look
            log.warning("refused chunk %s of %s: %s", tuple(index), self.base_url, exc)
            raise
        except (FormatError, ObjectChanged):
            raise
        except Exception as exc:  # codec libraries raise RuntimeError, ValueError, ...
            raise FormatError(f"cannot decode chunk {tuple(index)} of {self.base_url}: {exc}") from exc
        return native.transpose(self._to_logical).reshape(self.chunk_shape).astype(self.dtype, copy=False)

    def fill(self, index: ChunkIndex) -> np.ndarray:
        return np.full(self.chunk_shape, self.fill_value, dtype=self.dtype)
