"""The cache tier: a local folder or a faster bucket in front of the archive.

`get_cache()` is the process-wide tier configured by `STRATASCOPE_CACHE_URL` and
`STRATASCOPE_CACHE_MAX_BYTES` (0 disables it). Keys are relative paths whose first
component is the kind of entry: "chunk/<sha256>", "shardindex/<sha256>",
"thumb/<tag>/96x96.jpg", "overview/<tag>/<level>.npy". See docs/cache.md.
"""

from __future__ import annotations

import atexit
import threading
from pathlib import Path

from .. import state
from ..config import get_settings
from ..storage.urls import parse_url
from .backends import CACHE_REQUESTS, LocalFolder, ObjectStorePrefix
from .entry import CorruptEntry, InvalidKey, check_key, kind_of
from .tier import CacheTier

_lock = threading.Lock()
_cache: CacheTier | None = None


def open_cache(url: str, max_bytes: int, home: Path | None = None) -> CacheTier:
    """A cache tier on a folder path / file:// URL, or an object-store prefix (s3://bucket/prefix/)."""
    home = Path(home) if home is not None else get_settings().home
    location = parse_url(url)
    if location.scheme == "file":
        return CacheTier(LocalFolder(Path("/" + location.key)), max_bytes, home)
    return CacheTier(ObjectStorePrefix(location), max_bytes, home)


def get_cache() -> CacheTier:
    """The process-wide cache tier (shared by every request; thread-safe)."""
    global _cache
    with _lock:
        if _cache is None:
            settings = get_settings()
            _cache = open_cache(settings.cache_url, settings.cache_max_bytes, settings.home)
        return _cache


def opened_cache() -> CacheTier | None:
    """The process-wide tier if it is already open (async callers open it in a thread)."""
    return _cache


@state.on_reset
def _forget_cache() -> None:
    global _cache
    with _lock:
        cache, _cache = _cache, None
    if cache is not None:
        try:
            cache.close()
        except Exception:  # the folder may already be gone (tests)
            pass


atexit.register(_forget_cache)  # write buffered access times and hit counts

__all__ = [
    "CACHE_REQUESTS", "CacheTier", "CorruptEntry", "InvalidKey", "check_key", "get_cache", "kind_of", "open_cache",
    "opened_cache",
]
