"""OMERO.web's webgateway URLs: same paths, parameters and JSON shapes as omero-web 5.x.

Paths end in `/`; z and t are 0-based; channel indices in `c=` are 1-based.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from ..catalogue.plates import image_placement
from ..render import pipeline
from ..render.encode import encode
from ..render.histogram import histogram
from ..render.pipeline import MAX_TILE, tile_size
from ..render.thumbnails import THUMBNAIL_BATCH_LIMIT, thumbnail_jpeg
from .auth import viewer_of
from .deps import services_of
from .download import download_sources
from .errors import ApiError, BadParameter
from .http_cache import cache_headers, make_etag, not_modified, request_key
from .lookup import load_image
from .marshal import image_marshal

router = APIRouter(prefix="/webgateway", tags=["webgateway"])
ImageId = Annotated[int, Path(ge=1, le=2**62)]
Plane = Annotated[int, Path(ge=0, le=2**31)]
Size = Annotated[int, Path(ge=1, le=1024)]
MEDIA = {"jpeg": "image/jpeg", "png": "image/png", "tif": "image/tiff"}


def _ints(text: str, what: str, count: tuple[int, ...]) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise BadParameter(f"{what} must be comma-separated integers, got {text!r}") from None
    if len(values) not in count:
        raise BadParameter(f"{what} needs {' or '.join(map(str, count))} values, got {len(values)}")
    return values


def _check_plane(image, z: int, t: int) -> None:
    if not 0 <= z < image.size_z:
        raise BadParameter(f"z={z} is outside 0..{image.size_z - 1}")
    if not 0 <= t < image.size_t:
        raise BadParameter(f"t={t} is outside 0..{image.size_t - 1}")


def _image_response(request: Request, rgb, settings, etag: str) -> Response:
    fmt = request.query_params.get("format", "jpeg").lower()
    fmt = {"jpg": "jpeg", "tiff": "tif"}.get(fmt, fmt)
    if fmt not in MEDIA:
        raise BadParameter(f"format must be jpeg, png or tif, got {fmt!r}")
    return Response(encode(rgb, fmt, settings.quality), media_type=MEDIA[fmt], headers=cache_headers(etag))


@router.get("/imgData/{image_id}/", summary="Image metadata (omero-web imageMarshal)")
@router.get("/imgData/{image_id}/{key}/", summary="One dotted key of imgData")
async def img_data(request: Request, image_id: ImageId, key: str | None = None):
    services = services_of(request)
    image = await load_image(services, image_id, viewer_of(request))
    data = image_marshal(image, await asyncio.to_thread(image_placement, services.catalogue, image_id))
    if key is not None:
        for part in key.split("."):
            data = data.get(part, {}) if isinstance(data, dict) else {}
        data = None if data == {} else data
    return JSONResponse(data)


@router.get("/render_image_region/{image_id}/{z}/{t}/", summary="Render a tile or region as JPEG")
async def render_image_region(request: Request, image_id: ImageId, z: Plane, t: Plane,
                              tile: str | None = None, region: str | None = None):
    image = await load_image(services_of(request), image_id, viewer_of(request))
    settings = pipeline.settings_from_query(image, request.query_params)
    etag = make_etag(image.cache_tag, request_key(request))
    if (cached := not_modified(request, etag)) is not None:
        return cached
    zz, tt = (t, z) if settings.invert_axis else (z, t)
    _check_plane(image, zz, tt)
    if tile:
        values = _ints(tile, "tile", (3, 5))
        level, col, row = values[:3]
        w, h = (values[3], values[4]) if len(values) == 5 else tile_size(image)
        if not 0 <= level < len(image.levels):
            raise BadParameter(f"tile level {level} is outside 0..{len(image.levels) - 1}")
        w, h = min(w, MAX_TILE), min(h, MAX_TILE)
        if w < 1 or h < 1 or col < 0 or row < 0:
            raise BadParameter("tile column, row, width and height must be positive")
        shape = image.levels[level].shape
        x0, y0 = col * w, row * h
        if x0 >= shape[4] or y0 >= shape[3]:
            raise BadParameter(f"tile {col},{row} is outside level {level} ({shape[4]}x{shape[3]})")
        x1, y1 = min(x0 + w, shape[4]), min(y0 + h, shape[3])
    elif region:
        x0, y0, w, h = _ints(region, "region", (4,))
        level = 0
        if w < 1 or h < 1 or x0 < 0 or y0 < 0 or x0 >= image.size_x or y0 >= image.size_y:
            raise BadParameter(f"region {region} is outside the image ({image.size_x}x{image.size_y})")
        x1, y1 = min(x0 + w, image.size_x), min(y0 + h, image.size_y)
        limit = services_of(request).settings.max_region_pixels
        if (x1 - x0) * (y1 - y0) > limit:
            raise ApiError(413, f"region of {(x1 - x0) * (y1 - y0)} pixels is above the limit of {limit}")
    else:
        raise BadParameter("either tile=L,COL,ROW[,W,H] or region=X,Y,W,H is required")
    reader = services_of(request).reader
    rgb = await pipeline.render_region(reader, image, settings, level=level, z=z, t=t, y=(y0, y1), x=(x0, x1))
    return _image_response(request, rgb, settings, etag)


@router.get("/render_image/{image_id}/", summary="Render the whole plane (default z/t)")
@router.get("/render_image/{image_id}/{z}/", summary="Render the whole plane at z")
@router.get("/render_image/{image_id}/{z}/{t}/", summary="Render the whole plane at z, t")
async def render_image(request: Request, image_id: ImageId, z: Plane | None = None, t: Plane | None = None):
    image = await load_image(services_of(request), image_id, viewer_of(request))
    settings = pipeline.settings_from_query(image, request.query_params)
    dz, dt = pipeline.default_z_t(image)
    z = dz if z is None else z
    t = dt if t is None else t
    etag = make_etag(image.cache_tag, request_key(request), z, t)
    if (cached := not_modified(request, etag)) is not None:
        return cached
    _check_plane(image, *((t, z) if settings.invert_axis else (z, t)))
    rgb, _ = await pipeline.render_plane(services_of(request).reader, image, settings, z=z, t=t)
    return _image_response(request, rgb, settings, etag)


async def _thumbnail(request: Request, image_id: int, w: int | None, h: int | None) -> Response:
    image = await load_image(services_of(request), image_id, viewer_of(request))
    etag = make_etag(image.cache_tag, request_key(request), "thumb")
    if (cached := not_modified(request, etag)) is not None:
        return cached
    services = services_of(request)
    data = await thumbnail_jpeg(services.reader, services.cache, image, w, h, request.query_params)
    return Response(data, media_type="image/jpeg", headers=cache_headers(etag))


@router.get("/render_thumbnail/{image_id}/", summary="Thumbnail (96 px longest side)")
@router.get("/render_thumbnail/{image_id}/{w}/", summary="Thumbnail, longest side w")
@router.get("/render_thumbnail/{image_id}/{w}/{h}/", summary="Thumbnail fitted in w x h")
async def render_thumbnail(request: Request, image_id: ImageId, w: Size | None = None, h: Size | None = None):
    return await _thumbnail(request, image_id, w, h)


@router.get("/render_birds_eye_view/{image_id}/", summary="Bird's eye view (a thumbnail, as omero-web)")
@router.get("/render_birds_eye_view/{image_id}/{size}/", summary="Bird's eye view of a given size")
async def render_birds_eye_view(request: Request, image_id: ImageId, size: Size | None = None):
    return await _thumbnail(request, image_id, size, None)


def _data_uri(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()


@router.get("/get_thumbnail/{image_id}/", summary="Thumbnail as a JSON data URI")
@router.get("/get_thumbnail/{image_id}/{w}/", summary="Thumbnail of size w as a JSON data URI")
async def get_thumbnail(request: Request, image_id: ImageId, w: Size | None = None):
    services = services_of(request)
    image = await load_image(services, image_id, viewer_of(request))
    jpeg = await thumbnail_jpeg(services.reader, services.cache, image, w, None, request.query_params)
    return JSONResponse(_data_uri(jpeg))


@router.get("/get_thumbnails/", summary=f"Several thumbnails as data URIs (at most {THUMBNAIL_BATCH_LIMIT} ids)")
@router.get("/get_thumbnails/{w}/", summary="Several thumbnails of size w")
async def get_thumbnails(request: Request, w: Size | None = None,
                         id: Annotated[list[str], Query(description="Image ids")] = ()):  # noqa: A002
    ids = list(id)
    if len(ids) > THUMBNAIL_BATCH_LIMIT:
        raise BadParameter(f"at most {THUMBNAIL_BATCH_LIMIT} ids per request, got {len(ids)}")
    result: dict[str, str | None] = {}
    services = services_of(request)
    for raw in ids:
        try:
            image = await load_image(services, int(raw), viewer_of(request))
            result[raw] = _data_uri(await thumbnail_jpeg(services.reader, services.cache, image, w, None, {}))
        except Exception:  # omero-web answers null for an id it cannot render
            result[raw] = None
    return JSONResponse(result)


@router.get("/render_split_channel/{image_id}/{z}/{t}/", summary="Channels side by side, plus the merge")
async def render_split_channel(request: Request, image_id: ImageId, z: Plane, t: Plane):
    image = await load_image(services_of(request), image_id, viewer_of(request))
    settings = pipeline.settings_from_query(image, request.query_params)
    etag = make_etag(image.cache_tag, request_key(request))
    if (cached := not_modified(request, etag)) is not None:
        return cached
    _check_plane(image, *((t, z) if settings.invert_axis else (z, t)))
    rgb = await pipeline.render_split(services_of(request).reader, image, settings, z=z, t=t)
    return _image_response(request, rgb, settings, etag)


@router.get("/histogram_json/{image_id}/channel/{c}/", summary="Histogram of one channel's plane")
async def histogram_json(request: Request, image_id: ImageId, c: Annotated[int, Path(ge=0, le=2**31)],
                         theZ: Annotated[int, Query(ge=0)] = 0, theT: Annotated[int, Query(ge=0)] = 0,  # noqa: N803
                         bins: Annotated[int, Query(ge=1, le=65536)] = 256):

    image = await load_image(services_of(request), image_id, viewer_of(request))
    _check_plane(image, theZ, theT)
    if not 0 <= c < image.size_c:
        raise BadParameter(f"channel {c} is outside 0..{image.size_c - 1}")
    level = pipeline.level_within(image, pipeline.MAX_PLANE_PIXELS)
    plane = await services_of(request).reader.read_region(image, level, t=theT, z=theZ, c=c)
    ch = image.channels[c]
    lo, hi = pipeline.dtype_range(image)
    lo = ch.window_min if ch.window_min is not None else lo
    hi = ch.window_max if ch.window_max is not None else hi
    return JSONResponse({"data": histogram(plane, bins, (lo, hi))})


@router.get("/archived_files/download/{image_id}/", summary="Download the original source object(s)")
async def archived_files_download(request: Request, image_id: ImageId):
    image = await load_image(services_of(request), image_id, viewer_of(request))
    return await download_sources(services_of(request).source, image, request.headers.get("range"))

