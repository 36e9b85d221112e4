"""A TCP proxy on 127.0.0.1 that adds network latency and injects S3-style faults.

`DelayProxy(target_host, target_port, delay_ms)` delays every chunk by `delay_ms` in each
direction (so a request/response pays about 2 x delay_ms, like a real RTT) while keeping
byte order and streaming, i.e. latency without a bandwidth cap. It runs its own asyncio
loop in a background thread, so synchronous tests and benchmarks can use it:

    with DelayProxy("127.0.0.1", moto_server.port, delay_ms=20) as proxy:
        boto3_client(proxy.endpoint).get_object(...)

Fault modes (HTTP/1.1 only; each rate is a probability per request, drawn from a seeded RNG):
  fault_rate_503       answer with an S3 `503 SlowDown` error without forwarding
  reset_mid_body_rate  forward, then send half the response body and reset (RST) the connection
  truncate_rate        forward, then send half the response body and close cleanly (FIN)
  stall_seconds        hold each response (with probability `stall_rate`) that long before answering
Rates and delay are plain attributes and may be changed while running. Each connection is
parsed as HTTP when `http=True` or when any fault is set at the moment it is accepted
(rates are then read per request); otherwise it is relayed as raw TCP (any protocol, e.g.
PostgreSQL) and only `delay_ms` applies. Counters: `connections`, `requests` and
`body_bytes` (response bodies forwarded whole, chunk framing included; HTTP mode only),
`faults` (a Counter with keys "503", "reset", "truncate", "stall"); `reset_counters()`.

Used by tests (`from support.proxy import DelayProxy`) and by bench/ (bench/latency_proxy.py).
"""

from __future__ import annotations

import asyncio
import collections
import random
import socket
import struct
import sys
import threading
import time
from typing import Self

_CLOSE = object()  # queue sentinel: close the connection cleanly after the data before it
_RESET = object()  # queue sentinel: reset (RST) the connection after the data before it
_EOF = object()  # queue sentinel: half-close (raw mode)
_CHUNK = 64 * 1024
_MAX_HEAD = 64 * 1024

SLOW_DOWN_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message>"
    b"<RequestId>stratascope-proxy</RequestId></Error>"
)


class _DelayedWriter:
    """Writes to a stream `delay()` seconds after each `send`, in order, with backpressure."""

    def __init__(self, writer: asyncio.StreamWriter, delay):
        self.writer = writer
        self.delay = delay
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=256)
        self.task = asyncio.ensure_future(self._pump())

    async def send(self, item) -> None:
        if self.task.done():
            raise ConnectionError("peer connection is gone")
        await self.queue.put((time.monotonic() + self.delay(), item))

    async def _pump(self) -> None:
        try:
            while True:
                due, item = await self.queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                try:
                    if item is _EOF:
                        if self.writer.can_write_eof():
                            self.writer.write_eof()
                    elif item is _CLOSE:
                        await self._flush()
                        self.writer.close()
                        return
                    elif item is _RESET:
                        await self._flush()
                        await asyncio.sleep(0.05)  # let the partial body reach the peer first
                        _abort_with_rst(self.writer)
                        return
                    else:
                        self.writer.write(item)
                        await self.writer.drain()
                finally:
                    self.queue.task_done()
        except (ConnectionError, OSError):
            self.writer.transport.abort()

    async def _flush(self) -> None:
        await self.writer.drain()
        # drain() only waits for the low-water mark; transports offer no "buffer empty" event.
        while self.writer.transport.get_write_buffer_size() and not self.writer.transport.is_closing():  # noqa: ASYNC110
            await asyncio.sleep(0.002)

    async def finish(self) -> None:
        """Wait until everything queued so far is written (or the connection is gone)."""
        joined = asyncio.ensure_future(self.queue.join())
        await asyncio.wait({joined, self.task}, return_when=asyncio.FIRST_COMPLETED)
        joined.cancel()

    def cancel(self) -> None:
        self.task.cancel()


async def _run_all(*coros) -> None:
    """Run coroutines until all finish; the first failure cancels the rest and is raised."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        for task in asyncio.as_completed(tasks):
            await task
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _abort_with_rst(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


class _Head:
    """A parsed HTTP request or response head (the raw bytes are forwarded unchanged)."""

    def __init__(self, raw: bytes):
        self.raw = raw
        lines = raw.decode("latin-1").split("\r\n")
        self.start = lines[0]
        self.headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                self.headers[name.strip().lower()] = value.strip()

    @property
    def chunked(self) -> bool:
        return "chunked" in self.headers.get("transfer-encoding", "").lower()

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("content-length")
        return int(value) if value is not None and value.isdigit() else None

    @property
    def wants_close(self) -> bool:
        return "close" in self.headers.get("connection", "").lower()


async def _read_head(reader: asyncio.StreamReader) -> _Head | None:
    """The next message head, or None on a clean EOF between messages."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise ConnectionError("connection closed inside an HTTP head") from exc
        return None
    except asyncio.LimitOverrunError as exc:
        raise ConnectionError("HTTP head too large") from exc
    return _Head(raw)


