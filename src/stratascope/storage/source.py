"""Read-only, counted access to source objects by URL.

Every request to a source store goes through `SourceReader`, so the request counters
are complete. There is deliberately no write method: the server never writes to a
source store.
"""

from __future__ import annotations

import asyncio
import http.client
import re
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import obstore
from obstore import exceptions as obx

from .accounting import SOURCE_REQUESTS, RequestCounter
from .errors import (
    AccessDenied,
    ObjectNotFound,
    RangeNotSatisfiable,
    RedirectRefused,
    StorageError,
    StoreTimeout,
    StoreUnavailable,
)
from .stores import StoreRegistry
from .urls import Location, parse_url

if TYPE_CHECKING:  # obstore's option types exist only in its stubs
    from obstore.store import GetOptions


@dataclass(frozen=True)
class ObjectInfo:
    url: str
    size: int
    etag: str | None
    version: str | None
    last_modified: datetime | None
    storage_class: str | None = None


# obstore's exceptions carry a message and nothing else (no status or kind attribute; checked
# on obstore 0.12). The class says NotFound / PermissionDenied / Unauthenticated / NotSupported;
# for everything else (a GenericError) the message ends with object_store's Rust Debug form of
# the error, and these read only its typed fields: `Status { status: 416` (an HTTP status),
# `HttpError { kind: Timeout` (reqwest's error kind) and LocalStore's `InvalidRange {` variant.
_DEBUG = "\nDebug source:\n"
_STATUS = re.compile(r"\bStatus \{\s*status: (\d{3}),")
_HTTP_KIND = re.compile(r"\bHttpError \{\s*kind: (\w+),")
_LOCAL_BAD_RANGE = re.compile(r"\bInvalidRange \{")
# S3 answers a GET of a GLACIER / DEEP_ARCHIVE object with 403 and this code in its XML body
_S3_CODE = re.compile(r"<Code>(\w+)</Code>")
_S3_CLASS = re.compile(r"<StorageClass>([A-Z_]+)</StorageClass>")


def _translate(exc: Exception, url: str) -> StorageError:
    """Our error for an exception from obstore (the only place that classifies them)."""
    if isinstance(exc, StorageError):
        return exc
    text = str(exc)
    display, _, debug = text.partition(_DEBUG)
    message = display.splitlines()[0] if display else type(exc).__name__
    if isinstance(exc, (obx.NotFoundError, FileNotFoundError)):  # obstore raises FileNotFoundError
        return ObjectNotFound(f"not found: {url}")
    if isinstance(exc, (obx.PermissionDeniedError, obx.UnauthenticatedError)):
        code = _S3_CODE.search(display)
        if code and code.group(1) == "InvalidObjectState":
            from .archive import archived_error

            found = _S3_CLASS.search(display)
            return archived_error(url, found.group(1) if found else None)
        return AccessDenied(f"cannot read {url}: access denied ({message})")
    status = _STATUS.search(debug)
    if (status and status.group(1) == "416") or _LOCAL_BAD_RANGE.search(debug):
        return RangeNotSatisfiable(f"cannot read {url}: the range starts past the end of the object")
    kind = _HTTP_KIND.search(debug)
    if isinstance(exc, TimeoutError) or (kind and kind.group(1) == "Timeout"):
        return StoreTimeout(f"cannot read {url}: timed out ({message})")
    return StoreUnavailable(f"cannot read {url}: {message}")


def _info(location: Location, meta) -> ObjectInfo:
    return ObjectInfo(
        url=location.root.rstrip("/") + "/" + meta["path"] if location.scheme != "file" else "file:///" + meta["path"],
        size=int(meta["size"]),
        etag=meta.get("e_tag"),
        version=meta.get("version"),
        last_modified=meta.get("last_modified"),
    )


