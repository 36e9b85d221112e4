"""The web viewer: the browse page at `/`, the image page at `/view/{id}`, their static files,
and a small JSON API (`/viewer-api/`) for what the OMERO-shaped APIs do not say (source
objects, format, pyramid levels, name search, links to the other protocols).

The front end is plain ES modules in `static/`; OpenSeadragon is vendored under
`static/vendor/openseadragon/` (see docs/viewer.md), so nothing is fetched from the internet.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles

from .. import catalogue
from .auth import viewer_of
from .deps import db_of
from .errors import ApiError
from .marshal import physical_size_um, pixels_type

STATIC_DIR = Path(__file__).parent / "static"
SEARCH_LIMIT = 200

router = APIRouter(tags=["viewer"])
_static = StaticFiles(directory=STATIC_DIR, check_dir=False)
# HTML is small and must pick up new releases at once; modules and vendor files revalidate by ETag.
_NO_STORE = {"Cache-Control": "no-cache"}


def _page(name: str) -> FileResponse:
    path = STATIC_DIR / name
    if not path.is_file():
        raise ApiError(500, f"viewer file {name} is missing from the installation")
    return FileResponse(path, media_type="text/html", headers=_NO_STORE)


@router.get("/", include_in_schema=False)
def home() -> FileResponse:
    return _page("index.html")


@router.get("/view/{image_id}", include_in_schema=False)
def view(request: Request, image_id: Annotated[int, PathParam(ge=1, le=2**62)]) -> FileResponse:
    page = _page("viewer.html")
    try:
        catalogue.get_image(db_of(request), image_id, full=False, viewer=viewer_of(request))
    except catalogue.NotFound:  # missing, or hidden from this caller: the page loads and says so, as a 404
        page.status_code = 404
    return page


@router.get("/static/{path:path}", include_in_schema=False)
async def static(path: str, request: Request) -> Response:
    try:
        response = await _static.get_response(path, request.scope)
    except StarletteHTTPException as exc:  # mapped to our JSON error shape
        raise ApiError(exc.status_code, f"no static file {path!r}") from None
    response.headers.setdefault("Cache-Control", "no-cache")
    return response


# -- /viewer-api/ -------------------------------------------------------------------------

def _served(module: str) -> bool:
    """Whether the app factory loaded that protocol's module (app.py includes it when present)."""
    return f"{__package__}.{module}" in sys.modules


def _links(request: Request, image) -> dict:
    base = str(request.base_url).rstrip("/")
    image_id = image.id
    links = {
        "imgData": f"{base}/webgateway/imgData/{image_id}/",
        "thumbnail": f"{base}/webgateway/render_thumbnail/{image_id}/256/",
        "json": f"{base}/api/v0/m/images/{image_id}/",
    }
    if not image.format.startswith("ome-zarr"):  # a Zarr store is many objects: its URL is the download
        links["download"] = f"{base}/webgateway/archived_files/download/{image_id}/"
    if _served("iiif"):
        links["iiif"] = f"{base}/iiif/3/{image_id}/info.json"
    if _served("zarr_http"):
        links["zarr"] = f"{base}/zarr/{image_id}.zarr/"
        links["zarr_v3"] = f"{base}/zarr/v3/{image_id}.zarr/"
    return links


def _summary(image) -> dict:
    return {"id": image.id, "name": image.name, "format": image.format,
            "dataset": {"id": image.dataset_id, "name": image.dataset_name} if image.dataset_id else None,
            "project": {"id": image.project_id, "name": image.project_name} if image.project_id else None}


@router.get("/viewer-api/images/", summary="Search images by name (case-insensitive substring)")
def search_images(request: Request, name: Annotated[str, Query(max_length=200)] = "",
                  limit: Annotated[int, Query(ge=1, le=SEARCH_LIMIT)] = 50,
                  offset: Annotated[int, Query(ge=0, le=2**31)] = 0):
    records, total = catalogue.list_images(db_of(request), name=name.strip() or None, offset=offset, limit=limit, order="name",
                                           viewer=viewer_of(request))
    return {"data": [_summary(r) for r in records], "meta": {"offset": offset, "limit": limit, "totalCount": total}}


@router.get("/viewer-api/images/{image_id}/", summary="Everything the viewer's metadata panel shows")
def image_details(request: Request, image_id: Annotated[int, PathParam(ge=1, le=2**62)]):
    try:
        image = catalogue.get_image(db_of(request), image_id, viewer=viewer_of(request))
    except catalogue.NotFound:
        raise ApiError(404, f"image {image_id} not found") from None
    physical = {}
    for axis in "xyzt":
        value = image.physical_sizes.get(axis)
        if value:
            physical[axis] = {"value": value[0], "unit": value[1],
                              "micrometers": physical_size_um(image, axis) if axis != "t" else None}
    return {
        **_summary(image),
        "description": image.description,
        "url": image.url,
        "series": image.series,
        "status": image.status,
        "dtype": pixels_type(image.dtype),
        "axes": image.axes,
        "size": dict(zip("tczyx", image.shape)),
        "physicalSizes": physical,
        "channels": [{"label": ch.label, "color": ch.color, "emissionWave": ch.emission_wave}
                     for ch in image.channels],
        "levels": [{"shape": list(level.shape), "chunks": list(level.chunks), "dtype": pixels_type(level.dtype)}
                   for level in image.levels],
        "sources": [{"url": s.url, "size": s.size, "etag": s.etag, "version": s.version,
                     "lastModified": s.last_modified.isoformat() if s.last_modified else None,
                     "storageClass": s.storage_class} for s in image.sources],
        "importedAt": image.imported_at.isoformat(),
        "links": _links(request, image),
    }
