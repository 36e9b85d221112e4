"""OME-Zarr import: read the metadata documents (never a chunk, never a listing).

Supported: OME-Zarr v0.4 and older (Zarr v2: `.zattrs` + per-array `.zarray`), v0.5
(Zarr v3: `zarr.json` with `attributes.ome`), sharded or not, and the bioformats2raw
layout (one image per series). HCS plates give a `PlateSpec` (see ome_zarr_plate.py).

Cost: one GET per metadata document: the root group (after one failed probe for
`zarr.json` on v2 data), and one per resolution level, plus the series list for
bioformats2raw. It never depends on how many chunks exist.

Choices:
- Any subset / order of the axes t, c, z, y, x is mapped onto the logical (t, c, z, y, x);
  a missing axis has size 1 and chunk 1.
- Physical sizes: level 0's `scale` times the multiscale-wide `scale`, for axes t/z/y/x
  that declare a `unit`. An axis without a unit gets no physical size (the value could
  be anything, so we do not guess "micrometer").
- Channels from the `omero` block where present, otherwise "Channel 0", ... without a window.
- `format` is "ome-zarr-0.4" for every Zarr v2 image (v0.1-v0.3 are read with the
  same rules) and "ome-zarr-0.5" for Zarr v3.

Each `LevelSpec.layout` (JSON-able, read by `pixels/zarr_chunks.py`):

    kind          "zarr"
    url           the array's URL (chunk keys are appended to it)
    zarr_format   2 | 3
    native_axes   the array's own axis order, e.g. "czyx"
    native_shape  the array shape, native order
    native_chunks the unit of reading, native order (the INNER chunk when sharded)
    key_encoding  {"name": "default" | "v2", "separator": "/" | "."}
                  (v2 arrays: "v2" with their dimension_separator)
    codecs        v2: {"compressor": {...} | null, "filters": [...] | null, "order": "C" | "F"}
                  v3: the codec list of one (inner) chunk, as in zarr.json
    dtype         the data type as the metadata states it (v2 "<u2", v3 "uint16")
    fill_value    as in the metadata (number, "NaN", "Infinity", "0x7fc00000", null = 0)
    shard         null | {"shape": [...], "chunks_per_shard": [...], "index_codecs": [...],
                          "index_location": "end" | "start", "index_bytes": n}
    absent_objects  (optional) keys of the chunk (shard) objects absent at import, below `url`;
                  recorded only when a prefix import's listing covered the array (no extra
                  request) and at most 4096 were absent. With it, an object missing at read
                  time that is not listed here is an error (410), not fill value; without it
                  (direct Zarr URL imports, older records) every absent object is fill value.
"""

from __future__ import annotations

import asyncio

from ..storage import Location, ObjectNotFound, SourceReader
from .model import FormatError, ImageLimits, ImageSpec, PlateSpec, SourceObject, UnsupportedFormat
from .ome_zarr_plate import read_plate
from .zarr_image import MetadataReader, read_group, read_image

MAX_SERIES = 10_000

#: what hostile metadata of a shape no explicit check anticipated raises (found by fuzzing,
#: tests/hostile/): reported as FormatError so import says "failed" with a clear reason
_MALFORMED = (TypeError, AttributeError, KeyError, IndexError, ValueError, OverflowError, RecursionError)

async def read_ome_zarr(url: str, reader: SourceReader, limits: ImageLimits | None = None,
                        objects: frozenset[str] | None = None) -> list[ImageSpec] | PlateSpec:
    """Every image of the OME-Zarr group at `url` (one, or one per bioformats2raw series),
    or, for an HCS plate, the plate with its field images (formats/ome_zarr_plate.py).

    `objects`: the URLs of every object under `url` when a prefix import listed them anyway;
    then each level records which chunk objects were absent (`absent_objects`, no extra request)."""
    try:
        return await _read_ome_zarr(url, MetadataReader(reader, limits or ImageLimits()), objects)
    except _MALFORMED as exc:
        raise FormatError(f"{url}: malformed OME-Zarr metadata ({type(exc).__name__}: {str(exc)[:200]})") from exc


async def _read_ome_zarr(url: str, reader, objects: frozenset[str] | None = None) -> list[ImageSpec] | PlateSpec:
    root = reader.locate(url)
    ome, zarr_format, source = await read_group(root, reader, None)
    if "plate" in ome:
        return await read_plate(root, ome, zarr_format, source, reader, objects)
    if "well" in ome:
        raise UnsupportedFormat(f"{root.url} is one well of an OME-Zarr HCS plate: import the plate that contains it")
    if "multiscales" in ome or "bioformats2raw.layout" not in ome:
        return [await read_image(root, ome, zarr_format, [source], reader, series=0, objects=objects)]
    groups, listing = await _series_groups(root, zarr_format, reader)
    images = []
    for index, (location, series_ome, series_source) in enumerate(groups):
        sources = [source, *listing, series_source]
        # bioformats2raw series folders are "0", "1", ...: name placeholders after the root folder
        fallback = root.name if len(groups) == 1 else f"{root.name} [{location.name}]"
        images.append(await read_image(location, series_ome, zarr_format, sources, reader, index, fallback,
                                       objects=objects))
    return images


# --- bioformats2raw series -------------------------------------------------------------

async def _series_groups(root: Location, zarr_format: int, reader):
    """bioformats2raw: OME/ lists the series; without it they are "0", "1", ... until one is missing.

    Returns ([(location, ome attributes, source)], [the OME group's source, if read])."""
    listing: list[SourceObject] = []
    try:
        ome, _, listing_source = await read_group(root.child("OME"), reader, zarr_format)
        listed = ome.get("series")
        listing.append(listing_source)
    except (ObjectNotFound, FormatError):
        listed = None  # the OME group is optional
    if isinstance(listed, list) and listed and all(isinstance(s, str) and s.strip("/") for s in listed):
        locations = [root.child(path) for path in listed[:MAX_SERIES]]
        documents = await asyncio.gather(*(read_group(loc, reader, zarr_format) for loc in locations))
        return [(loc, ome, source) for loc, (ome, _, source) in zip(locations, documents)], listing
    groups = []
    for index in range(MAX_SERIES):
        location = root.child(str(index))
        try:
            ome, _, source = await read_group(location, reader, zarr_format)
        except ObjectNotFound:
            break
        groups.append((location, ome, source))
    if not groups:
        raise FormatError(f"{root.url}: bioformats2raw layout without any series")
    return groups, listing
