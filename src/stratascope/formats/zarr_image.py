"""One Zarr image group (OME-Zarr multiscales) -> an ImageSpec; the metadata documents it reads.

Shared by ome_zarr.py (images, bioformats2raw series) and ome_zarr_plate.py (field images).
The `LevelSpec.layout` this writes is documented in ome_zarr.py.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import re

from ..storage import Location, ObjectNotFound, SourceReader
from .model import (
    AXES,
    ChannelSpec,
    FormatError,
    ImageLimits,
    ImageSpec,
    LevelSpec,
    SourceObject,
    UnsupportedFormat,
    check_sizes,
)
from .naming import image_name
from .zarr_codecs import ZarrArray, parse_zarr_v2, parse_zarr_v3

MAX_LEVELS = 64  # each level halves (or more): 64 covers any image that can exist
MAX_SHARD_INDEX_BYTES = 64 * 2**20
_COLOR = re.compile(r"^[0-9A-Fa-f]{6}$")


# --- metadata documents -----------------------------------------------------------------


class MetadataReader:
    """The source reader with the limits of one import: metadata documents above
    `max_metadata_bytes` are refused from the GET's headers, before their body is read."""

    def __init__(self, reader: SourceReader, limits: ImageLimits):
        self.reader, self.limits = reader, limits

    def locate(self, url: str) -> Location:
        return self.reader.locate(url)

    async def get_json(self, location: Location):
        return await self.reader.get_with_info(location, max_bytes=self.limits.max_metadata_bytes)


async def _read_json(location: Location, reader: MetadataReader) -> tuple[dict, SourceObject]:
    data, info = await reader.get_json(location)
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FormatError(f"{location.url} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise FormatError(f"{location.url} must hold a JSON object, not {type(doc).__name__}")
    source = SourceObject(location.url, info.size, info.etag, info.version, info.last_modified, info.storage_class)
    return doc, source


async def read_group(location: Location, reader, zarr_format: int | None) -> tuple[dict, int, SourceObject]:
    """(OME attributes, zarr format, source) of a group; probes v3 then v2 if not known."""
    if zarr_format in (None, 3):
        try:
            doc, source = await _read_json(location.child("zarr.json"), reader)
        except ObjectNotFound:
            if zarr_format == 3:
                raise ObjectNotFound(f"no Zarr group at {location.url}: zarr.json does not exist") from None
        else:
            if doc.get("node_type") != "group":
                raise FormatError(f"{location.url} is a Zarr {doc.get('node_type')!r}, not an OME-Zarr image group")
            attributes = doc.get("attributes") or {}
            ome = attributes.get("ome") if isinstance(attributes, dict) else None
            if not isinstance(ome, dict):
                raise FormatError(f"{location.url} is a Zarr v3 group without OME-Zarr metadata (attributes.ome)")
            version = str(ome.get("version", ""))
            if not version.startswith("0.5"):
                raise UnsupportedFormat(f"{location.url}: OME-Zarr version {version!r} is not supported (0.4, 0.5)")
            return ome, 3, source
    try:
        doc, source = await _read_json(location.child(".zattrs"), reader)
    except ObjectNotFound:
        raise ObjectNotFound(f"no OME-Zarr group at {location.url}: neither zarr.json nor .zattrs exists") from None
    return doc, 2, source


async def _read_array(location: Location, zarr_format: int, reader) -> tuple[ZarrArray, dict, SourceObject]:
    name = "zarr.json" if zarr_format == 3 else ".zarray"
    try:
        doc, source = await _read_json(location.child(name), reader)
    except ObjectNotFound:
        raise FormatError(f"multiscales names the array {location.url}, but {name} does not exist there") from None
    array = parse_zarr_v3(doc, location.url) if zarr_format == 3 else parse_zarr_v2(doc, location.url)
    return array, doc, source


# --- one image --------------------------------------------------------------------------

def _parse_axes(axes, ndim: int, what: str) -> str:
    if axes is None and ndim == 5:  # v0.1 / v0.2: always t, c, z, y, x
        return AXES
    if not isinstance(axes, list):
        raise FormatError(f"{what}: multiscales has no axes list")
    names = [a.get("name") if isinstance(a, dict) else a for a in axes]
    if not all(isinstance(n, str) and n in AXES for n in names) or len(set(names)) != len(names):
        raise FormatError(f"{what}: axes {names} are not a subset of t, c, z, y, x")
    if len(names) != ndim:
        raise FormatError(f"{what}: {len(names)} axes {names} but the arrays have {ndim} dimensions")
    return "".join(str(n) for n in names)


def _to_5d(native: tuple[int, ...], axes: str) -> tuple[int, int, int, int, int]:
    out = [1] * 5
    for axis, size in zip(axes, native):
        out[AXES.index(axis)] = size
    t, c, z, y, x = out
    return t, c, z, y, x


def _scales(transforms, ndim: int, what: str) -> list[float] | None:
    if transforms is None:
        return None
    if not isinstance(transforms, list):
        raise FormatError(f"{what}: coordinateTransformations must be a list")
    for transform in transforms:
        if isinstance(transform, dict) and transform.get("type") == "scale" and "scale" in transform:
            scale = transform["scale"]
            if not isinstance(scale, list) or len(scale) != ndim or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in scale
            ):
                raise FormatError(f"{what}: scale {scale!r:.80} must be {ndim} finite numbers")
            return [float(v) for v in scale]
    return None


