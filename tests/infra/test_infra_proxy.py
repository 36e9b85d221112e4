"""The latency / fault-injection proxy (tests/support/proxy.py) against real servers:
a plain TCP echo server and moto's S3 server, with boto3, obstore and our SourceReader
as clients. Timing is asserted only as lower bounds (a slow machine must not fail them)."""

from __future__ import annotations

import asyncio
import http.client
import http.server
import socket
import socketserver
import threading
import time
from datetime import timedelta

import boto3
import botocore.exceptions
import obstore
import pytest
import urllib3.exceptions
from botocore.config import Config
from obstore.store import S3Store

from support.proxy import DelayProxy

# Sleeps in an event loop may wake up to one clock tick early; allow 5 ms.
TICK = 0.005


class _Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture(scope="module")
def echo_server():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def client_via(proxy: DelayProxy, **config):
    config.setdefault("retries", {"total_max_attempts": 1})
    return boto3.client(
        "s3", endpoint_url=proxy.endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
        region_name="us-east-1", config=Config(**config),
    )


@pytest.fixture
def stored_object(s3, bucket):
    body = bytes(range(256)) * 4096  # 1 MiB, position-dependent so reordering would show
    s3.put_object(Bucket=bucket, Key="data.bin", Body=body)
    return bucket, "data.bin", body


def test_raw_tcp_round_trip_pays_delay_both_ways_and_keeps_order(echo_server):
    with DelayProxy("127.0.0.1", echo_server, delay_ms=100) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
            started = time.monotonic()
            sock.sendall(b"ping")
            assert sock.recv(4) == b"ping"
            assert time.monotonic() - started >= 0.2 - TICK

            payload = b"".join(i.to_bytes(4, "big") for i in range(200_000))  # 800 kB
            sock.sendall(payload)
            received = bytearray()
            while len(received) < len(payload):
                received += sock.recv(65536)
            assert bytes(received) == payload
        assert proxy.connections == 1


def test_boto3_through_delay_proxy(stored_object, moto_server):
    bucket, key, body = stored_object
    with DelayProxy("127.0.0.1", moto_server.port, delay_ms=50) as proxy:
        client = client_via(proxy)
        client.head_object(Bucket=bucket, Key=key)  # opens the connection
        started = time.monotonic()
        got = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert time.monotonic() - started >= 0.1 - TICK
        assert got == body
        part = client.get_object(Bucket=bucket, Key=key, Range="bytes=1000-1999")["Body"].read()
        assert part == body[1000:2000]
        client.put_object(Bucket=bucket, Key="written.bin", Body=b"x" * 300_000)
        assert client.get_object(Bucket=bucket, Key="written.bin")["Body"].read() == b"x" * 300_000
        assert proxy.connections >= 1


def test_http_mode_without_faults_is_transparent_and_counts_requests(stored_object, moto_server):
    bucket, key, body = stored_object
    with DelayProxy("127.0.0.1", moto_server.port, delay_ms=5, http=True) as proxy:
        client = client_via(proxy)
        for _ in range(3):
            assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == body
        client.put_object(Bucket=bucket, Key="up.bin", Body=body)
        assert client.get_object(Bucket=bucket, Key="up.bin")["Body"].read() == body
        assert proxy.requests == 5
        assert proxy.body_bytes >= 4 * len(body)  # 4 GETs (plus small XML bodies)
        assert proxy.connections >= 1  # moto answers "Connection: close"; see the keep-alive test
        assert not proxy.faults


