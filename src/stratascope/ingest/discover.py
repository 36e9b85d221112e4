"""Find the images under a URL: one object, one Zarr group, or a prefix walked once."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field

from ..storage import ObjectInfo, ObjectNotFound, SourceReader
from ..storage.urls import Location, parse_url

TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".tf2")
ZARR_METADATA = (".zattrs", "zarr.json", ".zgroup")
#: every metadata document an OME-Zarr import may read (recorded as its sources)
ZARR_DOCUMENTS = (*ZARR_METADATA, ".zarray")
#: a Zarr candidate keeps the URLs of the objects listed under it up to this many (memory)
MAX_CANDIDATE_OBJECTS = 1_000_000


@dataclass
class Candidate:
    url: str
    kind: str  # "tiff" | "zarr"
    #: objects seen in the listing under this candidate (metadata docs / the TIFF itself)
    listed: dict[str, ObjectInfo] = field(default_factory=dict)
    #: URLs of every object under a Zarr candidate found by a prefix listing (chunks included),
    #: so import records which chunk objects were absent at no extra cost; None: not listed
    objects: frozenset[str] | None = None


def looks_like_tiff(url: str) -> bool:
    return url.lower().rstrip("/").endswith(TIFF_SUFFIXES)


def candidates_from_listing(objects: list[ObjectInfo]) -> list[Candidate]:
    """Top-most Zarr groups and TIFF files not inside them, from one recursive listing."""
    by_url = {o.url: o for o in objects}
    roots: set[str] = set()
    for obj in objects:
        directory, _, name = obj.url.rpartition("/")
        if name in ZARR_METADATA:
            roots.add(directory)
    top_roots = sorted(r for r in roots if not any(r.startswith(other + "/") for other in roots if other != r))
    found = [Candidate(root, "zarr") for root in top_roots]
    for cand in found:
        prefix = cand.url + "/"
        cand.listed = {u: o for u, o in by_url.items() if u.startswith(prefix) and u.rpartition("/")[2] in ZARR_DOCUMENTS}
        under = frozenset(u for u in by_url if u.startswith(prefix))
        cand.objects = under if len(under) <= MAX_CANDIDATE_OBJECTS else None
    for obj in objects:
        if looks_like_tiff(obj.url) and not any(obj.url.startswith(r + "/") for r in top_roots):
            found.append(Candidate(obj.url, "tiff", {obj.url: obj}))
    return sorted(found, key=lambda cand: cand.url)


async def discover(url: str, reader: SourceReader) -> tuple[list[Candidate], bool]:
    """Candidates under `url`, and whether they came from a listing (a prefix import).

    A TIFF URL or a Zarr group URL is used as it is, with no listing; anything else is
    treated as a prefix and listed once.
    """
    location: Location = parse_url(url)
    if looks_like_tiff(location.url):
        return [Candidate(location.url, "tiff")], False
    if location.key.rstrip("/").endswith(".zarr"):
        return [Candidate(location.url.rstrip("/"), "zarr")], False  # by convention; no probe needed
    for name in ("zarr.json", ".zattrs", ".zgroup"):
        if await _exists(reader, location.child(name)):
            return [Candidate(location.url.rstrip("/"), "zarr")], False
    objects = await reader.list(location)
    return candidates_from_listing(objects), True


async def _exists(reader: SourceReader, location: Location) -> bool:
    if location.scheme == "file":
        return await asyncio.to_thread(os.path.isfile, "/" + location.key)  # local check costs no request
    try:
        await reader.head(location)
        return True
    except ObjectNotFound:
        return False
