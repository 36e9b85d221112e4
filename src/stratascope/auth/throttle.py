"""Throttling of failed logins and the cross-origin check of login POSTs.

`LoginThrottle` counts failed logins per user name and per client address in a sliding
window; once either has `max_failures` failures in the window, /auth/login answers 429 with
`Retry-After` *without checking the password*, so guessing on after the limit learns
nothing. A successful login clears the user name's count. State is per process and lives in
the services object's `login_throttle` (several replicas each count on
their own: with N replicas an attacker gets at most N x max_failures guesses per window).
Memory is bounded: at most `max_keys` names and addresses are tracked, the oldest dropped.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from urllib.parse import urlsplit


class LoginThrottle:
    def __init__(self, max_failures: int = 5, window_seconds: float = 300.0, *, max_keys: int = 100_000,
                 clock=time.monotonic):
        self.max_failures = max_failures
        self.window = float(window_seconds)
        self.max_keys = max_keys
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings) -> LoginThrottle:
        return cls(settings.login_max_failures, settings.login_failure_window_seconds)

    @staticmethod
    def keys(username: str, address: str | None) -> list[str]:
        return [f"user:{username.strip().lower()}", f"addr:{address or '?'}"]

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def retry_after(self, keys: list[str]) -> int | None:
        """Seconds until another attempt is allowed, or None when it is allowed now."""
        if self.max_failures <= 0:
            return None
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in keys:
                times = self._recent(key, now)
                if times is not None and len(times) >= self.max_failures:
                    wait = max(wait, times[-self.max_failures] + self.window - now)
        return max(1, math.ceil(wait)) if wait > 0 else None

    def failed(self, keys: list[str]) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                times = self._recent(key, now) or deque(maxlen=max(self.max_failures, 1))
                times.append(now)
                self._failures[key] = times
                self._failures.move_to_end(key)
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(self.keys(username, None)[0], None)


def origin_of(value: str | None) -> str | None:
    """scheme://host[:port] of an Origin or Referer header (None if absent or unparsable)."""
    if not value or value == "null":
        return value or None
    try:
        parts = urlsplit(value)
    except ValueError:
        return "null"
    if not parts.scheme or not parts.netloc:
        return "null"
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def cross_origin(headers, own_origin: str, allowed: list[str]) -> str | None:
    """The foreign origin of a request made from another site's page, or None if it is ours
    (or a script: no Origin, no Referer, no Sec-Fetch-Site: browsers send them on POSTs)."""
    origin = origin_of(headers.get("origin")) or origin_of(headers.get("referer"))
    if origin is None:
        site = headers.get("sec-fetch-site")
        return "a cross-site page" if site in ("cross-site", "same-site") else None
    if origin == own_origin.lower() or origin in {a.lower() for a in allowed}:
        return None
    return origin