class SourceReader:
    """Counted reads of source objects. Methods are async; the CLI wraps them once."""

    def __init__(self, stores: StoreRegistry, counter: RequestCounter = SOURCE_REQUESTS):
        self.stores = stores
        self.counter = counter

    @staticmethod
    def locate(url: str | Location) -> Location:
        return url if isinstance(url, Location) else parse_url(url)

    async def get(self, url: str | Location, *, version: str | None = None) -> bytes:
        """A whole object: one GET."""
        data, _ = await self.get_with_info(url, version=version)
        return data

    async def get_with_info(self, url: str | Location, *, version: str | None = None,
                            max_bytes: int | None = None) -> tuple[bytes, ObjectInfo]:
        """A whole object and its metadata (size, ETag, version) from one GET; with `max_bytes`,
        a larger object is refused from the response headers, before its body is read."""
        location = self.locate(url)
        options: GetOptions | None = {"version": version} if version else None
        try:
            result = await obstore.get_async(self.stores.open(location), location.key, options=options)
            size = int(result.meta["size"])
            if max_bytes is not None and size > max_bytes:
                self.counter.record("get")
                raise StorageError(f"{location.url} is {size} bytes, above the limit of {max_bytes} "
                                   "for a metadata document ([import] max_metadata_bytes)")
            data = bytes(await result.bytes_async())
        except StorageError:
            raise
        except Exception as exc:  # obstore raises many types; map them to ours
            self.counter.record("get")
            raise _translate(exc, location.url) from exc
        self.counter.record("get", len(data))
        return data, _info(location, result.meta)

    async def stream(self, url: str | Location, *, start: int = 0, end: int | None = None,
                     version: str | None = None, chunk_bytes: int = 1 << 20
                     ) -> tuple[ObjectInfo, AsyncIterator[bytes]]:
        """The metadata of an object (from the GET's answer, before any body byte is read) and
        its bytes [start, end) as chunks of about `chunk_bytes` (bounded memory). One GET,
        counted when the body is done (or abandoned)."""
        location = self.locate(url)
        options: GetOptions = {}
        if not (start == 0 and end is None):
            options["range"] = (start, end) if end is not None else {"offset": start}
        if version:
            options["version"] = version
        try:
            result = await obstore.get_async(self.stores.open(location), location.key, options=options or None)
        except Exception as exc:
            self.counter.record("get")
            raise _translate(exc, location.url) from exc

        async def body() -> AsyncIterator[bytes]:
            sent = 0
            try:
                async for chunk in result.stream(min_chunk_size=chunk_bytes):
                    sent += len(chunk)
                    yield bytes(chunk)
            except Exception as exc:
                raise _translate(exc, location.url) from exc
            finally:
                self.counter.record("get", sent)

        return _info(location, result.meta), body()

    async def get_range(self, url: str | Location, start: int, end: int, *, version: str | None = None) -> bytes:
        """Bytes [start, end) of an object: one ranged GET."""
        location = self.locate(url)
        options: GetOptions = {"range": (start, end)}
        if version:
            options["version"] = version
        return await self._ranged(location, options)

    async def get_suffix(self, url: str | Location, length: int, *, version: str | None = None) -> bytes:
        """The last `length` bytes of an object: one ranged GET, no HEAD needed."""
        location = self.locate(url)
        options: GetOptions = {"range": {"suffix": length}}
        if version:
            options["version"] = version
        return await self._ranged(location, options)

    async def _ranged(self, location: Location, options: GetOptions) -> bytes:
        try:
            result = await obstore.get_async(self.stores.open(location), location.key, options=options)
            data = bytes(await result.bytes_async())
        except Exception as exc:
            self.counter.record("get_range")
            raise _translate(exc, location.url) from exc
        self.counter.record("get_range", len(data))
        return data

    async def head(self, url: str | Location) -> ObjectInfo:
        location = self.locate(url)
        try:
            meta = await obstore.head_async(self.stores.open(location), location.key)
        except Exception as exc:
            self.counter.record("head")
            raise _translate(exc, location.url) from exc
        self.counter.record("head")
        return _info(location, meta)

    async def refuse_redirects(self, url: str | Location) -> None:
        """For an HTTP(S) source, RedirectRefused if it answers a GET with a redirect (3xx).

        obstore (0.12) follows redirects and has no setting to stop it, so an allowed HTTP
        source could make the server fetch any address (SSRF). This asks first, with a client
        that never follows redirects (http.client), for the first byte only; callers do it
        before import and before serving an object's bytes whole (downloads). Other schemes
        need no check (S3/GCS/Azure clients talk to their configured endpoint). Counted as a head."""
        location = self.locate(url)
        if location.scheme not in ("http", "https"):
            return
        timeout = self.stores.retry.timeout.total_seconds()
        try:
            status, target = await asyncio.to_thread(_first_answer, location.url, timeout)
        except OSError as exc:
            self.counter.record("head")
            raise StoreUnavailable(f"cannot read {location.url}: {exc}") from exc
        self.counter.record("head")
        if 300 <= status < 400:
            raise RedirectRefused(f"{location.url} answers with a redirect ({status} to {target or 'nowhere'}): "
                                  "redirects of sources are never followed; import the final URL (if it is "
                                  "allowed) instead")

    async def list(self, url: str | Location, *, limit: int | None = None) -> list[ObjectInfo]:
        """Every object under a prefix (recursive). One `list` count per page."""
        location = self.locate(url)
        prefix = location.key.rstrip("/") + "/" if location.key else None
        objects: list[ObjectInfo] = []
        try:
            stream = obstore.list(self.stores.open(location), prefix, chunk_size=1000)
            async for page in stream:
                self.counter.record("list")
                objects.extend(_info(location, meta) for meta in page)
                if limit is not None and len(objects) >= limit:
                    break
        except Exception as exc:
            raise _translate(exc, location.url) from exc
        return objects


def _first_answer(url: str, timeout: float) -> tuple[int, str | None]:
    """(status, Location header) of a GET of byte 0 of `url`; redirects are not followed."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            host, parts.port, timeout=timeout, context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(host, parts.port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Range": "bytes=0-0", "User-Agent": "stratascope"})
        response = conn.getresponse()
        response.read(1)
        return response.status, response.getheader("Location")
    finally:
        conn.close()
