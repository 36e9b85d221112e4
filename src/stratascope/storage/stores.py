"""Open obstore stores for store roots, with per-store settings and a retry/timeout policy.

S3 settings come from the standard AWS_* environment variables (obstore reads them);
`[stores."s3://bucket"]` tables in stratascope.toml override per bucket.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from obstore.store import AzureStore, GCSStore, HTTPStore, LocalStore, S3Store

from .urls import Location

if TYPE_CHECKING:  # obstore's option types exist only in its stubs
    from obstore.store import ClientConfig, RetryConfig


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded so that a dead store becomes an error in bounded time, never a hang (docs/security.md).

    `timeout` covers a whole request including its body; a retry starts only while less than
    `retry_timeout` has passed since the first attempt, so a store that accepts connections and
    never answers fails after about timeout x 2 = 30 s, a refused connection after ~1.5 s of
    backoff (0.1 + 0.2 + 0.4 + 0.8 s, jittered), and 503 SlowDown / resets / truncated bodies
    are retried 4 times. Larger whole-object reads on slow links: raise `timeout` per store.
    Tests pass a short policy instead of waiting for these.
    """

    timeout: timedelta = timedelta(seconds=15)
    connect_timeout: timedelta = timedelta(seconds=5)
    pool_idle_timeout: timedelta = timedelta(seconds=60)
    max_retries: int = 4
    retry_timeout: timedelta = timedelta(seconds=20)
    init_backoff: timedelta = timedelta(milliseconds=100)
    max_backoff: timedelta = timedelta(seconds=4)

    def client_options(self) -> ClientConfig:
        def text(delta: timedelta) -> str:
            return f"{int(delta.total_seconds() * 1000)}ms"

        return {"timeout": text(self.timeout), "connect_timeout": text(self.connect_timeout),
                "pool_idle_timeout": text(self.pool_idle_timeout)}

    def retry_config(self) -> RetryConfig:
        return {"max_retries": self.max_retries, "retry_timeout": self.retry_timeout,
                "backoff": {"init_backoff": self.init_backoff, "max_backoff": self.max_backoff, "base": 2}}


class StoreRegistry:
    """One obstore store per store root, made on first use (obstore stores are thread-safe)."""

    def __init__(self, overrides: dict[str, dict] | None = None, *, retry: RetryPolicy | None = None,
                 allow_http: bool = False):
        self.overrides = overrides or {}
        self.retry = retry or RetryPolicy()
        self.allow_http = allow_http
        self._lock = threading.Lock()
        self._stores: dict[str, object] = {}

    def open(self, location: Location):
        with self._lock:
            store = self._stores.get(location.root)
            if store is None:
                store = self._make(location)
                self._stores[location.root] = store
            return store

    def clear(self) -> None:
        """Forget opened stores: the next request opens them again (new endpoints, credentials)."""
        with self._lock:
            self._stores.clear()

    def _options(self, root: str) -> tuple[dict[str, Any], ClientConfig]:
        table = dict(self.overrides.get(root, {}))
        client = self.retry.client_options()
        if self.allow_http:
            client["allow_http"] = True
        if "allow_http" in table:
            client["allow_http"] = bool(table.pop("allow_http"))
        # the admin's own `client_options` table: obstore checks its keys when the store is made
        client.update(cast("ClientConfig", table.pop("client_options", {})))
        return table, client

    def _make(self, location: Location):
        if location.scheme == "file":
            return LocalStore("/")
        config, client = self._options(location.root)
        retry = self.retry.retry_config()
        if location.scheme == "s3":
            return S3Store(location.bucket, config=cast(Any, config) or None, client_options=client, retry_config=retry)
        if location.scheme == "gs":
            return GCSStore(location.bucket, config=cast(Any, config) or None, client_options=client, retry_config=retry)
        if location.scheme == "az":
            return AzureStore(location.bucket, config=cast(Any, config) or None, client_options=client, retry_config=retry)
        return HTTPStore.from_url(location.root, client_options=client, retry_config=retry)
