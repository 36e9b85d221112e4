"""Objects under an imported prefix that look like image data no catalogued image uses.

Only complete listings are searched (a HEAD cannot discover anything). Definitions:

- Zarr image group P: an array metadata document (`.zarray` or `zarr.json`) at the same
  depth below P as the image's recorded level documents (e.g. `P/3/.zarray` next to
  `P/0/.zarray`: a resolution level added after import), outside the reserved
  `labels/` and `OME/` groups, that no image in the catalogue records.
- TIFF directory D: a TIFF (by name: .tif .tiff .btf .tf8 .tf2) directly in D, not in a
  subfolder, that no image in the catalogue records (not imported, or failed to import).
"""

from __future__ import annotations

from ..ingest.discover import looks_like_tiff
from ..storage import ObjectInfo

ARRAY_DOCUMENTS = (".zarray", "zarr.json")
RESERVED_GROUPS = {"labels", "OME"}


def zarr_candidates(group_url: str, recorded_urls: set[str], listing: list[ObjectInfo]) -> list[ObjectInfo]:
    root = group_url.rstrip("/") + "/"
    depths = set()
    for url in recorded_urls:
        rel = url[len(root):] if url.startswith(root) else ""
        if "/" in rel and rel.rpartition("/")[2] in ARRAY_DOCUMENTS:
            depths.add(rel.count("/"))
    found = []
    for obj in listing:
        rel = obj.url[len(root):] if obj.url.startswith(root) else ""
        if (rel.rpartition("/")[2] in ARRAY_DOCUMENTS and rel.count("/") in depths
                and rel.split("/", 1)[0] not in RESERVED_GROUPS):
            found.append(obj)
    return found


def tiff_candidates(directory_url: str, listing: list[ObjectInfo]) -> list[ObjectInfo]:
    root = directory_url.rstrip("/") + "/"
    return [obj for obj in listing
            if obj.url.startswith(root) and "/" not in obj.url[len(root):] and looks_like_tiff(obj.url)]
