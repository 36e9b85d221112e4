"""The only reader of chunk bytes: read_region(image, level, t, c, z, y, x) -> ndarray."""

from __future__ import annotations

import threading

from .. import state
from ..config import get_settings
from .errors import PixelError, RegionOutOfRange, RegionTooLarge
from .fetch import CachedFetch
from .reader import PixelReader

_lock = threading.Lock()
_reader: PixelReader | None = None


def get_reader() -> PixelReader:
    """The process-wide reader (its chunk LRU is shared by every request)."""
    global _reader
    with _lock:
        if _reader is None:
            settings = get_settings()
            _reader = PixelReader(settings.chunk_memory_bytes, fetch=CachedFetch(), max_pixels=None)
        return _reader


@state.on_reset
def _forget_reader() -> None:
    global _reader
    with _lock:
        _reader = None


__all__ = ["PixelError", "PixelReader", "RegionOutOfRange", "RegionTooLarge", "get_reader"]
