"""What an image's catalogue status means for serving it."""

from __future__ import annotations

from .records import ImageRecord

TIFF_FORMATS = ("tiff", "ome-tiff")


def pixels_pinned(record: ImageRecord) -> bool:
    """Every pixel byte is read at a version id recorded at import.

    True for a TIFF whose object has a recorded version (a versioned bucket): the tile
    manifest and every tile read use that version. Never true for OME-Zarr: only its
    metadata documents are recorded at import; chunk objects are read at their current
    version (recording millions of chunk versions would defeat the point of import).
    """
    return record.format in TIFF_FORMATS and bool(record.sources) and all(s.version for s in record.sources)


def refusal(record: ImageRecord) -> tuple[int, str] | None:
    """(HTTP status, message) when the image must not be served, else None.

    missing -> 410; changed -> 409, except when the pixels are pinned to the imported
    versions (those bytes still exist and are exactly what was imported)."""
    if record.status == "ok" or (record.status == "changed" and pixels_pinned(record)):
        return None
    code = 410 if record.status == "missing" else 409
    detail = f": {record.status_message}" if record.status_message else ""
    return code, (f"image {record.id} cannot be served: its source data is {record.status}{detail}. "
                  f"Re-import it (stratascope import {record.url}) to serve the current data.")
