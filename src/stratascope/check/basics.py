"""Functional probes, all read-only and counted through the `SourceReader`: connectivity, listing,
delimiter listing, HEAD metadata, ETag stability, ranged GETs and a missing key."""

from __future__ import annotations

import time
import uuid

import obstore

from ..storage import Location, ObjectInfo, ObjectNotFound, SourceReader, StorageError, StoreRegistry
from .model import FAIL, PASS, WARN, CheckItem, ms, short_error

#: Enough to cross one S3 page boundary (1000 keys) without walking a huge prefix.
LIST_LIMIT = 2500
S3_PAGE = 1000
MISSING_KEY_SLOW_S = 2.0


def list_prefix_key(location: Location) -> str | None:
    return location.key.rstrip("/") + "/" if location.key else None


async def connectivity(source: SourceReader, location: Location) -> tuple[CheckItem, list[ObjectInfo] | None]:
    started = time.perf_counter()
    try:
        objects = await source.list(location, limit=LIST_LIMIT)
    except StorageError as exc:
        return CheckItem(
            "connectivity", "Connectivity and credentials", FAIL, short_error(exc),
            "stratascope cannot list this prefix with the configured endpoint and credentials "
            "(AWS_* / stratascope.toml); nothing else can be checked.",
        ), None
    elapsed = time.perf_counter() - started
    figure = f"listed {len(objects)}{'+' if len(objects) >= LIST_LIMIT else ''} objects in {ms(elapsed)}"
    if not objects:
        return CheckItem("connectivity", "Connectivity and credentials", WARN, figure,
                         "The store answers, but the prefix is empty or does not exist: check the URL. "
                         "Most items below stay untested."), objects
    return CheckItem("connectivity", "Connectivity and credentials", PASS, figure,
                     "Endpoint reachable and credentials accepted for listing."), objects


def listing(objects: list[ObjectInfo]) -> CheckItem:
    title = "Listing and pagination"
    urls = [o.url for o in objects]
    if len(set(urls)) != len(urls):
        return CheckItem("listing", title, FAIL, f"{len(urls) - len(set(urls))} duplicate keys across pages",
                         "Listings repeat keys across pages: import and verify would double-count objects.")
    if len(objects) > S3_PAGE:
        return CheckItem("listing", title, PASS, f"{len(objects)} distinct keys across >1 page",
                         "Pagination works: import and verify see every object under large prefixes.")
    return CheckItem("listing", title, WARN, f"{len(objects)} keys (<= {S3_PAGE}): pagination untested",
                     "Listing works, but the prefix is too small to cross a page boundary; "
                     "run against a prefix with more than 1000 objects to test pagination.")


async def delimiter(source: SourceReader, stores: StoreRegistry, location: Location,
                    objects: list[ObjectInfo]) -> CheckItem:
    title = "Delimiter listing"
    prefix = list_prefix_key(location)
    started = time.perf_counter()
    try:
        result = await obstore.list_with_delimiter_async(stores.open(location), prefix)
    except Exception as exc:  # noqa: BLE001 - any store error is the finding itself
        source.counter.record("list")
        return CheckItem("delimiter", title, FAIL, short_error(exc),
                         "Folder-style listing fails: browsing a bucket by prefix (import of a folder) will not work.")
    source.counter.record("list")  # outside SourceReader, so count it by hand
    elapsed = time.perf_counter() - started
    got_dirs = {p.rstrip("/").rsplit("/", 1)[-1] for p in result["common_prefixes"]}
    got_files = {o["path"].rsplit("/", 1)[-1] for o in result["objects"]}
    figure = f"{len(got_dirs)} common prefixes, {len(got_files)} objects in {ms(elapsed)}"
    if len(objects) >= LIST_LIMIT:  # the recursive listing was cut short: nothing to compare with
        return CheckItem("delimiter", title, PASS, figure, "Folder-style listing answers (not cross-checked: large prefix).")
    base = (location.key.rstrip("/") + "/") if location.key else ""
    want_dirs, want_files = set(), set()
    for info in objects:
        relative = _key(info, location)[len(base):]
        head, sep, _ = relative.partition("/")
        (want_dirs if sep else want_files).add(head)
    if (got_dirs, got_files) == (want_dirs, want_files):
        return CheckItem("delimiter", title, PASS, figure,
                         "Folder-style listing agrees with the recursive listing.")
    return CheckItem("delimiter", title, FAIL, figure + f" (expected {len(want_dirs)} prefixes, {len(want_files)} objects)",
                     "Delimiter listing disagrees with the recursive listing: folder import may miss data.")


def _key(info: ObjectInfo, location: Location) -> str:
    if location.scheme == "file":
        return info.url.removeprefix("file:///")
    return info.url.removeprefix(location.root.rstrip("/") + "/")