def _physical_sizes(multiscale: dict, axes: str, what: str) -> dict[str, tuple[float, str]]:
    ndim = len(axes)
    scale = _scales(multiscale["datasets"][0].get("coordinateTransformations"), ndim, what)
    outer = _scales(multiscale.get("coordinateTransformations"), ndim, what)
    if scale is None and outer is None:
        return {}
    combined = [a * b for a, b in zip(scale or [1.0] * ndim, outer or [1.0] * ndim)]
    raw_axes = multiscale.get("axes") or []
    sizes = {}
    for i, axis in enumerate(axes):
        unit = raw_axes[i].get("unit") if i < len(raw_axes) and isinstance(raw_axes[i], dict) else None
        if axis != "c" and isinstance(unit, str) and unit and combined[i] > 0:
            sizes[axis] = (combined[i], unit)
    return sizes


def _number(value) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def _channels(omero, size_c: int) -> list[ChannelSpec]:
    entries = omero.get("channels") if isinstance(omero, dict) else None
    entries = entries if isinstance(entries, list) else []
    channels = []
    for i in range(size_c):
        entry = entries[i] if i < len(entries) and isinstance(entries[i], dict) else None
        if entry is None:
            channels.append(ChannelSpec(label=f"Channel {i}"))
            continue
        window = entry.get("window") if isinstance(entry.get("window"), dict) else {}
        color = entry.get("color")
        label = entry.get("label")
        coefficient = _number(entry.get("coefficient"))
        channels.append(ChannelSpec(
            label=label if isinstance(label, str) and label else f"Channel {i}",
            color=color.upper() if isinstance(color, str) and _COLOR.match(color) else None,
            window_start=_number(window.get("start")), window_end=_number(window.get("end")),
            window_min=_number(window.get("min")), window_max=_number(window.get("max")),
            active=entry.get("active", True) is not False, inverted=entry.get("inverted") is True,
            family=entry.get("family") if isinstance(entry.get("family"), str) else "linear",
            coefficient=coefficient if coefficient is not None else 1.0,
        ))
    return channels


def _level(array: ZarrArray, axes: str, what: str) -> LevelSpec:
    shape, chunks = _to_5d(array.shape, axes), _to_5d(array.read_chunks, axes)
    check_sizes(shape, chunks, array.dtype.itemsize, what)
    shard = array.layout["shard"]
    if shard and shard["index_bytes"] > MAX_SHARD_INDEX_BYTES:
        raise FormatError(f"{what}: a shard index of {shard['index_bytes']} bytes is above the limit")
    layout = {"kind": "zarr", "native_axes": axes, **array.layout}
    return LevelSpec(shape=shape, chunks=chunks, dtype=array.dtype.str, layout=layout, manifest=None)


#: At most this many absent chunk (or shard) object keys are recorded per level; above it
#: nothing is recorded and every absent object stays fill value.
MAX_RECORDED_ABSENT = 4096


def _object_grid(layout: dict) -> list[int]:
    per = layout["shard"]["chunks_per_shard"] if layout["shard"] else [1] * len(layout["native_chunks"])
    return [math.ceil(s / (c * n)) for s, c, n in zip(layout["native_shape"], layout["native_chunks"], per)]


