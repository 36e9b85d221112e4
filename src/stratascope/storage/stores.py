"""Open obstore stores for store roots, with settings and retry/timeout policy.

S3 settings come from the standard AWS_* environment variables (obstore reads them);
`[stores."s3://bucket"]` tables in stratascope.toml override per bucket.
"""

from __future__ import annotations

import os
import threading
from datetime import timedelta

from obstore.store import AzureStore, GCSStore, HTTPStore, LocalStore, S3Store

from ..config import get_settings
from .urls import Location

#: Bounded so that a dead store becomes an error in bounded time, never a hang (docs/security.md).
#: `timeout` covers a whole request including its body; a retry starts only while less than
#: `retry_timeout` has passed since the first attempt, so a store that accepts connections and
#: never answers fails after about timeout x 2 = 30 s, a refused connection after ~1.5 s of
#: backoff (0.1 + 0.2 + 0.4 + 0.8 s, jittered), and 503 SlowDown / resets / truncated bodies
#: are retried 4 times. Larger whole-object reads on slow links: raise `timeout` per store.
CLIENT_OPTIONS = {"timeout": "15s", "connect_timeout": "5s", "pool_idle_timeout": "60s"}
RETRY_CONFIG = {
    "max_retries": 4,
    "retry_timeout": timedelta(seconds=20),
    "backoff": {"init_backoff": timedelta(milliseconds=100), "max_backoff": timedelta(seconds=4), "base": 2},
}

_lock = threading.Lock()
_stores: dict[str, object] = {}


def _overrides(root: str) -> tuple[dict, dict]:
    table = dict(get_settings().stores.get(root, {}))
    client = dict(CLIENT_OPTIONS)
    # obstore ignores AWS_ALLOW_HTTP once client options are passed explicitly
    if os.environ.get("AWS_ALLOW_HTTP", "").lower() in {"1", "true", "yes"}:
        client["allow_http"] = True
    if "allow_http" in table:
        client["allow_http"] = bool(table.pop("allow_http"))
    client.update(table.pop("client_options", {}))
    return table, client


def open_store(location: Location):
    """The obstore store for `location.root` (cached; stores are thread-safe)."""
    with _lock:
        store = _stores.get(location.root)
        if store is None:
            store = _make_store(location)
            _stores[location.root] = store
        return store


def forget_stores() -> None:
    """Drop cached stores so that changed settings take effect (tests, reloads)."""
    with _lock:
        _stores.clear()


def _make_store(location: Location):
    config, client = _overrides(location.root)
    if location.scheme == "file":
        return LocalStore("/")
    if location.scheme == "s3":
        return S3Store(location.bucket, config=config or None, client_options=client, retry_config=RETRY_CONFIG)
    if location.scheme == "gs":
        return GCSStore(location.bucket, config=config or None, client_options=client, retry_config=RETRY_CONFIG)
    if location.scheme == "az":
        return AzureStore(location.bucket, config=config or None, client_options=client, retry_config=RETRY_CONFIG)
    return HTTPStore.from_url(location.root, client_options=client, retry_config=RETRY_CONFIG)
