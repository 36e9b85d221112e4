"""Write probes, only under `--write-probe PREFIX`: read-after-write and list-after-write
consistency, a probe object for the latency tests, and a clean-up of everything written
(on a versioned S3 bucket also the old versions and delete markers, via boto3)."""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import obstore

from ..storage import Location, ObjectNotFound, SourceReader, StoreRegistry, parse_url
from .model import FAIL, PASS, WARN, CheckItem, ms, short_error

SAMPLE_BYTES = 2 * 1024 * 1024


class WriteProbe:
    """Everything written lives under `<PREFIX>/stratascope-check-<random>/` and is deleted."""

    def __init__(self, source: SourceReader, stores: StoreRegistry, prefix_url: str):
        self.root = parse_url(prefix_url).child(f"stratascope-check-{uuid.uuid4().hex[:12]}")
        self.source = source
        self.store = stores.open(self.root)
        self.written: set[str] = set()
        self.local_top = _first_missing_folder("/" + self.root.key) if self.root.scheme == "file" else None

    async def put(self, location: Location, data: bytes) -> None:
        if not location.key.startswith(self.root.key + "/"):
            raise AssertionError(f"write outside the probe prefix: {location.url}")  # guards the promise
        self.written.add(location.key)
        await obstore.put_async(self.store, location.key, data)
        self.source.counter.record("put")

    async def delete(self, location: Location) -> None:
        await obstore.delete_async(self.store, location.key)
        self.source.counter.record("delete")

    async def consistency(self) -> list[CheckItem]:
        target = self.root.child("consistency")
        raw_title, law_title = "Read-after-write consistency", "List-after-write consistency"
        try:
            first, second = os.urandom(4096), os.urandom(4096)
            await self.put(target, first)
            began = time.perf_counter()
            read_new = await self.source.get(target) == first
            await self.put(target, second)
            read_over = await self.source.get(target) == second
            listed = target.url in {o.url for o in await self.source.list(self.root)}
            await self.delete(target)
            try:
                await self.source.head(target)
                read_deleted = False
            except ObjectNotFound:
                read_deleted = True
            unlisted = target.url not in {o.url for o in await self.source.list(self.root)}
            elapsed = time.perf_counter() - began
        except Exception as exc:  # noqa: BLE001 - a failing write is the finding
            message = short_error(exc)
            meaning = "The write probe failed: check that the credentials may write under the probe prefix."
            return [CheckItem("read_after_write", raw_title, FAIL, message, meaning),
                    CheckItem("list_after_write", law_title, FAIL, message, meaning)]
        raw = {"new object": read_new, "overwrite": read_over, "delete": read_deleted}
        law = {"new object listed": listed, "deleted object unlisted": unlisted}
        return [_consistency_item("read_after_write", raw_title, raw, elapsed,
                                  "A re-imported object is read back exactly as written."),
                _consistency_item("list_after_write", law_title, law, elapsed,
                                  "verify sees new and deleted objects immediately.")]

    async def sample(self):
        """Upload a 2 MiB probe object for the latency tests; returns its ObjectInfo."""
        target = self.root.child("sample-2MiB.bin")
        await self.put(target, os.urandom(SAMPLE_BYTES))
        return await self.source.head(target)

    @property
    def restore_target(self) -> tuple[str, str] | None:
        key = self.root.child("sample-2MiB.bin").key
        return (self.root.bucket, key) if self.root.scheme == "s3" and key in self.written else None

    async def cleanup(self, boto3_client=None) -> list[str]:
        """Delete everything written; returns keys that are still there (should be none)."""
        for key in sorted(self.written):
            try:
                await self.delete(Location(self.root.scheme, self.root.bucket, key))
            except Exception:  # noqa: BLE001 - already gone is fine; leftovers are reported below
                pass
        if boto3_client is not None and self.root.scheme == "s3":
            await asyncio.to_thread(_purge_versions, boto3_client, self.root.bucket, self.root.key + "/")
        left = [o.url for o in await self.source.list(self.root)]
        if self.local_top is not None and not left:
            _remove_empty_folders(self.local_top)  # a local store leaves the folders it made behind
        return left


def _first_missing_folder(path: str) -> str:
    """The outermost folder of `path` that does not exist yet (the probe creates it)."""
    top = path
    while not os.path.exists(os.path.dirname(top)):
        top = os.path.dirname(top)
    return top


def _remove_empty_folders(top: str) -> None:
    for folder, _, _ in sorted(os.walk(top), key=lambda entry: -len(entry[0])):
        try:
            os.rmdir(folder)
        except OSError:  # not empty (someone else's file) or already gone: leave it
            pass


def _consistency_item(item_id: str, title: str, results: dict[str, bool], elapsed: float, good: str) -> CheckItem:
    broken = [name for name, ok in results.items() if not ok]
    if broken:
        return CheckItem(item_id, title, FAIL, "stale after " + ", ".join(broken),
                         "The store is eventually consistent: an import right after an upload may see old "
                         "or missing data; wait before importing freshly written data.")
    return CheckItem(item_id, title, PASS, f"{', '.join(results)}: immediate ({ms(elapsed)} for the sequence)", good)


def _purge_versions(client, bucket: str, prefix: str) -> None:
    """On a versioned bucket a delete only adds a marker: remove the probe's versions too."""
    try:
        pages = client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            for entry in page.get("Versions", []) + page.get("DeleteMarkers", []):
                if entry["Key"].startswith(prefix):
                    client.delete_object(Bucket=bucket, Key=entry["Key"], VersionId=entry["VersionId"])
    except Exception:  # noqa: BLE001 - no permission for versions: the markers stay, reported by the caller
        pass


def untested_consistency() -> list[CheckItem]:
    meaning = "Read-only run: nothing was written. Use --write-probe PREFIX to test consistency."
    return [CheckItem("read_after_write", "Read-after-write consistency", WARN, "untested (read-only)", meaning),
            CheckItem("list_after_write", "List-after-write consistency", WARN, "untested (read-only)", meaning)]
