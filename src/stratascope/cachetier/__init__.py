"""The cache tier: a local folder or a faster bucket in front of the archive.

`open_cache(url, max_bytes, home, stores)` opens a tier; the services object keeps one
`LazyCache` per process (opened on first use, because opening may scan a folder). Keys are
relative paths whose first component is the kind of entry: "chunk/<sha256>",
"shardindex/<sha256>", "thumb/<tag>/96x96.jpg", "overview/<tag>/<level>.npy". See docs/cache.md.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from ..storage import StoreRegistry
from ..storage.urls import parse_url
from .backends import CACHE_REQUESTS, LocalFolder, ObjectStorePrefix
from .entry import CorruptEntry, InvalidKey, check_key, kind_of
from .tier import CacheTier


def open_cache(url: str, max_bytes: int, home: Path, stores: StoreRegistry | None = None) -> CacheTier:
    """A cache tier on a folder path / file:// URL, or an object-store prefix (s3://bucket/prefix/)."""
    location = parse_url(url)
    if location.scheme == "file":
        return CacheTier(LocalFolder(Path("/" + location.key)), max_bytes, Path(home))
    if stores is None:  # a default registry would ignore the store settings (endpoint, allow_http)
        raise ValueError(f"the cache tier {url} is in an object store: open it with the services' store registry")
    return CacheTier(ObjectStorePrefix(location, stores.open(location)), max_bytes, Path(home))


class LazyCache:
    """The process's cache tier, opened on first `get()` (thread-safe) and closed with the services."""

    def __init__(self, url: str, max_bytes: int, home: Path, stores: StoreRegistry | None = None):
        self.url, self.max_bytes, self.home, self.stores = url, max_bytes, Path(home), stores
        self._lock = threading.Lock()
        self._tier: CacheTier | None = None

    def get(self) -> CacheTier:
        """The tier (blocking: may scan the folder the first time; async callers use a thread)."""
        with self._lock:
            if self._tier is None:
                self._tier = open_cache(self.url, self.max_bytes, self.home, self.stores)
            return self._tier

    async def open(self) -> CacheTier:
        """The tier, opened in a thread the first time (never scans a folder on the event loop)."""
        tier = self._tier
        return tier if tier is not None else await asyncio.to_thread(self.get)

    def opened(self) -> CacheTier | None:
        """The tier if it is open already (lets async callers skip the thread hop)."""
        return self._tier

    def close(self) -> None:
        """Write buffered access times and hit counts; the next `get()` opens it again."""
        with self._lock:
            tier, self._tier = self._tier, None
        if tier is not None:
            try:
                tier.close()
            except Exception:  # the folder may already be gone (tests)
                pass


__all__ = [
    "CACHE_REQUESTS", "CacheTier", "CorruptEntry", "InvalidKey", "LazyCache", "check_key", "kind_of", "open_cache",
]
