"""OME-TIFF plates: the OME-XML Plate / Well / WellSample elements -> a PlateSpec whose field
images are the file's own images (ImageSpec.series = the OME Image's series).

One plate per file (a file with several plates is refused). Images that no WellSample names
are not part of the plate and are left out (logged). Row / column names follow the plate's
naming conventions as OMERO does (rows letters, columns numbers unless stated otherwise).
"""

from __future__ import annotations

import logging
import re

from .model import (
    AcquisitionSpec,
    FormatError,
    ImageSpec,
    PlateSpec,
    SourceObject,
    UnsupportedFormat,
    WellSampleSpec,
    WellSpec,
    letter_label,
)

log = logging.getLogger(__name__)
MAX_GRID = 10_000


def has_plate(omexml: str | None) -> bool:
    """Cheap test before a second, slow ome-types parse."""
    return bool(omexml) and re.search(r"<(\w+:)?Plate[\s>]", omexml or "") is not None


def _naming(value, default: str) -> str:
    text = str(getattr(value, "value", value) or "").lower()
    return text if text in ("letter", "number") else default


def _labels(count: int, naming: str) -> list[str]:
    return [letter_label(i) if naming == "letter" else str(i + 1) for i in range(count)]


def _trailing_int(ident: str) -> int | None:
    match = re.search(r"(\d+)$", ident or "")
    return int(match.group(1)) if match else None


def tiff_plate(omexml: str, specs: list[ImageSpec], ome_index: list[int | None], source: SourceObject,
               url: str) -> PlateSpec | None:
    """The plate described by `omexml`, or None when it describes none.

    `ome_index[i]` is the position (in document order) of the OME Image that specs[i] is."""
    import ome_types

    try:
        ome = ome_types.from_xml(omexml, validate=False)
    except Exception as exc:  # the images were readable already; the plate part is not
        raise FormatError(f"{url}: the OME-XML Plate cannot be read ({str(exc).splitlines()[0][:200]})") from exc
    if not ome.plates:
        return None
    if len(ome.plates) > 1:
        raise UnsupportedFormat(f"{url}: {len(ome.plates)} plates in one OME-TIFF are not supported")
    plate = ome.plates[0]
    spec_of_image = {ome.images[j].id: i for i, j in enumerate(ome_index) if j is not None and j < len(ome.images)}
    acquisition_of_sample = {}
    acquisitions = []
    for number, acq in enumerate(plate.plate_acquisitions):
        acq_id = _trailing_int(acq.id)
        acq_id = number if acq_id is None else acq_id
        acquisitions.append(AcquisitionSpec(acq_id, acq.name, acq.description, acq.maximum_field_count))
        for ref in acq.well_sample_refs:
            acquisition_of_sample[ref.id] = acq_id
    wells: list[WellSpec] = []
    used: list[ImageSpec] = []
    seen: set[tuple[int, int]] = set()
    for well in plate.wells:
        if not (0 <= well.row < MAX_GRID and 0 <= well.column < MAX_GRID):
            raise FormatError(f"{url}: well {well.id} at row {well.row}, column {well.column} is out of range")
        if (well.row, well.column) in seen:
            raise FormatError(f"{url}: two wells at row {well.row}, column {well.column}")
        seen.add((well.row, well.column))
        samples = []
        for sample in sorted(well.well_samples, key=lambda s: s.index):
            image_id = str(sample.image_ref.id) if sample.image_ref else None
            if image_id is None or image_id not in spec_of_image:
                raise FormatError(f"{url}: well sample {sample.id} of well {well.id} names image {image_id!r}, "
                                  f"which has no pixel data in this file")
            samples.append(WellSampleSpec(len(used), acquisition_of_sample.get(sample.id)))
            used.append(specs[spec_of_image[image_id]])
        if samples:
            wells.append(WellSpec(well.row, well.column, well.id, samples))
    if not wells:
        raise FormatError(f"{url}: the OME-XML Plate {plate.id} has no well samples with images")
    left_out = len(specs) - len(used)
    if left_out:
        log.warning("%s: %d image(s) outside the plate's wells are not imported", url, left_out)
    row_naming = _naming(plate.row_naming_convention, "letter")
    column_naming = _naming(plate.column_naming_convention, "number")
    rows = max(plate.rows or 0, max(w.row for w in wells) + 1)
    columns = max(plate.columns or 0, max(w.column for w in wells) + 1)
    return PlateSpec(
        name=plate.name or url.rstrip("/").rsplit("/", 1)[-1], format=used[0].format, url=url,
        rows=_labels(rows, row_naming), columns=_labels(columns, column_naming), wells=wells, images=used,
        sources=[source], acquisitions=acquisitions, field_count=max(len(w.samples) for w in wells),
        description=plate.description, row_naming=row_naming, column_naming=column_naming,
    )
