"""What obstore really raises against real stores, and the storage error each becomes.

obstore's exceptions carry only a message, so storage/source.py reads the class and a few
typed fields of object_store's Debug text. These tests pin that reading to real answers from
a local folder, moto's S3 server and a loopback HTTP server (stores made here with no
retries, so that a stalled server fails in half a second).
"""

from __future__ import annotations

import asyncio
import functools
import http.server
import threading
from datetime import timedelta

import obstore
import pytest
from obstore.store import HTTPStore, LocalStore, S3Store

from stratascope.storage import (
    AccessDenied,
    ArchivedObject,
    ObjectNotFound,
    RangeNotSatisfiable,
    SourceReader,
    StoreTimeout,
    StoreUnavailable,
)
from stratascope.storage.accounting import RequestCounter
from stratascope.storage.source import _translate
from support.moto_server import free_port
from support.proxy import DelayProxy
from support.range_http import RangeHTTPServer

NO_RETRY = {"max_retries": 0, "retry_timeout": timedelta(seconds=1),
            "backoff": {"init_backoff": timedelta(milliseconds=10), "max_backoff": timedelta(milliseconds=10), "base": 2}}
FAST = {"timeout": "500ms", "connect_timeout": "500ms", "allow_http": True}


def translated(store, key: str, **options):
    try:
        obstore.get(store, key, options=options or None).bytes()
    except Exception as exc:  # noqa: BLE001 - the point is what it becomes
        return _translate(exc, f"test://{key}")
    raise AssertionError("the read succeeded")


def s3_store(endpoint: str, bucket: str) -> S3Store:
    return S3Store(bucket, endpoint=endpoint, access_key_id="testing", secret_access_key="testing",
                   region="us-east-1", client_options=FAST, retry_config=NO_RETRY)


def test_local_folder(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"x" * 100)
    store = LocalStore(str(tmp_path))
    assert type(translated(store, "missing.bin")) is ObjectNotFound
    assert type(translated(store, "a.bin", range=(100, 110))) is RangeNotSatisfiable


def test_s3(s3, bucket, moto_server):
    s3.put_object(Bucket=bucket, Key="a.bin", Body=b"x" * 100)
    s3.put_object(Bucket=bucket, Key="cold.bin", Body=b"x" * 100, StorageClass="DEEP_ARCHIVE")
    store = s3_store(moto_server.endpoint, bucket)
    assert type(translated(store, "missing.bin")) is ObjectNotFound
    assert type(translated(s3_store(moto_server.endpoint, "no-such-bucket-here"), "a.bin")) is ObjectNotFound
    assert type(translated(store, "a.bin", range=(100, 110))) is RangeNotSatisfiable
    cold = translated(store, "cold.bin", range=(0, 10))  # 403 InvalidObjectState
    assert type(cold) is ArchivedObject and "DEEP_ARCHIVE" in str(cold) and cold.url == "test://cold.bin"
    refused = translated(s3_store(f"http://127.0.0.1:{free_port()}", bucket), "a.bin")
    assert type(refused) is StoreUnavailable
    with DelayProxy("127.0.0.1", moto_server.port, fault_rate_503=1.0) as proxy:
        slow_down = translated(s3_store(proxy.endpoint, bucket), "a.bin")
    assert type(slow_down) is StoreUnavailable and "503" in str(slow_down)
    with DelayProxy("127.0.0.1", moto_server.port, stall_seconds=5) as proxy:
        stalled = translated(s3_store(proxy.endpoint, bucket), "a.bin")
    assert type(stalled) is StoreTimeout and "timed out" in str(stalled)


def test_http(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"x" * 100)
    (tmp_path / "secret.bin").write_bytes(b"x")
    with RangeHTTPServer(tmp_path) as server:
        server.forbidden.add("secret.bin")
        store = HTTPStore.from_url(server.url, client_options=FAST, retry_config=NO_RETRY)
        assert type(translated(store, "missing.bin")) is ObjectNotFound
        assert type(translated(store, "a.bin", range=(100, 110))) is RangeNotSatisfiable
        assert type(translated(store, "secret.bin")) is AccessDenied
        with DelayProxy("127.0.0.1", server.port, stall_seconds=5) as proxy:
            stalled = translated(HTTPStore.from_url(proxy.endpoint, client_options=FAST, retry_config=NO_RETRY),
                                 "a.bin")
        assert type(stalled) is StoreTimeout


def test_a_server_without_range_support_is_unavailable_not_a_short_read(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"x" * 100)
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        store = HTTPStore.from_url(f"http://127.0.0.1:{server.server_port}", client_options=FAST,
                                   retry_config=NO_RETRY)
        assert type(translated(store, "a.bin", range=(0, 10))) is StoreUnavailable  # answered 200, not 206
    finally:
        server.shutdown()
        server.server_close()


def test_pythons_own_timeout_is_a_store_timeout():
    assert type(_translate(TimeoutError("read"), "s3://b/k")) is StoreTimeout


def test_an_archived_object_read_through_the_source_reader(s3, bucket, services):
    s3.put_object(Bucket=bucket, Key="frozen.tif", Body=b"x" * 100, StorageClass="GLACIER")
    counter = RequestCounter()
    with pytest.raises(ArchivedObject, match="GLACIER") as caught:
        asyncio.run(SourceReader(services.stores, counter).get_range(f"s3://{bucket}/frozen.tif", 0, 10))
    assert caught.value.url == f"s3://{bucket}/frozen.tif"
    assert counter.snapshot().requests["get_range"] == 1  # one counted read, failed


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass
