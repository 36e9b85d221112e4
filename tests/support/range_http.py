"""A loopback HTTP server over a folder, with what obstore's HTTPStore needs of a server:
GET / HEAD with single byte ranges (206, 416 past the end), ETag and Last-Modified, and
PROPFIND (WebDAV, Depth: infinity) for listing. python's http.server has none of these.

    with RangeHTTPServer(folder) as server:
        server.url            # "http://127.0.0.1:<port>"
        server.requests       # Counter of methods seen, e.g. {"GET": 2, "HEAD": 1}
        server.forbidden      # keys answered 403 (like a bucket policy)
        server.redirects      # key -> URL answered 302 (a source that redirects elsewhere)
"""

from __future__ import annotations

import collections
import email.utils
import hashlib
import http.server
import re
import threading
from pathlib import Path
from typing import Self
from urllib.parse import quote, unquote, urlsplit
from xml.sax.saxutils import escape

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a real object store
    server: _Server

    def log_message(self, *args) -> None:  # quiet
        pass

    def _file(self) -> tuple[str, Path | None]:
        key = unquote(urlsplit(self.path).path).lstrip("/")
        path = (self.server.root / key).resolve()
        inside = path == self.server.root or self.server.root in path.parents
        return key, path if inside and path.exists() else None

    def _empty(self, status: int, headers: dict | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self._get(body=False)

    def do_GET(self) -> None:  # noqa: N802
        self._get(body=True)

    def _get(self, body: bool) -> None:
        self.server.count(self.command)
        key, path = self._file()
        if key in self.server.forbidden:
            return self._empty(403)
        if key in self.server.redirects:
            return self._empty(302, {"Location": self.server.redirects[key]})
        if path is None or not path.is_file():
            return self._empty(404)
        data = path.read_bytes()
        stat = path.stat()
        headers = {"ETag": f'"{hashlib.md5(data).hexdigest()}"', "Accept-Ranges": "bytes",
                   "Last-Modified": email.utils.formatdate(stat.st_mtime, usegmt=True)}
        status, start, end = 200, 0, len(data)
        wanted = self.headers.get("Range")
        if wanted:
            match = _RANGE.match(wanted.strip())
            if not match or match.groups() == ("", ""):
                return self._empty(400)
            first, last = match.groups()
            if first == "":  # the last N bytes
                start = max(0, len(data) - int(last))
            else:
                start, end = int(first), min(len(data), int(last) + 1 if last else len(data))
            if start >= len(data):
                return self._empty(416, {"Content-Range": f"bytes */{len(data)}"})
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{len(data)}"
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(end - start))
        self.end_headers()
        if body:
            self.wfile.write(data[start:end])

    def do_PROPFIND(self) -> None:  # noqa: N802
        self.server.count(self.command)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _, path = self._file()
        if path is None:
            return self._empty(404)
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        entries = []
        for item in files:
            href = "/" + quote(item.relative_to(self.server.root).as_posix())
            modified = email.utils.formatdate(item.stat().st_mtime, usegmt=True)
            entries.append(
                f"<response><href>{escape(href)}</href><propstat><prop>"
                f"<getlastmodified>{modified}</getlastmodified>"
                f"<getcontentlength>{item.stat().st_size}</getcontentlength>"
                f"<resourcetype/></prop><status>HTTP/1.1 200 OK</status></propstat></response>"
            )
        payload = f'<?xml version="1.0"?><multistatus xmlns="DAV:">{"".join(entries)}</multistatus>'.encode()
        self.send_response(207)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = Path(root).resolve()
        self.requests: collections.Counter[str] = collections.Counter()
        self.forbidden: set[str] = set()
        self.redirects: dict[str, str] = {}
        self._lock = threading.Lock()

    def count(self, method: str) -> None:
        with self._lock:
            self.requests[method] += 1


class RangeHTTPServer:
    """See the module docstring."""

    def __init__(self, root: Path):
        self._server = _Server(root)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), name="RangeHTTPServer",
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def port(self) -> int:
        return self._server.server_port

    @property
    def requests(self) -> collections.Counter[str]:
        return self._server.requests

    @property
    def forbidden(self) -> set[str]:
        return self._server.forbidden

    @property
    def redirects(self) -> dict[str, str]:
        """key -> URL: answered 302 with that Location (as a misbehaving or hostile source)."""
        return self._server.redirects

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
