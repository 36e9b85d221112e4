"""IIIF Image API 3.0, compliance level 2 (plus mirroring, upscaling, tif/webp, link headers).

Identifiers are image ids, or image names (with or without their file extension), so
`/iiif/3/42/info.json` and `/iiif/3/slide-7/info.json` both work. Pixels come from the
coarsest pyramid level that still has at least the requested resolution, are rendered
with the image's default settings (or `?c=` etc. in the webgateway grammar) and then
resized, mirrored, rotated and converted to the requested quality.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace
from urllib.parse import quote

import numpy as np
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from .. import catalogue
from ..catalogue.principal import Principal
from ..catalogue.records import ImageRecord
from ..render import pipeline
from ..render.encode import encode
from ..services import Services
from .auth import viewer_of
from .deps import services_of
from .errors import ApiError, BadParameter
from .http_cache import cache_headers, make_etag, not_modified, request_key
from .iiif_params import MAX_SIDE, IiifParamError, IiifRequest, Limits, parse_request, resolve_region, resolve_size
from .lookup import load_image

router = APIRouter(prefix="/iiif/3", tags=["iiif"])

CONTEXT = "http://iiif.io/api/image/3/context.json"
PROFILE_URI = "http://iiif.io/api/image/3/level2.json"
MEDIA = {"jpg": "image/jpeg", "png": "image/png", "tif": "image/tiff", "webp": "image/webp"}
EXTRA_FEATURES = [
    "baseUriRedirect", "canonicalLinkHeader", "cors", "jsonldMediaType", "mirroring", "profileLinkHeader",
    "regionByPct", "regionByPx", "regionSquare", "rotationBy90s", "sizeByConfinedWh", "sizeByH", "sizeByPct",
    "sizeByW", "sizeByWh", "sizeUpscaling",
]
WEBP_MAX_SIDE = 16383  # libwebp's limit
RENDER_KEYS = ("c", "m", "maps", "p", "q")  # webgateway rendering parameters accepted as an extension
CORS = {"Access-Control-Allow-Origin": "*"}  # also without an Origin header (IIIF validator, curl)
NAME_TTL_SECONDS = 5.0

# -- identifiers ---------------------------------------------------------------------

def _id_for_name(services: Services, identifier: str, viewer: Principal) -> int:
    # per caller (services.names is keyed by principal): names of hidden images never match
    hit = services.names.peek((identifier, viewer))
    if hit is not None:
        return hit
    rows = catalogue.images_named(services.catalogue, identifier, viewer=viewer)
    exact = [i for i, name in rows if name == identifier]
    # "name.tif" / "name.ome.zarr" also answer to "name"
    stems = [i for i, name in rows if name.startswith(identifier + ".")]
    matches = exact or stems
    if not matches:
        raise catalogue.NotFound(f"no image with id or name {identifier!r}")
    if len(matches) > 1:
        raise ApiError(409, f"{len(matches)} images are named {identifier!r} (ids {', '.join(map(str, matches))}); "
                            "use the numeric image id")
    services.names.put((identifier, viewer), matches[0])
    return matches[0]


async def image_for(services: Services, identifier: str, viewer: Principal) -> ImageRecord:
    """The image whose id, or name (with or without its extension), is `identifier`, if `viewer` may see it."""
    if identifier.isascii() and identifier.isdigit() and len(identifier) <= 18:
        return await load_image(services, int(identifier), viewer)
    if not identifier or len(identifier) > 512:
        raise catalogue.NotFound(f"no image with id or name {identifier[:80]!r}")
    return await load_image(services, await asyncio.to_thread(_id_for_name, services, identifier, viewer), viewer)


def service_id(request: Request, identifier: str) -> str:
    return f"{request.base_url}iiif/3/{quote(identifier, safe='')}"


# -- info.json -----------------------------------------------------------------------

def limits(max_region_pixels: int) -> Limits:
    return Limits(MAX_SIDE, MAX_SIDE, max_region_pixels)


def scale_factors(image: ImageRecord) -> list[int]:
    """Integer downsampling factors of the pyramid levels (levels with other factors are left out)."""
    factors = set()
    for level in image.levels:
        fx, fy = image.size_x / level.shape[4], image.size_y / level.shape[3]
        f = round(fx)
        # level sizes are rounded (floor or ceil) at each halving, so allow that much slack
        if f >= 1 and abs(level.shape[4] - image.size_x / f) <= 1 and abs(level.shape[3] - image.size_y / f) <= 1 \
                and abs(fx - fy) / fx < 0.05:
            factors.add(f)
    return sorted(factors)


def info_document(image: ImageRecord, service: str, lim: Limits) -> dict:
    tile_w, tile_h = pipeline.tile_size(image)  # the same chunk-aligned tiles as the webgateway
    sizes = sorted({(lv.shape[4], lv.shape[3]) for lv in image.levels
                    if lv.shape[4] * lv.shape[3] <= lim.max_area and max(lv.shape[3:]) <= MAX_SIDE})
    return {
        "@context": CONTEXT, "id": service, "type": "ImageService3", "protocol": "http://iiif.io/api/image",
        "profile": "level2", "width": image.size_x, "height": image.size_y,
        "maxWidth": lim.max_width, "maxHeight": lim.max_height, "maxArea": lim.max_area,
        "sizes": [{"width": w, "height": h} for w, h in sizes],
        "tiles": [{"width": tile_w, "height": tile_h, "scaleFactors": scale_factors(image)}],
        "extraQualities": ["color", "gray", "bitonal"],
        "extraFormats": ["tif", "webp"],
        "extraFeatures": EXTRA_FEATURES,
    }


@router.get("/{identifier}", summary="IIIF base URI: redirects to info.json", status_code=303)
async def base_redirect(request: Request, identifier: str):
    return RedirectResponse(service_id(request, identifier) + "/info.json", status_code=303, headers=CORS)


@router.get("/{identifier}/info.json", summary="IIIF Image API 3.0 image information")
async def info_json(request: Request, identifier: str):
    services = services_of(request)
    image = await image_for(services, identifier, viewer_of(request))
    ld = "application/ld+json" in request.headers.get("accept", "")
    media = f'application/ld+json;profile="{CONTEXT}"' if ld else "application/json"
    service = service_id(request, identifier)
    etag = make_etag(image.cache_tag, service, media, services.settings.max_region_pixels)
    headers = {**cache_headers(etag), **CORS, "Vary": "Accept",
               "Link": f'<{PROFILE_URI}>;rel="profile"'}
    if (cached := not_modified(request, etag)) is not None:
        cached.headers.update(headers)
        return cached
    lim = limits(services.settings.max_region_pixels)
    return JSONResponse(info_document(image, service, lim), media_type=media, headers=headers)


# -- image requests ------------------------------------------------------------------

def _is_plain_rgb(image: ImageRecord) -> bool:
    """8-bit red/green/blue samples without explicit windows: an RGB picture, shown as stored."""
    colours = [(ch.color or "").upper() for ch in image.channels]
    return np.dtype(image.dtype) == np.uint8 and colours == ["FF0000", "00FF00", "0000FF"] \
        and all(ch.window_start is None and ch.window_end is None for ch in image.channels)


def render_settings(image: ImageRecord, query) -> pipeline.RenderSettings:
    settings = pipeline.settings_from_query(image, {k: query[k] for k in RENDER_KEYS if k in query})
    if "c" not in query and _is_plain_rgb(image):
        # the data range (gathered at import) would stretch the colours; RGB pictures keep theirs
        settings = replace(settings, channels=tuple(replace(ch, start=0.0, end=255.0) for ch in settings.channels))
    return settings


def _plane(query, name: str, default: int, size: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit() and len(text) <= 9) or int(text) >= size:
        raise BadParameter(f"{name} must be an integer in 0..{size - 1}, got {text!r}")
    return int(text)


def choose_level(image: ImageRecord, box: tuple[int, int, int, int], out_w: int, out_h: int, budget: int) -> int:
    """The smallest level whose copy of `box` still has the output's resolution (< 1 px of slack).

    If reading that copy would exceed `budget` pixels, the finest level within the budget
    is used instead (mild upscaling rather than a refusal); ApiError 413 if none fits.
    """
    x0, y0, x1, y1 = box
    sharp, fitting = [], []
    for i, level in enumerate(image.levels):
        fx, fy = level.shape[4] / image.size_x, level.shape[3] / image.size_y
        w, h = (x1 - x0) * fx, (y1 - y0) * fy
        (lx0, ly0, lx1, ly1), _ = level_box(image, i, box)
        read = (lx1 - lx0) * (ly1 - ly0)
        if w > out_w - 1 and h > out_h - 1:
            sharp.append((read, i))
        if read <= budget:
            fitting.append((-read, i))
    if sharp and min(sharp)[0] <= budget:
        return min(sharp)[1]
    if fitting:
        return min(fitting)[1]
    raise ApiError(413, f"this region needs more than the server limit of {budget} pixels at every resolution "
                        "level of the image; ask for a smaller region")


def level_box(image: ImageRecord, level: int, box) -> tuple[tuple[int, int, int, int], tuple[float, ...]]:
    """The integer box to read at `level` and the exact (fractional) box inside it."""
    shape = image.levels[level].shape
    fx, fy = shape[4] / image.size_x, shape[3] / image.size_y
    fx0, fy0, fx1, fy1 = box[0] * fx, box[1] * fy, box[2] * fx, box[3] * fy
    lx0, ly0 = math.floor(fx0), math.floor(fy0)
    lx1, ly1 = max(lx0 + 1, min(shape[4], math.ceil(fx1))), max(ly0 + 1, min(shape[3], math.ceil(fy1)))
    return (lx0, ly0, lx1, ly1), (fx0 - lx0, fy0 - ly0, fx1 - lx0, fy1 - ly0)


def finish(rgb: np.ndarray, crop: tuple[float, ...], req: IiifRequest, out_w: int, out_h: int,
           jpeg_quality: float) -> bytes:
    """Resize, mirror, rotate, convert the quality and encode (CPU work, run in a thread)."""
    from PIL import Image

    h, w = rgb.shape[:2]
    if (w, h) != (out_w, out_h) or crop != (0, 0, w, h):
        picture = Image.fromarray(rgb).resize((out_w, out_h), Image.Resampling.LANCZOS, box=crop)
        rgb = np.asarray(picture)
    if req.rotation.mirror:
        rgb = rgb[:, ::-1]
    if req.rotation.degrees:
        rgb = np.rot90(rgb, k=-req.rotation.degrees // 90)  # IIIF rotates clockwise
    pixels = rgb
    if req.quality in ("gray", "bitonal"):
        # ITU-R 601-2 luma, as Pillow's convert("L")
        pixels = np.rint(rgb @ np.array([0.299, 0.587, 0.114])).clip(0, 255).astype(np.uint8)
        if req.quality == "bitonal":
            pixels = np.where(pixels >= 128, 255, 0).astype(np.uint8)
    pixels = np.ascontiguousarray(pixels)
    if req.format == "webp":
        import imagecodecs

        if pixels.ndim == 2:
            pixels = np.ascontiguousarray(np.repeat(pixels[:, :, None], 3, axis=2))
        return imagecodecs.webp_encode(pixels, level=round(jpeg_quality * 100))
    return encode(pixels, {"jpg": "jpeg"}.get(req.format, req.format), jpeg_quality)


def canonical_url(service: str, image: ImageRecord, req: IiifRequest, box, out_w: int, out_h: int,
                  lim: Limits) -> str:
    x0, y0, x1, y1 = box
    region = "full" if box == (0, 0, image.size_x, image.size_y) else f"{x0},{y0},{x1 - x0},{y1 - y0}"
    max_w, max_h = resolve_size(replace(req.size, kind="max", upscale=False), x1 - x0, y1 - y0, lim)
    up = "^" if out_w > x1 - x0 or out_h > y1 - y0 else ""
    size = "max" if (out_w, out_h) == (max_w, max_h) else f"{up}{out_w},{out_h}"
    rotation = ("!" if req.rotation.mirror else "") + str(req.rotation.degrees)
    return f"{service}/{region}/{size}/{rotation}/{req.quality}.{req.format}"


@router.get("/{identifier}/{region}/{size}/{rotation}/{quality_format}", summary="IIIF Image API 3.0 image request")
async def image_request(request: Request, identifier: str, region: str, size: str, rotation: str,
                        quality_format: str):
    try:
        req = parse_request(region, size, rotation, quality_format)
    except IiifParamError as exc:
        raise BadParameter(str(exc)) from None
    services = services_of(request)
    lim = limits(services.settings.max_region_pixels)
    image = await image_for(services, identifier, viewer_of(request))
    query = request.query_params
    settings = render_settings(image, query)
    dz, dt = pipeline.default_z_t(image)
    z, t = _plane(query, "z", dz, image.size_z), _plane(query, "t", dt, image.size_t)
    try:
        box = resolve_region(req.region, image.size_x, image.size_y)
        out_w, out_h = resolve_size(req.size, box[2] - box[0], box[3] - box[1], lim)
    except IiifParamError as exc:
        raise BadParameter(str(exc)) from None
    if req.format == "webp" and max(out_w, out_h) > WEBP_MAX_SIDE:
        raise BadParameter(f"webp images are limited to {WEBP_MAX_SIDE} pixels on a side; use jpg, png or tif")

    service = service_id(request, identifier)
    links = f'<{canonical_url(service, image, req, box, out_w, out_h, lim)}>;rel="canonical", <{PROFILE_URI}>;rel="profile"'
    etag = make_etag(image.cache_tag, request_key(request))
    headers = {**cache_headers(etag), **CORS, "Link": links}
    if (cached := not_modified(request, etag)) is not None:
        cached.headers.update(headers)
        return cached

    level = choose_level(image, box, out_w, out_h, lim.max_area)
    (lx0, ly0, lx1, ly1), crop = level_box(image, level, box)
    rgb = await pipeline.render_region(services.reader, image, settings, level=level, z=z, t=t, y=(ly0, ly1), x=(lx0, lx1))
    data = await asyncio.to_thread(finish, rgb, crop, req, out_w, out_h, settings.quality)
    return Response(data, media_type=MEDIA[req.format], headers=headers)
