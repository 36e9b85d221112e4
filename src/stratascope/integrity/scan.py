"""Which requests check which recorded objects: a HEAD each, or one listing per prefix.

The rule (documented in docs/operations.md):

- Recorded objects are grouped by *scan prefix*: for an OME-Zarr image its group URL
  (every metadata document recorded under it), for a TIFF its directory (so the TIFFs
  of one folder share a listing). Objects outside their image's group (the
  bioformats2raw root documents shared by its series) are always HEADed.
- A group of n recorded objects is HEADed (n requests) when n < LIST_MIN_OBJECTS.
- Otherwise the prefix is listed with a budget of n // 2 pages (1000 keys a page), so a
  listing that completes costs at most half the HEADs. A Zarr prefix can hold millions
  of chunks: when the budget runs out the listing stops, the objects it already showed
  are judged from it, and only the rest are HEADed (worst case 1.5 n requests).
- `force_list` (verify --unregistered) lists every prefix completely, whatever it costs:
  only a complete listing can show unregistered objects.

A listing reports size and ETag but no version id; a HEAD reports all three.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ..storage import ObjectInfo, ObjectNotFound, SourceReader, StorageError

LIST_PAGE = 1000
LIST_MIN_OBJECTS = 8
HEAD_CONCURRENCY = 32

ZARR, TIFF = "zarr", "tiff"


@dataclass
class ScanGroup:
    prefix: str  # URL without a trailing slash
    kinds: set[str] = field(default_factory=set)  # "zarr" (an image group) and/or "tiff" (a directory)
    urls: set[str] = field(default_factory=set)


@dataclass
class Observations:
    """What the store reported: url -> ObjectInfo, None (absent) or an error message."""

    current: dict[str, ObjectInfo | None | str] = field(default_factory=dict)
    via: dict[str, str] = field(default_factory=dict)
    listings: dict[str, list[ObjectInfo]] = field(default_factory=dict)  # complete listings only


def scan_prefix(image_format: str, image_url: str, object_url: str) -> tuple[str, str] | None:
    """(prefix, kind) a recorded object is checked under, or None for "HEAD it"."""
    if image_format.startswith("ome-zarr"):
        root = image_url.rstrip("/")
        return (root, ZARR) if object_url.startswith(root + "/") else None
    directory = object_url.rpartition("/")[0]
    if "://" not in directory or directory.endswith("://"):  # no directory to list (e.g. file:///x.tif)
        return None
    return directory, TIFF


def list_budget(n: int, force: bool) -> int | None:
    """Pages a listing of a group of n recorded objects may cost: None = unbounded, 0 = do not list."""
    if force:
        return None
    return 0 if n < LIST_MIN_OBJECTS else n // 2


async def observe(groups: list[ScanGroup], loose: set[str], reader: SourceReader, *,
                  force_list: bool = False) -> Observations:
    seen = Observations()
    to_head: set[str] = set(loose)
    for group in groups:
        to_head |= await _list_group(group, reader, force_list, seen)
    semaphore = asyncio.Semaphore(HEAD_CONCURRENCY)

    async def head(url: str) -> None:
        async with semaphore:
            try:
                seen.current[url] = await reader.head(url)
            except ObjectNotFound:
                seen.current[url] = None
            except StorageError as exc:
                seen.current[url] = str(exc)
            seen.via[url] = "head"

    await asyncio.gather(*(head(url) for url in sorted(to_head - seen.current.keys())))
    return seen


async def _list_group(group: ScanGroup, reader: SourceReader, force: bool, seen: Observations) -> set[str]:
    """Judge what one listing can; returns the URLs still to HEAD."""
    pending = {url for url in group.urls if url not in seen.current}
    budget = list_budget(len(group.urls), force)
    if budget == 0 or not pending:
        return pending
    limit = None if budget is None else budget * LIST_PAGE
    try:
        objects = await reader.list(group.prefix, limit=limit)
    except StorageError:
        return pending  # the HEADs report the problem object by object
    complete = limit is None or len(objects) < limit
    found = {obj.url: obj for obj in objects}
    for url in list(pending):
        if url in found or complete:
            seen.current[url] = found.get(url)
            seen.via[url] = "list"
            pending.discard(url)
    if complete:
        seen.listings[group.prefix] = objects
    return pending
