"""archived_files/download: stream the original source object(s); a zip for several."""

from __future__ import annotations

import io
import re
import zipfile

from fastapi.responses import Response, StreamingResponse

from ..storage import ObjectChanged, SourceReader
from .errors import ApiError

#: Whole-object downloads are streamed from the store; zips are built in memory up to this.
MAX_ZIP_BYTES = 512 * 2**20
#: Bytes held per step of a streamed download (one chunk of the store's body at a time).
STREAM_CHUNK_BYTES = 1 << 20

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """[start, end) of a single `Range: bytes=` request, None for the whole object (a header
    we do not understand is ignored, as RFC 9110 allows); ApiError 416 outside the object."""
    match = _RANGE.match(header.strip()) if header else None
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":  # the last N bytes
        start, end = max(0, size - int(last)), size
    else:
        start, end = int(first), min(size, int(last) + 1) if last else size
    if start >= size or start >= end:
        raise ApiError(416, f"range {header!r} is outside the object ({size} bytes)",
                       headers={"Content-Range": f"bytes */{size}"})
    return start, end


async def download_sources(source: SourceReader, image, range_header: str | None = None) -> Response:
    if image.format.startswith("ome-zarr"):
        raise ApiError(409, f"image {image.id} is an OME-Zarr store of many objects: read it with an OME-Zarr "
                            f"client at /zarr/{image.id}.zarr/ or directly from {image.url}")
    sources = list(image.sources)
    if not sources:
        raise ApiError(404, f"image {image.id} has no recorded source objects")
    if len(sources) == 1:
        src = sources[0]
        name = src.url.rstrip("/").rsplit("/", 1)[-1]
        return await _stream_recorded(source, src, name, range_header)
    total = sum(s.size for s in sources)
    if total > MAX_ZIP_BYTES:
        raise ApiError(413, f"the source objects add up to {total} bytes, above the download limit of {MAX_ZIP_BYTES}")
    buffer = io.BytesIO()
    prefix = image.url.rstrip("/")
    root = prefix.rsplit("/", 1)[-1]
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for src in sources:
            relative = src.url[len(prefix) + 1:] if src.url.startswith(prefix + "/") else src.url.rsplit("/", 1)[-1]
            archive.writestr(f"{root}/{relative}", await _recorded_bytes(source, src))
    buffer.seek(0)
    return StreamingResponse(buffer, media_type="application/zip",
                             headers={"Content-Disposition": f'attachment; filename="image{image.id}.zip"'})


async def _recorded_bytes(source: SourceReader, src) -> bytes:
    """The bytes of a recorded source object, only if they are still what import recorded.

    An HTTP(S) source that now redirects is refused before anything is fetched (obstore would
    follow the redirect anywhere: issue 14 #1), and a body whose size or ETag differs from the
    catalogue's record is never returned (ObjectChanged, 409)."""
    await source.refuse_redirects(src.url)
    data, info = await source.get_with_info(src.url, version=src.version)
    if len(data) != src.size or (src.etag and info.etag and info.etag != src.etag):
        raise ObjectChanged(f"{src.url} changed since import (recorded {src.size} bytes, ETag {src.etag}; now "
                            f"{len(data)} bytes, ETag {info.etag}): run `stratascope import` again")
    return data


async def _stream_recorded(source: SourceReader, src, name: str, range_header: str | None) -> Response:
    """One source object streamed in STREAM_CHUNK_BYTES steps, whole (200) or one byte range
    (206 with Content-Range; 416 outside). Its size and ETag from the GET's answer are checked
    against the catalogue record before the first byte is sent: a changed object is a 409,
    never different bytes. An HTTP(S) source that redirects is refused first (issue 14 #1)."""
    wanted = _byte_range(range_header, src.size)
    await source.refuse_redirects(src.url)
    start, end = wanted or (0, src.size)
    info, chunks = await source.stream(src.url, start=start, end=end, version=src.version,
                                       chunk_bytes=STREAM_CHUNK_BYTES)
    if info.size != src.size or (src.etag and info.etag and info.etag != src.etag):
        await chunks.aclose()
        raise ObjectChanged(f"{src.url} changed since import (recorded {src.size} bytes, ETag {src.etag}; now "
                            f"{info.size} bytes, ETag {info.etag}): run `stratascope import` again")
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Accept-Ranges": "bytes",
               "Content-Length": str(end - start)}
    if src.etag:
        headers["ETag"] = src.etag if src.etag.startswith(('"', 'W/')) else f'"{src.etag}"'
    if wanted:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{src.size}"
    return StreamingResponse(chunks, status_code=206 if wanted else 200, media_type="application/octet-stream",
                             headers=headers)
