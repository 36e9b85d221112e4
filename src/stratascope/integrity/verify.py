"""verify: compare every recorded source object with its store; mark images in the catalogue."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from .. import catalogue
from ..catalogue.db import Catalogue
from ..catalogue.records import ImageRecord
from ..catalogue.repository import mark_verified, source_urls_under
from ..catalogue.status import pixels_pinned
from ..storage import SourceReader
from . import unregistered
from .compare import CHANGED, ERROR, MISSING, OK, UNREGISTERED, ObjectResult, compare, failed, missing
from .scan import TIFF, ZARR, Observations, ScanGroup, observe, scan_prefix

PAGE = 500


@dataclass
class ImageReport:
    id: int
    name: str
    url: str
    format: str
    revision: int
    previous_status: str
    status: str  # ok | missing | changed | error (store unreachable: nothing decided)
    objects: list[ObjectResult]
    pinned: bool
    message: str | None = None
    marked: bool = False

    def as_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "url": self.url, "format": self.format, "status": self.status,
                "previous_status": self.previous_status, "pinned": self.pinned, "message": self.message,
                "marked": self.marked, "objects": [o.as_dict() for o in self.objects]}


@dataclass
class VerifyReport:
    images: list[ImageReport]
    unregistered: list[ObjectResult] = field(default_factory=list)
    listed_prefixes: list[str] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(image.status == OK for image in self.images) and not self.unregistered

    def as_dict(self) -> dict:
        return {"ok": self.ok, "images": [i.as_dict() for i in self.images],
                "unregistered": [o.as_dict() for o in self.unregistered],
                "listed_prefixes": self.listed_prefixes, "requests": self.requests}


def load_records(db: Catalogue, ids: list[int] | None) -> list[ImageRecord]:
    """The images to verify (without level manifests); catalogue.NotFound for an unknown id."""
    if ids:
        return [catalogue.get_image(db, image_id, full=False) for image_id in dict.fromkeys(ids)]
    records: list[ImageRecord] = []
    while True:
        page, total = catalogue.list_images(db, offset=len(records), limit=PAGE)
        records.extend(page)
        if not page or len(records) >= total:
            return records


def _groups(records: list[ImageRecord]) -> tuple[list[ScanGroup], set[str]]:
    groups: dict[str, ScanGroup] = {}
    loose: set[str] = set()
    assigned: set[str] = set()
    for record in records:
        for source in record.sources:
            where = scan_prefix(record.format, record.url, source.url)
            if where is None:
                loose.add(source.url)
                continue
            prefix, kind = where
            group = groups.setdefault(prefix, ScanGroup(prefix))
            group.kinds.add(kind)
            if source.url not in assigned:  # each object is checked once, whoever records it
                group.urls.add(source.url)
                assigned.add(source.url)
    return sorted(groups.values(), key=lambda g: g.prefix), loose - assigned


def _judge(record: ImageRecord, seen: Observations) -> list[ObjectResult]:
    results = []
    for source in record.sources:
        current, via = seen.current.get(source.url), seen.via.get(source.url, "")
        if current is None:
            results.append(missing(source, via))
        elif isinstance(current, str):
            results.append(failed(source, current, via))
        else:
            results.append(compare(source, current, via))
    return results


def _summary(record: ImageRecord, objects: list[ObjectResult], pinned: bool) -> tuple[str, str | None]:
    for status in (MISSING, CHANGED, ERROR):
        bad = [o for o in objects if o.status == status]
        if not bad:
            continue
        first = bad[0].url + (f" ({bad[0].detail})" if status != MISSING and bad[0].detail else "")
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        what = {MISSING: "missing", CHANGED: "changed since import", ERROR: "could not be checked"}[status]
        message = f"{len(bad)} of {len(objects)} source objects {what}: {first}{more}"
        if status == CHANGED and pinned:
            message += "; reads stay pinned to the imported versions until re-import"
        return status, message
    return OK, None


def _unregistered(db: Catalogue, records: list[ImageRecord], groups: list[ScanGroup], seen: Observations) -> list[ObjectResult]:
    found: dict[str, ObjectResult] = {}
    for group in groups:
        listing = seen.listings.get(group.prefix)
        if listing is None:
            continue
        candidates = []
        if ZARR in group.kinds:
            recorded = {s.url for r in records if r.url.rstrip("/") == group.prefix for s in r.sources}
            candidates += unregistered.zarr_candidates(group.prefix, recorded, listing)
        if TIFF in group.kinds:
            candidates += unregistered.tiff_candidates(group.prefix, listing)
        if not candidates:
            continue
        known = source_urls_under(db, group.prefix + "/")
        for obj in candidates:
            if obj.url not in known:
                found[obj.url] = ObjectResult(obj.url, UNREGISTERED, f"under {group.prefix}, used by no image",
                                              current=obj, via="list")
    return [found[url] for url in sorted(found)]


async def verify_records(db: Catalogue, reader: SourceReader, records: list[ImageRecord], *,
                         find_unregistered: bool = False) -> VerifyReport:
    """Check every recorded object of `records` (no catalogue writes)."""
    before = reader.counter.snapshot()
    groups, loose = _groups(records)
    seen = await observe(groups, loose, reader, force_list=find_unregistered)
    images = []
    for record in records:
        objects = _judge(record, seen)
        pinned = pixels_pinned(record)
        status, message = _summary(record, objects, pinned)
        images.append(ImageReport(record.id, record.name, record.url, record.format, record.revision,
                                  record.status, status, objects, pinned, message))
    extra = await asyncio.to_thread(_unregistered, db, records, groups, seen)
    spent = reader.counter.snapshot() - before
    return VerifyReport(images, extra, sorted(seen.listings), {k: v for k, v in spent.requests.items() if v})


def mark(db: Catalogue, report: VerifyReport) -> None:
    """Record missing/changed in the catalogue, and ok again for images that verify ok.

    Errors (store unreachable) decide nothing; an image re-imported while verify ran
    (its revision moved) is left alone."""
    for image in report.images:
        if image.status == ERROR:
            continue
        image.marked = mark_verified(db, image.id, image.revision, image.status, image.message)


def verify(db: Catalogue, reader: SourceReader, ids: list[int] | None = None, *, find_unregistered: bool = False,
           update_catalogue: bool = True) -> VerifyReport:
    """The single sync entry (CLI): load, check, mark."""
    records = load_records(db, ids)
    report = asyncio.run(verify_records(db, reader, records, find_unregistered=find_unregistered))
    if update_catalogue:
        mark(db, report)
    return report