async def head_metadata(source: SourceReader, sample: ObjectInfo) -> CheckItem:
    title = "HEAD metadata (size, ETag, last-modified)"
    try:
        info = await source.head(sample.url)
    except StorageError as exc:
        return CheckItem("head", title, FAIL, short_error(exc), "HEAD fails: verify and import cannot check objects.")
    missing = [name for name, value in (("ETag", info.etag), ("last-modified", info.last_modified)) if not value]
    figure = f"size {info.size} B, ETag {info.etag or '-'}, last-modified {info.last_modified or '-'}"
    if info.size != sample.size:
        return CheckItem("head", title, FAIL, figure + f" (listing said {sample.size} B)",
                         "HEAD and listing disagree on size: verify would report false changes.")
    if missing:
        return CheckItem("head", title, WARN, figure,
                         f"No {' or '.join(missing)}: verify can detect changed objects only by size.")
    return CheckItem("head", title, PASS, figure, "Every imported object can be pinned by size and ETag.")


async def etag_stability(source: SourceReader, sample: ObjectInfo) -> CheckItem:
    title = "ETag stability"
    try:
        first, second = await source.head(sample.url), await source.head(sample.url)
    except StorageError as exc:
        return CheckItem("etag", title, FAIL, short_error(exc), "HEAD fails: ETags cannot be compared.")
    tags = [first.etag, second.etag, sample.etag]
    figure = f"HEAD {first.etag or '-'} / HEAD {second.etag or '-'} / listing {sample.etag or '-'}"
    if not first.etag:
        return CheckItem("etag", title, WARN, figure, "No ETag: changes are detected by size only.")
    if first.etag != second.etag:
        return CheckItem("etag", title, FAIL, figure,
                         "ETags change between requests: verify would flag every object as changed.")
    if sample.etag and sample.etag != first.etag:
        return CheckItem("etag", title, WARN, figure,
                         "Listing and HEAD report different ETags: verify must use HEAD, not listings.")
    return CheckItem("etag", title, PASS, figure if len(set(tags)) > 1 else f"{first.etag} (2 HEADs + listing agree)",
                     "ETags are stable: changed objects are detected reliably.")


async def ranged_get(source: SourceReader, sample: ObjectInfo) -> CheckItem:
    title = "Ranged GET support"
    size = sample.size
    span = min(size, 4096)
    if span < 2:
        return CheckItem("range", title, WARN, f"object of {size} B: too small to test",
                         "Untested; put an object of at least 4 KiB under the prefix.")
    try:
        whole = await source.get_range(sample.url, 0, span)
        inner = await source.get_range(sample.url, span // 4, span // 2)
        suffix = await source.get_suffix(sample.url, span // 2)
        tail = await source.get_range(sample.url, size - span // 2, size)
    except StorageError as exc:
        return CheckItem("range", title, FAIL, short_error(exc),
                         "Ranged GETs fail: stratascope reads every chunk with a ranged GET.")
    problems = []
    if len(whole) != span:
        problems.append(f"asked {span} B, got {len(whole)} B")
    if inner != whole[span // 4: span // 2]:
        problems.append("inner range differs from the same bytes of a larger range")
    if suffix != tail or len(suffix) != span // 2:
        problems.append("suffix range differs from the explicit tail range")
    figure = "; ".join(problems) or f"4 ranges (bounded, inner, suffix, tail) exact on a {size} B object"
    if problems:
        return CheckItem("range", title, FAIL, figure,
                         "The store does not honour byte ranges exactly: TIFF tiles and shards would be read wrong.")
    return CheckItem("range", title, PASS, figure, "Chunks can be read with one ranged GET each.")


async def missing_key(source: SourceReader, location: Location) -> CheckItem:
    title = "Missing key behaviour"
    target = location.child(f"stratascope-check-missing-{uuid.uuid4().hex}")
    started = time.perf_counter()
    try:
        await source.head(target)
        outcome = "HEAD of a random key succeeded"
    except ObjectNotFound:
        outcome = None
    except StorageError as exc:
        outcome = short_error(exc)
    elapsed = time.perf_counter() - started
    if outcome is not None:
        return CheckItem("missing", title, FAIL, f"{outcome} after {ms(elapsed)}",
                         "A missing object is not a clean 404: verify cannot tell 'missing' from 'store down' "
                         "(on S3, grant s3:ListBucket so that missing keys give 404, not 403).")
    if elapsed > MISSING_KEY_SLOW_S:
        return CheckItem("missing", title, WARN, f"ObjectNotFound after {ms(elapsed)}",
                         "404 is clean but slow (retried?): missing-object errors reach users late.")
    return CheckItem("missing", title, PASS, f"clean 404 -> ObjectNotFound in {ms(elapsed)}",
                     "Missing objects are reported as 'missing' (verify, 410 answers), never as outages.")
