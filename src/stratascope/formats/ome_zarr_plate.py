"""OME-Zarr HCS plates (v0.4 / v0.5 `plate` and `well` metadata) -> a PlateSpec.

Layout: plate group -> "ROW/COLUMN" well groups -> one image group per field. Reads one
metadata document per plate, per well and per field image (plus its levels), never a
chunk and never a listing; the reads run concurrently, bounded.

Strict on purpose: a plate that names a well or field that does not exist is refused as a
whole (a FormatError naming the missing path), so an import never registers half a plate.
"""

from __future__ import annotations

import asyncio
import re

from ..storage import Location, ObjectNotFound
from .model import AcquisitionSpec, FormatError, ImageSpec, PlateSpec, SourceObject, WellSampleSpec, WellSpec
from .zarr_image import read_group, read_image

MAX_ROWS_OR_COLUMNS = 10_000
MAX_WELLS = 100_000
MAX_FIELDS_PER_WELL = 10_000
MAX_FIELDS = 1_000_000
CONCURRENT_READS = 32
_NAME = re.compile(r"^[A-Za-z0-9]+$")  # the spec: row / column names are alphanumeric


def _names(plate: dict, key: str, what: str) -> list[str]:
    entries = plate.get(key)
    if not isinstance(entries, list) or not entries or len(entries) > MAX_ROWS_OR_COLUMNS:
        raise FormatError(f"{what}: plate {key} must be a list of 1..{MAX_ROWS_OR_COLUMNS} {{'name': ...}}")
    names = [e.get("name") if isinstance(e, dict) else None for e in entries]
    if not all(isinstance(n, str) and _NAME.match(n) for n in names):
        raise FormatError(f"{what}: plate {key} names must be alphanumeric strings, got {names!r:.120}")
    if len(set(names)) != len(names):
        raise FormatError(f"{what}: plate {key} names are not unique")
    return [str(n) for n in names]


def _index(entry: dict, key: str, fallback: str, names: list[str], what: str) -> int:
    """rowIndex / columnIndex (v0.4+), else the position of the path's part in the names (v0.1-0.3)."""
    value = entry.get(key)
    if value is None:
        if fallback not in names:
            raise FormatError(f"{what}: well path {entry['path']!r} names {fallback!r}, not a plate row/column")
        return names.index(fallback)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < len(names):
        raise FormatError(f"{what}: well {entry['path']!r} has {key} {value!r:.40}, outside 0..{len(names) - 1}")
    return value


def _wells(plate: dict, rows: list[str], columns: list[str], what: str) -> list[tuple[int, int, str]]:
    entries = plate.get("wells")
    if not isinstance(entries, list) or not entries or len(entries) > MAX_WELLS:
        raise FormatError(f"{what}: plate wells must be a list of 1..{MAX_WELLS} {{'path': ...}}")
    wells, seen = [], set()
    for entry in entries:
        path = entry.get("path") if isinstance(entry, dict) else None
        parts = path.split("/") if isinstance(path, str) else []
        if len(parts) != 2 or not all(_NAME.match(p) for p in parts):
            raise FormatError(f"{what}: well path {path!r:.80} is not 'ROW/COLUMN'")
        row = _index(entry, "rowIndex", parts[0], rows, what)
        column = _index(entry, "columnIndex", parts[1], columns, what)
        if (row, column) in seen:
            raise FormatError(f"{what}: two wells at row {rows[row]}, column {columns[column]}")
        seen.add((row, column))
        wells.append((row, column, str(path)))
    return wells


def _acquisitions(plate: dict) -> list[AcquisitionSpec]:
    def number(value):
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def text(value):
        return value if isinstance(value, str) else None

    out = []
    for entry in plate.get("acquisitions") or []:
        if isinstance(entry, dict) and number(entry.get("id")) is not None:
            out.append(AcquisitionSpec(entry["id"], text(entry.get("name")), text(entry.get("description")),
                                       number(entry.get("maximumfieldcount")), number(entry.get("starttime")),
                                       number(entry.get("endtime"))))
    return out


def _fields(well_ome: dict, what: str) -> list[tuple[str, int | None]]:
    well = well_ome.get("well")
    images = well.get("images") if isinstance(well, dict) else None
    if not isinstance(images, list) or not images or len(images) > MAX_FIELDS_PER_WELL:
        raise FormatError(f"{what}: well metadata must list 1..{MAX_FIELDS_PER_WELL} images {{'path': ...}}")
    fields = []
    for entry in images:
        path = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(path, str) or not _NAME.match(path):
            raise FormatError(f"{what}: well image path {path!r:.80} is not alphanumeric")
        acquisition = entry.get("acquisition")
        fields.append((path, acquisition if isinstance(acquisition, int) and not isinstance(acquisition, bool) else None))
    if len({p for p, _ in fields}) != len(fields):
        raise FormatError(f"{what}: well lists the same image path twice")
    return fields


async def read_plate(root: Location, ome: dict, zarr_format: int, source: SourceObject, reader,
                     objects: frozenset[str] | None = None) -> PlateSpec:
    """The plate at `root` (its attributes `ome` already read) with every field image."""
    what = root.url
    plate = ome.get("plate")
    if not isinstance(plate, dict):
        raise FormatError(f"{what}: 'plate' metadata must be an object")
    rows, columns = _names(plate, "rows", what), _names(plate, "columns", what)
    wells = _wells(plate, rows, columns, what)
    limit = asyncio.Semaphore(CONCURRENT_READS)

    async def read_well(path: str):
        location = root.child(path)
        async with limit:
            try:
                well_ome, _, well_source = await read_group(location, reader, zarr_format)
            except ObjectNotFound:
                raise FormatError(f"{what}: the plate lists well {path!r}, but there is no well group at "
                                  f"{location.url}") from None
        return location, _fields(well_ome, location.url), well_source

    read = await asyncio.gather(*(read_well(path) for _, _, path in wells))
    if sum(len(fields) for _, fields, _ in read) > MAX_FIELDS:
        raise FormatError(f"{what}: more than {MAX_FIELDS} fields in one plate")

    async def read_field(well_location: Location, path: str) -> ImageSpec:
        location = well_location.child(path)
        async with limit:
            try:
                field_ome, _, field_source = await read_group(location, reader, zarr_format)
            except ObjectNotFound:
                raise FormatError(f"{what}: well {well_location.url} lists field {path!r}, but there is no image "
                                  f"group at {location.url}") from None
            return await read_image(location, field_ome, zarr_format, [field_source], reader, series=0,
                                    objects=objects)

    jobs = [read_field(location, path) for location, fields, _ in read for path, _ in fields]
    images = list(await asyncio.gather(*jobs))
    given = plate.get("name")
    plate_name = given if isinstance(given, str) and given else root.name
    well_specs, cursor = [], 0
    for (row, column, path), (_, fields, _) in zip(wells, read):
        samples = []
        for number, (_, acquisition) in enumerate(fields):
            image = images[cursor]
            image.name = f"{plate_name} [Well {rows[row]}{columns[column]}, Field {number + 1}]"
            samples.append(WellSampleSpec(cursor, acquisition))
            cursor += 1
        well_specs.append(WellSpec(row, column, path, samples))
    return PlateSpec(
        name=plate_name, format=images[0].format, url=root.url, rows=rows, columns=columns, wells=well_specs,
        images=images, sources=[source, *(s for _, _, s in read)], acquisitions=_acquisitions(plate),
        field_count=max(len(w.samples) for w in well_specs),
        row_naming="number" if all(r.isdigit() for r in rows) else "letter",
        column_naming="number" if all(c.isdigit() for c in columns) else "letter",
    )
