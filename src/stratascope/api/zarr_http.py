"""OME-Zarr over HTTP: every catalogued image as a read-only Zarr store.

- `/zarr/{id}.zarr/...`     OME-Zarr v0.4 (Zarr v2): `.zgroup`, `.zattrs`, `.zmetadata`
  (consolidated), `{level}/.zarray`, `{level}/.zattrs`, chunks `{level}/{t}/{c}/{z}/{y}/{x}`.
- `/zarr/v3/{id}.zarr/...`  OME-Zarr v0.5 (Zarr v3): `zarr.json`, `{level}/zarr.json`,
  chunks `{level}/c/{t}/{c}/{z}/{y}/{x}` (unsharded).

Arrays are always 5-D (t, c, z, y, x), whatever axes the source has, so that every
image looks the same to a client. Level `n` is the catalogue's level n; its scale is
the physical pixel size times the downsampling of that level against level 0.
A key that does not exist (unknown level, chunk outside the grid, an absent chunk)
is a 404, as a Zarr store must answer; a malformed path is a 400.
"""

from __future__ import annotations

import json
import re

from fastapi import APIRouter, Request, Response

from ..catalogue.records import ImageRecord
from ..render import pipeline
from .auth import viewer_of
from .deps import services_of
from .errors import ApiError, BadParameter
from .http_cache import cache_headers, make_etag, not_modified
from .lookup import load_image
from .zarr_encode import ServedLevel, chunk_bytes, fill_value_json, served_level

router = APIRouter(prefix="/zarr", tags=["ome-zarr"])

AXIS_TYPES = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}
_REF = re.compile(r"^([1-9][0-9]{0,17})\.zarr$")
_INDEX = re.compile(r"^(0|[1-9][0-9]{0,17})$")
#: OME-Zarr wants UDUNITS-2 names; importers record what the file said ("µm", "nm", "s").
UNITS = {
    "µm": "micrometer", "μm": "micrometer", "um": "micrometer", "nm": "nanometer", "mm": "millimeter",
    "cm": "centimeter", "m": "meter", "Å": "angstrom", "pm": "picometer", "s": "second",
    "ms": "millisecond", "µs": "microsecond", "μs": "microsecond", "us": "microsecond", "ns": "nanosecond",
    "min": "minute", "h": "hour", "d": "day",
}
VALID_UNITS = {
    "space": {"angstrom", "attometer", "centimeter", "decimeter", "exameter", "femtometer", "foot", "gigameter",
              "hectometer", "inch", "kilometer", "megameter", "meter", "micrometer", "mile", "millimeter",
              "nanometer", "parsec", "petameter", "picometer", "terameter", "yard", "yoctometer", "yottameter",
              "zeptometer", "zettameter"},
    "time": {"attosecond", "centisecond", "day", "decisecond", "exasecond", "femtosecond", "gigasecond",
             "hectosecond", "hour", "kilosecond", "megasecond", "microsecond", "millisecond", "minute",
             "nanosecond", "petasecond", "picosecond", "second", "terasecond", "yoctosecond", "yottasecond",
             "zeptosecond", "zettasecond"},
}


# --- metadata documents ------------------------------------------------------------------

def _axes(image: ImageRecord) -> list[dict]:
    axes = []
    for name, kind in AXIS_TYPES.items():
        axis = {"name": name, "type": kind}
        size = image.physical_sizes.get(name)
        unit = UNITS.get(size[1], size[1]) if size else None
        if unit in VALID_UNITS.get(kind, ()):
            axis["unit"] = unit
        axes.append(axis)
    return axes


def _scale(image: ImageRecord, level: int) -> list[float]:
    base, shape = image.levels[0].shape, image.levels[level].shape
    scale = []
    for i, name in enumerate(AXIS_TYPES):
        size = image.physical_sizes.get(name)
        pixel = float(size[0]) if size and name != "c" else 1.0
        scale.append(pixel * (base[i] / shape[i] if name in "zyx" else 1.0))
    return scale


def _multiscale(image: ImageRecord, version: str | None) -> dict:
    datasets = [{"path": str(i), "coordinateTransformations": [{"type": "scale", "scale": _scale(image, i)}]}
                for i in range(len(image.levels))]
    multiscale = {"name": image.name, "axes": _axes(image), "datasets": datasets}
    return {"version": version, **multiscale} if version else multiscale


def _omero(image: ImageRecord, version: str | None) -> dict:
    settings = pipeline.default_settings(image)
    low, high = pipeline.dtype_range(image)
    channels = []
    for spec, setting in zip(image.channels, settings.channels):
        channels.append({
            "label": spec.label,
            "color": setting.color if re.fullmatch(r"[0-9A-F]{6}", setting.color) else "FFFFFF",
            "window": {"start": setting.start, "end": setting.end,
                       "min": spec.window_min if spec.window_min is not None else min(low, setting.start),
                       "max": spec.window_max if spec.window_max is not None else max(high, setting.end)},
            "active": setting.active, "coefficient": setting.coefficient, "family": setting.family,
            "inverted": setting.inverted,
        })
    default_z, default_t = pipeline.default_z_t(image)
    omero = {"id": image.id, "name": image.name, "channels": channels,
             "rdefs": {"defaultZ": default_z, "defaultT": default_t,
                       "model": "color" if image.size_c > 1 else "greyscale"}}
    return {"version": version, **omero} if version else omero


def _zarray(served: ServedLevel) -> dict:
    return {
        "zarr_format": 2, "shape": list(served.shape), "chunks": list(served.chunks), "dtype": served.dtype.str,
        "compressor": served.codecs["compressor"], "filters": served.codecs["filters"],
        "fill_value": fill_value_json(served.fill_value), "order": "C", "dimension_separator": "/",
    }


