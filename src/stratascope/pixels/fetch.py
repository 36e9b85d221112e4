"""The one path by which chunk bytes are read from a source store."""

from __future__ import annotations

import asyncio
import hashlib
import logging

from ..cachetier import LazyCache
from ..storage import ObjectChanged, RangeNotSatisfiable, SourceReader
from ..storage.accounting import CACHE_LOOKUPS

log = logging.getLogger(__name__)


class SourceFetch:
    """`Fetch` callable over the counted source reader, with length checks.

    start=None reads the whole object; start<0 with end=None reads the last -start bytes.
    """

    def __init__(self, reader: SourceReader):
        self.reader = reader

    async def __call__(self, url: str, start: int | None, end: int | None, version: str | None = None,
                       generation: str | None = None) -> bytes:
        if start is None:
            return await self.reader.get(url, version=version)
        if end is None:
            if start >= 0:
                raise ValueError(f"a range needs an end (start={start})")
            return await self.reader.get_suffix(url, -start, version=version)
        try:
            data = await self.reader.get_range(url, start, end, version=version)
        except RangeNotSatisfiable as exc:
            # the manifest recorded these bytes, so the object shrank since import (overwritten)
            raise ObjectChanged(
                f"{url}: bytes {start}-{end} no longer exist (the object changed or was truncated since import)"
            ) from exc
        if len(data) != end - start:
            raise ObjectChanged(
                f"{url}: expected {end - start} bytes at offset {start}, got {len(data)} "
                "(the object changed or was truncated since import)"
            )
        return data


class CachedFetch:
    """Read-through cache tier in front of a `Fetch` (same call signature as `SourceFetch`).

    Chunk bytes are stored under "chunk/<sha256(url|start|end|version)>", suffix reads (shard
    indexes) under "shardindex/...". Only complete bodies are stored: a range must have
    exactly end - start bytes and a suffix exactly -start, so a truncated response is
    returned to (and judged by) the caller but never cached.
    """

    def __init__(self, inner: SourceFetch, cache: LazyCache):
        self.inner = inner
        self.cache = cache
        self._warned: set[str] = set()

    @staticmethod
    def key(url: str, start: int | None, end: int | None, version: str | None, generation: str | None = None) -> str:
        # `generation` (the image revision) keeps bytes cached before a re-import from being
        # served after it when an unversioned object was overwritten in place
        kind = "shardindex" if start is not None and start < 0 and end is None else "chunk"
        digest = hashlib.sha256(f"{url}|{start}|{end}|{version or ''}|{generation or ''}".encode()).hexdigest()
        return f"{kind}/{digest}"

    async def __call__(self, url: str, start: int | None, end: int | None, version: str | None = None,
                       generation: str | None = None) -> bytes:
        try:
            # opening may scan an existing folder: never on the event loop
            cache = await self.cache.open()
        except Exception as exc:  # e.g. a read-only or missing cache folder: serve from the source
            self._warn_once(f"the cache tier cannot be opened ({exc}); reading from the source only")
            return await self.inner(url, start, end, version)
        if not cache.enabled:
            return await self.inner(url, start, end, version)
        key = self.key(url, start, end, version, generation)
        kind = key.split("/", 1)[0]
        expected = None if start is None else (-start if end is None else end - start)
        try:
            data = await asyncio.to_thread(cache.get, key)
        except Exception as exc:  # an unreadable cache (disk, cache bucket) degrades to the source
            log.warning("cache tier read failed for %s: %s", url, exc)
            data = None
        if data is not None and (expected is None or len(data) == expected):
            CACHE_LOOKUPS.record(f"cache/{kind}", True)
            return data
        CACHE_LOOKUPS.record(f"cache/{kind}", False)
        data = await self.inner(url, start, end, version)
        if expected is None or len(data) == expected:
            try:
                await asyncio.to_thread(cache.put, key, data)
            except Exception as exc:  # disk full, permissions, cache bucket down: serve anyway
                log.warning("cache tier write failed for %s: %s", url, exc)
        return data

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            log.warning(message)
