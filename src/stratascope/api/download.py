"""archived_files/download: stream the original source object(s); a zip for several."""

from __future__ import annotations

import io
import zipfile

from fastapi.responses import Response, StreamingResponse

from ..storage import SourceReader
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
        data = await source.get(src.url, version=src.version)
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
            archive.writestr(f"{root}/{relative}", await source.get(src.url, version=src.version))
    buffer.seek(0)
    return StreamingResponse(buffer, media_type="application/zip",
                             headers={"Content-Disposition": f'attachment; filename="image{image.id}.zip"'})