async def _body_pieces(reader: asyncio.StreamReader, head: _Head, has_body: bool):
    """Yield the raw body bytes (framing included) so that they can be forwarded as-is."""
    if not has_body:
        return
    if head.chunked:
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            yield size_line
            if size == 0:  # trailers end with an empty line
                while True:
                    line = await reader.readuntil(b"\r\n")
                    yield line
                    if line == b"\r\n":
                        return
            remaining = size + 2  # data + CRLF
            while remaining:
                piece = await reader.readexactly(min(remaining, _CHUNK))
                remaining -= len(piece)
                yield piece
    elif head.content_length is not None:
        remaining = head.content_length
        while remaining:
            piece = await reader.read(min(remaining, _CHUNK))
            if not piece:
                raise ConnectionError("connection closed inside an HTTP body")
            remaining -= len(piece)
            yield piece
    else:  # delimited by the connection closing
        while piece := await reader.read(_CHUNK):
            yield piece


def _slow_down_response() -> bytes:
    head = (
        "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n"
        f"Content-Length: {len(SLOW_DOWN_BODY)}\r\nx-amz-request-id: stratascope-proxy\r\n\r\n"
    )
    return head.encode() + SLOW_DOWN_BODY


class DelayProxy:
    """See the module docstring. `endpoint` is the proxy's http:// URL once started."""

    def __init__(
        self,
        target_host: str,
        target_port: int,
        delay_ms: float = 0.0,
        *,
        fault_rate_503: float = 0.0,
        reset_mid_body_rate: float = 0.0,
        truncate_rate: float = 0.0,
        stall_seconds: float = 0.0,
        stall_rate: float = 1.0,
        seed: int | None = 0,
        http: bool = False,
        listen_port: int = 0,
    ):
        self.target_host, self.target_port = target_host, target_port
        self.delay_ms = delay_ms
        self.fault_rate_503 = fault_rate_503
        self.reset_mid_body_rate = reset_mid_body_rate
        self.truncate_rate = truncate_rate
        self.stall_seconds = stall_seconds
        self.stall_rate = stall_rate
        self.http = bool(http)
        self.listen_port = listen_port
        self.random = random.Random(seed)
        self.connections = 0
        self.requests = 0
        self.body_bytes = 0
        self.faults: collections.Counter[str] = collections.Counter()
        self.port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[OSError] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._accept, "127.0.0.1", self.listen_port, limit=_MAX_HEAD)
                )
                self.port = self._server.sockets[0].getsockname()[1]
            except OSError as exc:  # e.g. the port is taken: reported to the caller of start()
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name=f"DelayProxy->{self.target_port}", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return

        async def shutdown() -> None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def reset_counters(self) -> None:
        self.connections = self.requests = self.body_bytes = 0
        self.faults.clear()

    # -- connections -----------------------------------------------------------------------

    def _faults_configured(self) -> bool:
        return bool(self.fault_rate_503 or self.reset_mid_body_rate or self.truncate_rate or self.stall_seconds)

    def _delay(self) -> float:
        return max(self.delay_ms, 0.0) / 1000.0

    def _chance(self, rate: float) -> bool:
        return rate > 0 and self.random.random() < rate

    async def _accept(self, client_reader, client_writer) -> None:
        self.connections += 1
        task = asyncio.current_task()
        self._tasks.add(task)
        upstream_writer = None
        outs: list[_DelayedWriter] = []
        clean = False
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                self.target_host, self.target_port, limit=_MAX_HEAD
            )
            to_client = _DelayedWriter(client_writer, self._delay)
            to_upstream = _DelayedWriter(upstream_writer, self._delay)
            outs = [to_client, to_upstream]
            serve = self._serve_http if self.http or self._faults_configured() else self._serve_raw
            await serve(client_reader, upstream_reader, to_client, to_upstream)
            clean = True
        except (ConnectionError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass  # a broken peer ends this connection only
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # noqa: BLE001 - odd traffic must end one connection, never the proxy
            print(f"DelayProxy: connection dropped: {exc!r}", file=sys.stderr)
        finally:
            for out in outs:
                out.cancel()
            for writer in (client_writer, upstream_writer):
                if writer is not None:  # close() flushes what is buffered, abort() drops it
                    writer.close() if clean else writer.transport.abort()
            self._tasks.discard(task)

    async def _serve_raw(self, client_reader, upstream_reader, to_client, to_upstream) -> None:
        async def pump(reader, out: _DelayedWriter) -> None:
            while data := await reader.read(_CHUNK):
                await out.send(data)
            await out.send(_EOF)
            await out.finish()

        await _run_all(pump(client_reader, to_upstream), pump(upstream_reader, to_client))

    async def _serve_http(self, client_reader, upstream_reader, to_client, to_upstream) -> None:
        # Requests are forwarded as they arrive; responses are matched to them in order.
        # An injected 503 takes its place in that order without reaching the upstream.
        pending: asyncio.Queue = asyncio.Queue()
        requests = asyncio.ensure_future(self._requests(client_reader, to_upstream, pending))
        responses = asyncio.ensure_future(self._responses(upstream_reader, to_client, pending))
        try:
            await asyncio.wait({requests, responses}, return_when=asyncio.FIRST_COMPLETED)
            if requests.done():
                requests.result()  # raises if the client side broke
                await responses
        finally:
            for t in (requests, responses):
                t.cancel()
            await asyncio.gather(requests, responses, return_exceptions=True)

    async def _requests(self, client_reader, to_upstream: _DelayedWriter, pending: asyncio.Queue) -> None:
        try:
            while (head := await _read_head(client_reader)) is not None:
                self.requests += 1
                method = head.start.split(" ", 1)[0].upper()
                has_body = head.chunked or bool(head.content_length)
                if self._chance(self.fault_rate_503):
                    self.faults["503"] += 1
                    if "100-continue" in head.headers.get("expect", "").lower() and has_body:
                        await pending.put(("503-close", method))  # answer now; no body will come
                        return
                    async for _ in _body_pieces(client_reader, head, has_body):
                        pass
                    await pending.put(("503", method))
                    continue
                await pending.put(("forward", method))
                await to_upstream.send(head.raw)
                async for piece in _body_pieces(client_reader, head, has_body):
                    await to_upstream.send(piece)
        finally:
            pending.put_nowait(("end", None))

    async def _responses(self, upstream_reader, to_client: _DelayedWriter, pending: asyncio.Queue) -> None:
        while True:
            action, method = await pending.get()
            if action == "end":
                await to_client.send(_CLOSE)
                await to_client.finish()
                return
            if action.startswith("503"):
                await to_client.send(_slow_down_response())
                if action == "503-close":
                    await to_client.send(_CLOSE)
                    await to_client.finish()
                    return
                continue
            head = await _read_head(upstream_reader)
            while head is not None and head.start.split(" ")[1].startswith("1"):  # 100 Continue
                await to_client.send(head.raw)
                head = await _read_head(upstream_reader)
            if head is None:
                raise ConnectionError("upstream closed before responding")
            if not await self._forward_response(head, method, upstream_reader, to_client):
                return

    async def _forward_response(self, head: _Head, method: str, upstream_reader, to_client) -> bool:
        """Forward one response, maybe faulty; False when the connection is finished."""
        status = head.start.split(" ")[1]
        has_body = method != "HEAD" and status not in {"204", "304"} and (
            head.chunked or head.content_length != 0
        )
        if self.stall_seconds > 0 and self._chance(self.stall_rate):
            self.faults["stall"] += 1
            await asyncio.sleep(self.stall_seconds)
        cut = None
        if has_body and self._chance(self.reset_mid_body_rate):
            cut, self.faults["reset"] = _RESET, self.faults["reset"] + 1
        elif has_body and self._chance(self.truncate_rate):
            cut, self.faults["truncate"] = _CLOSE, self.faults["truncate"] + 1
        await to_client.send(head.raw)
        if cut is not None:
            # Half the declared body (at least one byte), or the first piece when unknown.
            budget = max(1, (head.content_length or 2) // 2)
            async for piece in _body_pieces(upstream_reader, head, has_body):
                await to_client.send(piece[:budget])
                budget -= len(piece[:budget])
                if budget <= 0 or head.content_length is None:
                    break
            await to_client.send(cut)
            await to_client.finish()
            return False
        async for piece in _body_pieces(upstream_reader, head, has_body):
            self.body_bytes += len(piece)
            await to_client.send(piece)
        close_delimited = has_body and not head.chunked and head.content_length is None
        if head.wants_close or close_delimited:
            await to_client.send(_CLOSE)
            await to_client.finish()
            return False
        return True
