"""The contract between the pixel reader and a format's chunk decoder.

`pixels.region` finds the chunks a region covers, asks the level's `ChunkCodec` where
each chunk's bytes are (`locate`), fetches them (counted, cached, coalesced) and asks
the codec to `decode` them into an array of the full 5-D chunk shape.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

ChunkIndex = tuple[int, int, int, int, int]  # (t, c, z, y, x) chunk-grid index


@dataclass(frozen=True)
class ByteRange:
    """Where a chunk's bytes are: [start, end) of an object, or the whole object."""

    url: str
    start: int | None = None  # None: the whole object
    end: int | None = None
    version: str | None = None

    @property
    def length(self) -> int | None:
        if self.start is None or self.end is None:
            return None
        return self.end - self.start


#: fetch(url, start, end, version) -> bytes; start=None reads the whole object,
#: start<0 with end=None reads the last -start bytes. May raise storage errors.
#: The reader's own fetches also take `generation=` (the image revision) for cache keys.
Fetch = Callable[[str, "int | None", "int | None", "str | None"], Awaitable[bytes]]


class RevisionFetch(Protocol):
    """The pixel reader's own fetch: `Fetch` plus the image revision, which keys cached bytes."""

    async def __call__(self, url: str, start: int | None, end: int | None, version: str | None = None,
                       generation: str | None = None) -> bytes: ...


class ChunkCodec(Protocol):
    """A level whose chunks are bytes in source objects (Zarr chunks, TIFF tiles)."""

    #: an absent whole-object chunk is the fill value (Zarr writers skip all-fill chunks)
    missing_object_is_fill: bool

    async def locate(self, index: ChunkIndex, fetch: Fetch) -> ByteRange | None:
        """Where the chunk's bytes are; None if the chunk is absent (fill value)."""

    def decode(self, data: bytes, index: ChunkIndex) -> np.ndarray:
        """Decode to an array of exactly the level's 5-D chunk shape (pad short edges)."""

    def fill(self, index: ChunkIndex) -> np.ndarray:
        """The array for an absent chunk (fill value)."""

    def absent_at_import(self, url: str) -> bool:
        """Was this whole object absent at import (so its absence now is fill, not an error)?"""


@runtime_checkable
class ArrayChunks(Protocol):
    """A level whose chunks are arrays made by stratascope itself (overviews in the cache tier)."""

    async def read_chunk(self, index: ChunkIndex) -> np.ndarray:
        """The chunk as an array of exactly the level's 5-D chunk shape."""


class RegionReader(Protocol):
    """What overview levels need of the reader of their base level (PixelReader has it)."""

    async def read_region(self, image, level: int, *, t: int = 0, z: int = 0, c=None, y=None, x=None) -> np.ndarray:
        """A plane region of one level, as `PixelReader.read_region`."""
