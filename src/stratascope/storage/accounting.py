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
        """`listener(op, nbytes)` is called after every request (e.g. Prometheus)."""
        self._listeners.append(listener)


#: Every source-store request in this process is counted here.
SOURCE_REQUESTS = RequestCounter()
