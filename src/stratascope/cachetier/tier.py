"""CacheTier: a byte-bounded, LRU, checksummed key -> bytes cache over a backend.

Methods are synchronous and thread-safe; async callers use `asyncio.to_thread` (an
object-store tier makes network requests). Reads update last-access times and hit/miss
counters in memory and write them to the shared index in batches (every
`FLUSH_EVERY` reads or `FLUSH_SECONDS`), so a hit costs one file read and no lock.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from .backends import LocalFolder, ObjectStorePrefix
from .entry import CorruptEntry, check_key, frame, kind_of, normalise_prefix, unframe
from .index import CacheIndex, now_ns

log = logging.getLogger(__name__)

FLUSH_EVERY = 256
FLUSH_SECONDS = 2.0


class CacheTier:
    def __init__(self, backend: LocalFolder | ObjectStorePrefix, max_bytes: int, home: Path):
        self.backend = backend
        self.max_bytes = max(0, int(max_bytes))
        self.url = backend.url
        self.index = CacheIndex(backend.index_path(home))
        self._lock = threading.Lock()
        self._touches: dict[str, tuple[str, int, int]] = {}
        self._counts: dict[str, list[int]] = {}
        self._last_flush = time.monotonic()
        if self.index.created:
            self.reconcile()

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    # -- reads -------------------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        kind = kind_of(check_key(key))
        found = self.backend.read(key)
        if found is None:
            self._count(kind, hit=False)
            return None
        raw, token = found
        try:
            payload = unframe(raw)
        except CorruptEntry as exc:
            log.warning("cache entry %s in %s is corrupt (%s); dropped, it will be refetched", key, self.url, exc)
            self.backend.remove(key, token)
            self.index.forget([key])
            self._count(kind, hit=False)
            return None
        self._count(kind, hit=True, touch=(key, len(raw)))
        return payload

    def contains(self, key: str) -> bool:
        """Whether a valid entry is stored (reads and verifies it; not counted as a hit or miss)."""
        found = self.backend.read(check_key(key))
        if found is None:
            return False
        try:
            unframe(found[0])
        except CorruptEntry:
            return False
        return True

    def _count(self, kind: str, *, hit: bool, touch: tuple[str, int] | None = None) -> None:
        with self._lock:
            counts = self._counts.setdefault(kind, [0, 0])
            counts[0 if hit else 1] += 1
            if touch is not None:
                self._touches[touch[0]] = (kind, touch[1], now_ns())
            due = len(self._touches) >= FLUSH_EVERY or time.monotonic() - self._last_flush > FLUSH_SECONDS
        if due:
            self.flush()

    def _take_pending(self) -> tuple[dict, dict]:
        with self._lock:
            touches, counts = self._touches, self._counts
            self._touches, self._counts = {}, {}
            self._last_flush = time.monotonic()
        return touches, counts

    def flush(self) -> None:
        """Write buffered access times and hit/miss counts to the shared index."""
        touches, counts = self._take_pending()
        try:
            self.index.flush(touches, counts)
        except Exception as exc:  # bookkeeping must never fail a read
            log.warning("could not update the cache index %s: %s", self.index.path, exc)

    # -- writes ------------------------------------------------------------------------
    def put(self, key: str, data: bytes) -> None:
        kind = kind_of(check_key(key))
        framed = frame(bytes(data))
        if len(framed) > self.max_bytes:
            # larger than the whole budget: never stored, and an older value must not linger
            self.delete(key)
            return
        self.backend.write(key, framed)
        victims = self.index.record_and_evict(key, kind, len(framed), self.max_bytes, *self._take_pending())
        for victim in victims:
            self.backend.remove(victim)

    def delete(self, key: str) -> None:
        check_key(key)
        self.backend.remove(key)
        self.index.forget([key])
        with self._lock:
            self._touches.pop(key, None)

    def drop(self, kind: str | None = None) -> int:
        """Remove every entry (kind=None, also resets hit/miss counters) or those under a key
        prefix such as "chunk/". Returns the number of entries removed."""
        prefix = None if kind is None else normalise_prefix(kind)
        self.flush()
        keys = set(self.index.keys_with_prefix(prefix))
        keys.update(key for key, _, _ in self.backend.scan(prefix or ""))  # entries the index never saw
        self.index.drop(prefix)
        for key in keys:
            self.backend.remove(key)
        with self._lock:
            self._touches = {k: v for k, v in self._touches.items() if k not in keys}
        return len(keys)

    def set_budget(self, max_bytes: int) -> None:
        self.max_bytes = max(0, int(max_bytes))
        self.flush()
        for victim in self.index.evict(self.max_bytes):
            self.backend.remove(victim)

    def reconcile(self) -> int:
        """Adopt entries present in storage but missing from the index (a new or lost index,
        another host writing to the same bucket prefix). Returns how many were seen."""
        rows = [(key, kind_of(key), size, mtime) for key, size, mtime in self.backend.scan()]
        self.index.adopt(rows)
        for victim in self.index.evict(self.max_bytes):
            self.backend.remove(victim)
        return len(rows)

    # -- reporting ---------------------------------------------------------------------
    def stats(self) -> dict:
        self.flush()
        totals = self.index.totals()
        kinds = {}
        hits = misses = 0
        for kind in sorted(set(totals["kinds"]) | set(totals["counters"])):
            k_hits, k_misses = totals["counters"].get(kind, [0, 0])
            hits, misses = hits + k_hits, misses + k_misses
            entry = totals["kinds"].get(kind, {"bytes": 0, "entries": 0})
            kinds[kind] = {**entry, "hits": k_hits, "misses": k_misses, "hit_ratio": _ratio(k_hits, k_misses)}
        return {
            "url": self.url, "bytes": totals["bytes"], "entries": totals["entries"], "max_bytes": self.max_bytes,
            "hits": hits, "misses": misses, "hit_ratio": _ratio(hits, misses), "kinds": kinds,
        }

    def close(self) -> None:
        self.flush()
        self.index.close()


def _ratio(hits: int, misses: int) -> float | None:
    return hits / (hits + misses) if hits + misses else None