def _object_key(layout: dict, coords: tuple[int, ...]) -> str:
    encoding = layout["key_encoding"]
    if encoding["name"] == "default":
        return encoding["separator"].join(["c", *map(str, coords)])
    return encoding["separator"].join(map(str, coords)) or "0"


def absent_objects(location: Location, layout: dict, objects: frozenset[str] | None) -> list[str] | None:
    """The keys of the level's chunk (or shard) objects absent from `objects` (the listing a
    prefix import made anyway); None when unknown (no listing, or too many absent).

    Zarr writers skip chunks that are all fill value, so an absent object is fill; recording
    which were absent lets the reader tell those from objects that disappear later (a deleted
    object, a store outage), which are an error (410), never a black tile. Import still reads
    no chunk and makes no listing of its own: a direct Zarr URL records nothing."""
    if objects is None:
        return None
    grid = _object_grid(layout)
    if math.prod(grid) > len(objects) + MAX_RECORDED_ABSENT:  # more absent than we would record
        return None
    base = location.url.rstrip("/") + "/"
    absent = []
    for coords in itertools.product(*(range(n) for n in grid)):
        key = _object_key(layout, coords)
        if base + key not in objects:
            absent.append(key)
            if len(absent) > MAX_RECORDED_ABSENT:
                return None
    return absent


async def read_image(location: Location, ome: dict, zarr_format: int, sources: list[SourceObject],
                      reader, series: int, fallback: str | None = None,
                      objects: frozenset[str] | None = None) -> ImageSpec:
    """`fallback`: the name when the metadata's is a placeholder (default: the group's folder name)."""
    what = location.url
    multiscales = ome.get("multiscales")
    if not isinstance(multiscales, list) or not multiscales or not isinstance(multiscales[0], dict):
        raise FormatError(f"{what} is not an OME-Zarr image: no multiscales in its attributes")
    multiscale = multiscales[0]  # the spec: the first one is the default
    datasets = multiscale.get("datasets")
    if not isinstance(datasets, list) or not datasets or not all(
        isinstance(d, dict) and isinstance(d.get("path"), str) and d["path"].strip("/") for d in datasets
    ):
        raise FormatError(f"{what}: multiscales datasets must be a non-empty list of {{'path': ...}}")
    max_levels = min(MAX_LEVELS, reader.limits.max_levels)
    if len(datasets) > max_levels:  # else hostile metadata makes us read (and hold) one array per entry
        raise FormatError(f"{what}: {len(datasets)} resolution levels, above the limit of {max_levels} "
                          "([import] max_levels)")
    arrays = await asyncio.gather(*(_read_array(location.child(d["path"]), zarr_format, reader) for d in datasets))
    ndim = len(arrays[0][0].shape)
    axes = _parse_axes(multiscale.get("axes"), ndim, what)
    levels = []
    for (array, doc, source), dataset in zip(arrays, datasets):
        level_what = f"{what} level {dataset['path']!r}"
        names = doc.get("dimension_names")
        if len(array.shape) != ndim or array.dtype != arrays[0][0].dtype:
            raise FormatError(f"{level_what}: {len(array.shape)}-D {array.dtype} differs from level 0")
        if isinstance(names, list) and all(isinstance(n, str) for n in names) and "".join(names) != axes:
            raise FormatError(f"{level_what}: dimension_names {names} contradict the axes {list(axes)}")
        level = _level(array, axes, level_what)
        absent = absent_objects(location.child(dataset["path"]), level.layout, objects)
        if absent is not None:
            level.layout["absent_objects"] = absent
        levels.append(level)
        sources.append(source)
    base = levels[0].shape
    for level in levels[1:]:
        if level.shape[:2] != base[:2] or any(s > b for s, b in zip(level.shape[2:], base[2:])):
            raise FormatError(f"{what}: level shape {level.shape} is inconsistent with level 0 {base}")
    omero = ome.get("omero")
    name = image_name(((omero or {}).get("name") if isinstance(omero, dict) else None, multiscale.get("name")),
                      fallback or location.name)
    return ImageSpec(
        name=name, format=f"ome-zarr-{'0.5' if zarr_format == 3 else '0.4'}", url=location.url, axes=axes,
        levels=levels, channels=_channels(omero, base[1]), sources=sources,
        physical_sizes=_physical_sizes(multiscale, axes, what), series=series,
    )
