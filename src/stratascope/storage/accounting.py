"""Counts every request made to a source store, by operation, and the bytes read.

The counters are process-wide, thread-safe and cheap; tests read them directly and
`/metrics` exports them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

OPERATIONS = ("get", "get_range", "head", "list", "put", "delete")


@dataclass
class RequestCounts:
    requests: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OPERATIONS, 0))
    bytes_read: int = 0

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    def __sub__(self, other: RequestCounts) -> RequestCounts:
        return RequestCounts(
            {op: self.requests[op] - other.requests[op] for op in OPERATIONS},
            self.bytes_read - other.bytes_read,
        )


class RequestCounter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = RequestCounts()
        self._listeners: list = []

    def record(self, op: str, nbytes: int = 0) -> None:
        with self._lock:
            self._counts.requests[op] += 1
            self._counts.bytes_read += nbytes
        for listener in self._listeners:
            listener(op, nbytes)

    def snapshot(self) -> RequestCounts:
        with self._lock:
            return RequestCounts(dict(self._counts.requests), self._counts.bytes_read)

    def add_listener(self, listener) -> None:
        """`listener(op, nbytes)` is called after every request (e.g. Prometheus); added once."""
        if listener not in self._listeners:
            self._listeners.append(listener)


class LookupCounter:
    """Hits and misses of a cache by kind of entry; listeners export them (e.g. Prometheus)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, bool], int] = {}
        self._listeners: list = []

    def record(self, kind: str, hit: bool) -> None:
        with self._lock:
            self._counts[(kind, hit)] = self._counts.get((kind, hit), 0) + 1
        for listener in self._listeners:
            listener(kind, hit)

    def count(self, kind: str, hit: bool) -> int:
        with self._lock:
            return self._counts.get((kind, hit), 0)

    def add_listener(self, listener) -> None:
        """`listener(kind, hit)` is called after every lookup; added once."""
        if listener not in self._listeners:
            self._listeners.append(listener)


#: Every source-store request in this process is counted here. Counters are process-wide
#: accounting (like Prometheus' registry), not services: they only ever add up.
SOURCE_REQUESTS = RequestCounter()
#: Chunk and shard-index lookups in the cache tier, by kind ("cache/chunk", "cache/shardindex").
CACHE_LOOKUPS = LookupCounter()