class _KeepAliveHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keeps connections open, like real S3

    def do_GET(self):
        body = self.path.encode() * 1000
        self.send_response(200)
        if self.path.startswith("/chunked"):
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(body), 3000):
                piece = body[start:start + 3000]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def do_PUT(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def keep_alive_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _KeepAliveHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_keep_alive_connection_carries_many_requests_and_injected_503s(keep_alive_server):
    with DelayProxy("127.0.0.1", keep_alive_server, delay_ms=2, http=True, seed=1) as proxy:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        statuses = []
        for i in range(12):
            proxy.fault_rate_503 = 0.5 if i % 3 == 0 else 0.0
            path = f"/chunked/{i}" if i % 2 else f"/plain/{i}"
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            statuses.append(response.status)
            if response.status == 200:
                assert body == path.encode() * 1000
            else:
                assert response.status == 503 and b"<Code>SlowDown</Code>" in body
        conn.request("PUT", "/echo", body=b"z" * 70_000)
        assert conn.getresponse().read() == b"z" * 70_000
        assert proxy.connections == 1
        assert proxy.requests == 13
        assert statuses.count(503) == proxy.faults["503"] >= 1
        conn.close()


def test_503_slow_down_is_answered_without_forwarding(stored_object, moto_server):
    bucket, key, body = stored_object
    with DelayProxy("127.0.0.1", moto_server.port, fault_rate_503=1.0) as proxy:
        client = client_via(proxy)
        with pytest.raises(botocore.exceptions.ClientError) as caught:
            client.get_object(Bucket=bucket, Key=key)
        assert caught.value.response["Error"]["Code"] == "SlowDown"
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        with pytest.raises(botocore.exceptions.ClientError):  # a request with a body too
            client.put_object(Bucket=bucket, Key="never.bin", Body=b"y" * 1000)
        assert proxy.faults["503"] == 2
        with pytest.raises(botocore.exceptions.ClientError, match="404|Not Found|NoSuchKey"):
            moto_client(moto_server).head_object(Bucket=bucket, Key="never.bin")

        proxy.fault_rate_503 = 0.0  # faults can be switched off on a live connection
        assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == body


def test_obstore_retries_through_some_503s(stored_object, moto_server):
    bucket, key, body = stored_object
    with DelayProxy("127.0.0.1", moto_server.port, fault_rate_503=0.5, seed=3) as proxy:
        store = S3Store(
            bucket, endpoint=proxy.endpoint, access_key_id="testing", secret_access_key="testing",
            region="us-east-1", client_options={"allow_http": True},
            retry_config={
                "max_retries": 20, "retry_timeout": timedelta(seconds=30),
                "backoff": {"init_backoff": timedelta(milliseconds=1), "max_backoff": timedelta(milliseconds=20),
                            "base": 2},
            },
        )
        for _ in range(8):
            assert bytes(obstore.get(store, key).bytes()) == body
            assert bytes(obstore.get_range(store, key, start=10, end=20)) == body[10:20]
        assert proxy.faults["503"] >= 1
        assert proxy.requests > 16


def test_reset_mid_body(stored_object, moto_server):
    bucket, key, body = stored_object
    with DelayProxy("127.0.0.1", moto_server.port, reset_mid_body_rate=1.0) as proxy:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        conn.request("GET", presigned_path(proxy, bucket, key))
        response = conn.getresponse()
        assert response.status == 200
        received = bytearray()
        with pytest.raises((ConnectionResetError, http.client.IncompleteRead)):
            while chunk := response.read(65536):
                received += chunk
            raise http.client.IncompleteRead(bytes(received))  # a clean end would be wrong too
        assert len(received) < len(body)

        with pytest.raises((botocore.exceptions.BotoCoreError, urllib3.exceptions.HTTPError, ConnectionError)):
            client_via(proxy).get_object(Bucket=bucket, Key=key)["Body"].read()
        assert proxy.faults["reset"] == 2


def test_truncated_body(stored_object, moto_server):
    bucket, key, body = stored_object
    with DelayProxy("127.0.0.1", moto_server.port, truncate_rate=1.0) as proxy:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        conn.request("GET", presigned_path(proxy, bucket, key))
        with pytest.raises(http.client.IncompleteRead) as caught:
            conn.getresponse().read()
        assert 0 < len(caught.value.partial) < len(body)

        with pytest.raises((botocore.exceptions.BotoCoreError, urllib3.exceptions.HTTPError)):
            client_via(proxy).get_object(Bucket=bucket, Key=key)["Body"].read()
        assert proxy.faults["truncate"] == 2


def test_stall_delays_the_response_and_trips_client_timeouts(stored_object, moto_server):
    bucket, key, body = stored_object
    with DelayProxy("127.0.0.1", moto_server.port, stall_seconds=0.5) as proxy:
        client = client_via(proxy)
        started = time.monotonic()
        assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == body
        assert time.monotonic() - started >= 0.5 - TICK

        proxy.stall_seconds = 2.0
        impatient = client_via(proxy, read_timeout=0.3, connect_timeout=2)
        with pytest.raises(botocore.exceptions.ReadTimeoutError):
            impatient.get_object(Bucket=bucket, Key=key)
        assert proxy.faults["stall"] == 2


def test_source_reader_through_proxy(stored_object, moto_server, monkeypatch, make_services):
    """How fault tests point stratascope's own storage layer at the proxy."""
    bucket, key, body = stored_object
    with DelayProxy("127.0.0.1", moto_server.port, delay_ms=20, http=True) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
        # stores are opened (and kept) per bucket from the environment: services built now use the proxy
        services = make_services()
        started = time.monotonic()
        got = asyncio.run(services.source.get_range(f"s3://{bucket}/{key}", 100, 200))
        assert time.monotonic() - started >= 0.04 - TICK
        assert got == body[100:200]
        assert proxy.requests >= 1


def test_each_client_connection_is_counted_and_stop_is_clean(echo_server):
    proxy = DelayProxy("127.0.0.1", echo_server).start()
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
            sock.sendall(b"x")
            assert sock.recv(1) == b"x"
    open_conn = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
    open_conn.sendall(b"y")
    assert open_conn.recv(1) == b"y"
    proxy.stop()  # must not hang on the open connection
    assert proxy.connections == 4
    assert open_conn.recv(1) == b""  # the proxy closed it
    open_conn.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=1).close()


def moto_client(moto_server):
    from support.moto_server import boto3_client

    return boto3_client(moto_server.endpoint)


def presigned_path(proxy: DelayProxy, bucket: str, key: str) -> str:
    """Path and query of a signed GET through the proxy (moto refuses anonymous reads)."""
    url = client_via(proxy).generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key})
    return url.removeprefix(proxy.endpoint)


def test_faults_switched_on_later_apply_to_new_connections(stored_object, moto_server):
    bucket, key, body = stored_object
    with DelayProxy("127.0.0.1", moto_server.port, delay_ms=1) as proxy:
        client = client_via(proxy)
        assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == body
        proxy.fault_rate_503 = 1.0  # moto closes after each response, so the next request reconnects
        with pytest.raises(botocore.exceptions.ClientError, match="SlowDown"):
            client.get_object(Bucket=bucket, Key=key)
        assert proxy.faults["503"] == 1
