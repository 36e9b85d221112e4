"""One contract for `storage.SourceReader` over every kind of store (like zarr-python's
StoreTests): a local folder, S3 (moto's server) and plain HTTP (a loopback server with
Range and PROPFIND). Each subclass provides a `backend` fixture; the tests are shared.

Request counting is checked against what the server itself saw, where there is a server.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from stratascope.config import load_settings
from stratascope.pixels.fetch import SourceFetch
from stratascope.storage import ObjectChanged, ObjectNotFound, RangeNotSatisfiable, SourceReader, StoreRegistry
from stratascope.storage.accounting import RequestCounter
from support.proxy import DelayProxy
from support.range_http import RangeHTTPServer

DATA = bytes(range(256)) * 40  # 10240 bytes, every offset distinguishable
SMALL = b"seven b"


@dataclass
class Backend:
    root: str  # URL of the test prefix; objects are root + "/" + key
    put: object  # put(key, bytes): written out of band, never through stratascope
    server_requests: object = None  # () -> requests the server saw, or None (no server)


def run(coro):
    return asyncio.run(coro)


class StoreContract:
    @pytest.fixture
    def counter(self):
        return RequestCounter()

    @pytest.fixture
    def reader(self, counter, backend):
        # after `backend`: the store registry is built from the environment the backend set up
        settings = load_settings()
        return SourceReader(StoreRegistry(settings.stores, allow_http=settings.aws_allow_http), counter)

    @pytest.fixture
    def objects(self, backend):
        backend.put("data.bin", DATA)
        backend.put("nested/deeper/small.bin", SMALL)
        return backend

    def url(self, backend, key: str) -> str:
        return f"{backend.root}/{key}"

    def test_get_reads_the_whole_object_with_its_size(self, objects, reader):
        data, info = run(reader.get_with_info(self.url(objects, "data.bin")))
        assert data == DATA and info.size == len(DATA)
        assert run(reader.get(self.url(objects, "nested/deeper/small.bin"))) == SMALL

    def test_get_range_is_exactly_the_requested_bytes(self, objects, reader):
        url = self.url(objects, "data.bin")
        assert run(reader.get_range(url, 0, 1)) == DATA[:1]
        assert run(reader.get_range(url, 1000, 3000)) == DATA[1000:3000]
        assert run(reader.get_range(url, len(DATA) - 7, len(DATA))) == DATA[-7:]

    def test_get_suffix_is_the_last_bytes(self, objects, reader):
        url = self.url(objects, "data.bin")
        assert run(reader.get_suffix(url, 100)) == DATA[-100:]
        assert run(reader.get_suffix(url, len(DATA))) == DATA

    def test_head_gives_size_without_a_body(self, objects, reader, counter):
        info = run(reader.head(self.url(objects, "data.bin")))
        assert info.size == len(DATA) and info.url == self.url(objects, "data.bin")
        assert counter.snapshot().bytes_read == 0

    def test_list_is_recursive_and_stays_under_the_prefix(self, objects, reader):
        objects.put("data.bin.sibling", b"x")  # shares the name prefix, not the folder
        found = {info.url: info.size for info in run(reader.list(objects.root + "/nested"))}
        assert found == {self.url(objects, "nested/deeper/small.bin"): len(SMALL)}
        everything = {info.url for info in run(reader.list(objects.root))}
        assert everything == {self.url(objects, k) for k in ("data.bin", "data.bin.sibling", "nested/deeper/small.bin")}

    @pytest.mark.parametrize("op", ["get", "get_range", "get_suffix", "head"])
    def test_a_missing_object_is_object_not_found(self, objects, reader, counter, op):
        url = self.url(objects, "no/such/object.bin")
        call = {"get": lambda: reader.get(url), "get_range": lambda: reader.get_range(url, 0, 10),
                "get_suffix": lambda: reader.get_suffix(url, 10), "head": lambda: reader.head(url)}[op]
        with pytest.raises(ObjectNotFound):
            run(call())
        assert counter.snapshot().total == 1  # a failed request is still a request

    def test_a_missing_prefix_lists_nothing(self, objects, reader):
        assert run(reader.list(objects.root + "/no-such-prefix")) == []

    def test_a_range_past_the_end_is_range_not_satisfiable(self, objects, reader):
        url = self.url(objects, "data.bin")
        with pytest.raises(RangeNotSatisfiable):
            run(reader.get_range(url, len(DATA), len(DATA) + 10))
        with pytest.raises(RangeNotSatisfiable):
            run(reader.get_range(url, len(DATA) + 100, len(DATA) + 200))

    def test_a_range_that_runs_past_the_end_is_short(self, objects, reader):
        # stores answer what exists; the pixel layer judges it against the manifest
        assert run(reader.get_range(self.url(objects, "data.bin"), len(DATA) - 5, len(DATA) + 5)) == DATA[-5:]

    @pytest.mark.parametrize("start", [len(DATA) - 5, len(DATA) + 100])
    def test_a_recorded_range_that_no_longer_exists_is_object_changed(self, objects, reader, start):
        fetch = SourceFetch(reader)
        with pytest.raises(ObjectChanged, match="changed or was truncated"):
            run(fetch(self.url(objects, "data.bin"), start, start + 10))

    def test_request_counts_are_exact(self, objects, reader, counter):
        before = objects.server_requests() if objects.server_requests else None
        url = self.url(objects, "data.bin")
        run(reader.get(url))
        run(reader.get_range(url, 10, 20))
        run(reader.get_suffix(url, 30))
        run(reader.head(url))
        run(reader.list(objects.root + "/nested"))
        with pytest.raises(ObjectNotFound):
            run(reader.get_range(self.url(objects, "missing.bin"), 0, 1))
        counts = counter.snapshot()
        assert counts.requests == {"get": 1, "get_range": 3, "head": 1, "list": 1, "put": 0, "delete": 0}
        assert counts.bytes_read == len(DATA) + 10 + 30
        if before is not None:
            assert objects.server_requests() - before == counts.total


class TestLocalFolder(StoreContract):
    @pytest.fixture
    def backend(self, tmp_path):
        root = tmp_path / "store"

        def put(key: str, data: bytes) -> None:
            path = root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

        root.mkdir()
        return Backend(root.as_uri(), put)


class TestS3(StoreContract):
    @pytest.fixture
    def backend(self, s3, bucket, moto_server, monkeypatch):
        # a counting proxy in front of moto: the server side of "request counting is exact"
        with DelayProxy("127.0.0.1", moto_server.port, http=True) as proxy:
            monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
            yield Backend(f"s3://{bucket}/contract",
                          lambda key, data: s3.put_object(Bucket=bucket, Key=f"contract/{key}", Body=data),
                          lambda: proxy.requests)


class TestHTTP(StoreContract):
    @pytest.fixture
    def backend(self, tmp_path, monkeypatch):
        monkeypatch.setenv("AWS_ALLOW_HTTP", "true")  # stores.py passes it on as allow_http
        root = tmp_path / "web"

        def put(key: str, data: bytes) -> None:
            path = root / "contract" / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

        (root / "contract").mkdir(parents=True)
        with RangeHTTPServer(root) as server:
            yield Backend(f"{server.url}/contract", put, lambda: server.requests.total())

