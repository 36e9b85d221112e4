"""archived_files/download: stream the original source object(s); a zip for several."""

from __future__ import annotations

import io
import zipfile

from fastapi.responses import Response, StreamingResponse

from ..storage import ObjectChanged, SourceReader
from .errors import ApiError

#: Whole-object downloads are streamed from the store; zips are built in memory up to this.
MAX_ZIP_BYTES = 512 * 2**20


async def download_sources(source: SourceReader, image) -> Response:
    if image.format.startswith("ome-zarr"):
        raise ApiError(409, f"image {image.id} is an OME-Zarr store of many objects: read it with an OME-Zarr "
                            f"client at /zarr/{image.id}.zarr/ or directly from {image.url}")
    sources = list(image.sources)
    if not sources:
        raise ApiError(404, f"image {image.id} has no recorded source objects")
    if len(sources) == 1:
        src = sources[0]
        name = src.url.rstrip("/").rsplit("/", 1)[-1]
        data = await _recorded_bytes(source, src)
        return Response(data, media_type="application/octet-stream",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
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
