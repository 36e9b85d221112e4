"""Runs the checklist in order and returns its items; one async core, one sync entry."""

from __future__ import annotations

import asyncio

from ..storage import InvalidURL, Location, ObjectInfo, parse_url
from ..storage.boto import boto3_client
from . import basics, performance, s3facts
from .model import PASS, WARN, CheckItem
from .write_probe import WriteProbe, untested_consistency


def run_check(store_url: str, write_probe: str | None = None) -> list[CheckItem]:
    """The sync entry (CLI). Raises `InvalidURL` for URLs that cannot be checked."""
    return asyncio.run(check(store_url, write_probe))


def _validate(store_url: str, write_probe: str | None) -> tuple[Location, Location | None]:
    location = parse_url(store_url)
    probe = parse_url(write_probe) if write_probe else None
    if probe is not None and probe.scheme == "file" and not probe.key:
        raise InvalidURL("--write-probe needs a folder, not the file system root")
    return location, probe


async def check(store_url: str, write_probe: str | None = None) -> list[CheckItem]:
    location, _ = _validate(store_url, write_probe)
    items: list[CheckItem] = []
    item, objects = await basics.connectivity(location)
    items.append(item)
    if objects is None:  # nothing else can be measured; one clear failure is the answer
        return items
    items.append(basics.listing(objects))
    items.append(await basics.delimiter(location, objects))

    client = boto3_client(location) if location.scheme == "s3" else None
    probe = WriteProbe(write_probe) if write_probe else None
    try:
        if probe is not None:
            items.extend(await probe.consistency())
        else:
            items.extend(untested_consistency())

        sample, note = _largest(objects), ""
        if probe is not None and (sample is None or sample.size < performance.MIB):
            sample, note = await probe.sample(), ", on the write probe's 2 MiB object"

        head_info = None
        if sample is not None:
            items.append(await basics.head_metadata(sample))
            items.append(await basics.etag_stability(sample))
            items.append(await basics.ranged_get(sample))
            head_info = await _quiet_head(sample)
        else:
            items.extend(_no_object("head", "etag", "range"))
        items.append(await basics.missing_key(location))

        items.append(await s3facts.versioning(location, client, head_info))
        classes, archived = await s3facts.storage_classes(location, client)
        items.append(classes)
        probe_client = boto3_client(probe.root) if probe is not None and probe.root.scheme == "s3" else None
        items.append(await s3facts.restore(location, probe_client or client, archived,
                                           probe.restore_target if probe is not None else None))

        # an archived sample cannot be read before a restore: skip the timings rather than fail them
        readable = None if sample is not None and _key_of(sample) in archived else sample
        latency_items, lat = await performance.latency(readable, note)
        items.extend(latency_items)
        items.append(await performance.throughput(readable, note))
        result, skipped = await performance.parallel(readable)
        items.append(performance.scaling_item(result, skipped))
        items.append(performance.throttling_item(result, skipped))
        items.extend(performance.estimates(lat))
    finally:
        if probe is not None:
            cleanup_client = boto3_client(probe.root) if probe.root.scheme == "s3" else None
            left = await probe.cleanup(cleanup_client)
            items.append(_cleanup_item(probe, left))
    return items


def _largest(objects: list[ObjectInfo]) -> ObjectInfo | None:
    return max(objects, key=lambda o: o.size, default=None)


def _key_of(info: ObjectInfo) -> str:
    return parse_url(info.url).key


async def _quiet_head(sample: ObjectInfo) -> ObjectInfo | None:
    from ..storage import SOURCE, StorageError

    try:
        return await SOURCE.head(sample.url)
    except StorageError:
        return None


def _no_object(*ids: str) -> list[CheckItem]:
    titles = {"head": "HEAD metadata (size, ETag, last-modified)", "etag": "ETag stability", "range": "Ranged GET support"}
    return [CheckItem(i, titles[i], WARN, "untested: no object under the prefix",
                      "Point the check at a prefix with data, or use --write-probe.") for i in ids]


def _cleanup_item(probe: WriteProbe, left: list[str]) -> CheckItem:
    title = "Write probe clean-up"
    if left:
        return CheckItem("write_cleanup", title, WARN, f"{len(left)} objects left: {left[0]}",
                         f"Delete {probe.root.url} by hand.")
    return CheckItem("write_cleanup", title, PASS, f"{len(probe.written)} objects written and deleted under {probe.root.url}",
                     "The write probe left nothing behind.")