def _array_json(served: ServedLevel) -> dict:
    return {
        "zarr_format": 3, "node_type": "array", "shape": list(served.shape), "data_type": served.dtype.name,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(served.chunks)}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": fill_value_json(served.fill_value), "codecs": served.codecs,
        "dimension_names": list(AXIS_TYPES), "attributes": {},
    }


def v2_documents(image: ImageRecord) -> dict[str, dict]:
    """Every metadata document of the v0.4 store, by key (also the consolidated metadata)."""
    docs = {".zgroup": {"zarr_format": 2},
            ".zattrs": {"multiscales": [_multiscale(image, "0.4")], "omero": _omero(image, "0.4")}}
    for level in range(len(image.levels)):
        docs[f"{level}/.zarray"] = _zarray(served_level(image, level, 2))
        docs[f"{level}/.zattrs"] = {"_ARRAY_DIMENSIONS": list(AXIS_TYPES)}  # xarray's convention
    return docs


def v3_group(image: ImageRecord) -> dict:
    ome = {"version": "0.5", "multiscales": [_multiscale(image, None)], "omero": _omero(image, None)}
    # inline consolidated metadata (zarr-python 3): clients need not list the store
    members = {str(level): _array_json(served_level(image, level, 3)) for level in range(len(image.levels))}
    consolidated = {"kind": "inline", "must_understand": False, "metadata": members}
    return {"zarr_format": 3, "node_type": "group", "attributes": {"ome": ome},
            "consolidated_metadata": consolidated}


# --- keys -> responses --------------------------------------------------------------------

def _image_id(ref: str) -> int:
    match = _REF.match(ref)
    if not match:
        raise BadParameter(f"expected /zarr/{{image id}}.zarr/..., got {ref!r}")
    return int(match.group(1))


def _parts(key: str) -> list[str]:
    if not key:  # the store root is a prefix, not a key (listing is not offered)
        raise _missing(key)
    parts = key.split("/")
    if any(p in ("", ".", "..") or "\\" in p for p in parts):
        raise BadParameter(f"malformed key {key!r}")
    return parts


def _missing(key: str) -> ApiError:
    return ApiError(404, f"no such key in this Zarr store: {key!r}")


def _level(image: ImageRecord, part: str, key: str) -> int:
    if not _INDEX.match(part) or int(part) >= len(image.levels):
        raise _missing(key)
    return int(part)


def _chunk_index(served: ServedLevel, parts: list[str], key: str) -> tuple[int, ...]:
    if len(parts) != 5:
        raise _missing(key)
    if not all(_INDEX.match(p) for p in parts):
        raise BadParameter(f"chunk key {key!r} must be five non-negative integers")
    index = tuple(int(p) for p in parts)
    if any(i >= n for i, n in zip(index, served.grid)):
        raise _missing(key)
    return index


def _json(request: Request, image: ImageRecord, doc: dict) -> Response:
    etag = make_etag(image.cache_tag, "zarr", request.url.path)
    if (cached := not_modified(request, etag)) is not None:
        return cached
    return Response(json.dumps(doc, allow_nan=False), media_type="application/json", headers=cache_headers(etag))


async def _chunk(request: Request, image: ImageRecord, served: ServedLevel, parts: list[str], key: str) -> Response:
    index = _chunk_index(served, parts, key)
    etag = make_etag(image.cache_tag, "zarr", request.url.path)
    if (cached := not_modified(request, etag)) is not None:
        return cached
    data = await chunk_bytes(services_of(request).reader, image, served, index)
    if data is None:  # absent in the source: the client uses the fill value
        raise _missing(key)
    return Response(data, media_type="application/octet-stream", headers=cache_headers(etag))


# GET and HEAD as two routes (HEAD out of the schema, it is implied by GET): one route with two
# methods would give both OpenAPI operations the same operationId
@router.head("/v3/{ref}/{key:path}", include_in_schema=False)
@router.get("/v3/{ref}/{key:path}", summary="OME-Zarr v0.5 (Zarr v3) view")
async def zarr_v3(request: Request, ref: str, key: str) -> Response:
    image = await load_image(services_of(request), _image_id(ref), viewer_of(request))
    parts = _parts(key)
    if parts == ["zarr.json"]:
        return _json(request, image, v3_group(image))
    level = _level(image, parts[0], key)
    served = served_level(image, level, 3)
    if parts[1:] == ["zarr.json"]:
        return _json(request, image, _array_json(served))
    if parts[1:2] != ["c"]:
        raise _missing(key)
    return await _chunk(request, image, served, parts[2:], key)


@router.head("/{ref}/{key:path}", include_in_schema=False)
@router.get("/{ref}/{key:path}", summary="OME-Zarr v0.4 (Zarr v2) view")
async def zarr_v2(request: Request, ref: str, key: str) -> Response:
    image = await load_image(services_of(request), _image_id(ref), viewer_of(request))
    parts = _parts(key)
    if parts == [".zmetadata"]:
        return _json(request, image, {"zarr_consolidated_format": 1, "metadata": v2_documents(image)})
    if len(parts) == 1 or parts[1:] in ([".zarray"], [".zattrs"]):
        if len(parts) > 1:
            _level(image, parts[0], key)
        doc = v2_documents(image).get(key)
        if doc is None:
            raise _missing(key)
        return _json(request, image, doc)
    level = _level(image, parts[0], key)
    return await _chunk(request, image, served_level(image, level, 2), parts[1:], key)
