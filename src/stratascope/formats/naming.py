"""Image names when the metadata has none worth showing.

Writers fill in placeholders: tifffile names every OME image "Image0", "Image1", ...;
ome-zarr-py and others write "image"; Bio-Formats "Series 0"; plain TIFFs have none. 200
such images would all show as "Image0", so, like OMERO's importer (which names an image after
its file, "file.ome.tif [series]" when the file holds several), a placeholder is replaced by
the file's or folder's name, plus the series (or well and field) when there are several.
"""

from __future__ import annotations

import re

#: Placeholders, not names: "", "Image0", "image", "Series 0", "series_1", "0", "Default", "Untitled".
_GENERIC = re.compile(r"(image|img|series|default|untitled|unnamed)?[\s_#:-]*\d*", re.IGNORECASE)


def is_generic(name: object) -> bool:
    """True when `name` is missing or only a writer's placeholder."""
    return not isinstance(name, str) or _GENERIC.fullmatch(name.strip()) is not None


def image_name(candidates, fallback: str, *, series: int | None = None, several: bool = False) -> str:
    """The first candidate that is a real name; else `fallback` (the file or folder name), with
    " [series]" appended when the file holds several images."""
    for candidate in candidates:
        if not is_generic(candidate):
            return candidate.strip()
    return f"{fallback} [{series}]" if several and series is not None else fallback
