"""Which chunk decoder a level needs, by its layout kind; overviews get their collaborators here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..cachetier import LazyCache
from ..catalogue.records import ImageRecord
from ..formats.model import LevelSpec
from .chunks import ArrayChunks, ChunkCodec, RegionReader
from .overview_chunks import OverviewChunks
from .tiff_tiles import TiffChunkCodec
from .zarr_chunks import ZarrChunkCodec


class UnknownLayout(ValueError):
    """A level's layout kind is none this version can read (a newer catalogue?)."""


@dataclass(frozen=True)
class OverviewSupport:
    """What overview levels need: the cache tier, a reader of base levels, image records."""

    cache: LazyCache
    base_reader: RegionReader
    load_image: Callable[[int], ImageRecord]


class CodecFactory:
    def __init__(self, overviews: OverviewSupport | None = None):
        self.overviews = overviews

    def __call__(self, level: LevelSpec) -> ChunkCodec | ArrayChunks:
        kind = level.layout.get("kind")
        if kind == "zarr":
            return ZarrChunkCodec(level)
        if kind == "tiff":
            return TiffChunkCodec(level)
        if kind == "overview":
            if self.overviews is None:
                raise UnknownLayout("overview levels are not readable by this reader (it has no cache tier)")
            o = self.overviews
            return OverviewChunks(level, o.cache, o.base_reader, o.load_image)
        raise UnknownLayout(f"unknown level layout kind {kind!r}")
