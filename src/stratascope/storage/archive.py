"""Archive storage classes (S3 GLACIER / DEEP_ARCHIVE): detect, explain, restore.

obstore's ObjectMeta carries no storage class and obstore has no RestoreObject, so these
few S3 calls go through boto3, configured from the same AWS_* environment and
`[stores."s3://bucket"]` table as obstore. HEAD and LIST are counted in SOURCE_REQUESTS
like every other source read. RestoreObject is the only request stratascope ever sends
that changes anything at a source store, and only `stratascope restore` sends it.

Other stores (GCS, Azure, HTTP, local) report no storage class here: their archive tiers
either stay readable (GCS Archive) or fail reads, which surface as a normal store error.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from dataclasses import dataclass

from .accounting import SOURCE_REQUESTS, RequestCounter
from .boto import boto3_s3_client, error_code
from .errors import ArchivedObject, StorageError
from .urls import Location, parse_url

#: Classes whose objects must be restored before a GET succeeds. GLACIER_IR is readable.
ARCHIVE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})
#: Seconds a restore state learnt from HEAD is reused (a burst of tile requests makes one HEAD).
STATE_TTL = 60.0
_RESTORE_HEADER = re.compile(r'ongoing-request\s*=\s*"(?P<ongoing>true|false)"(?:.*?expiry-date\s*=\s*"(?P<expiry>[^"]+)")?',
                             re.I)

@dataclass(frozen=True)
class ArchiveState:
    url: str
    storage_class: str | None
    restore: str  # "not needed" | "needed" | "in progress" | "restored"
    expiry: str | None = None  # when a restored copy goes away again

    @property
    def readable(self) -> bool:
        return self.restore in ("not needed", "restored")


def parse_restore_header(value: str | None) -> tuple[bool | None, str | None]:
    """S3's x-amz-restore header: (restore ongoing?, expiry date) — (None, None) if absent."""
    match = _RESTORE_HEADER.search(value or "")
    if not match:
        return None, None
    return match["ongoing"].lower() == "true", match["expiry"]


def state_from_head(url: str, head: dict) -> ArchiveState:
    storage_class = head.get("StorageClass") or "STANDARD"
    archived = storage_class in ARCHIVE_CLASSES or head.get("ArchiveStatus") in ("ARCHIVE_ACCESS", "DEEP_ARCHIVE_ACCESS")
    ongoing, expiry = parse_restore_header(head.get("Restore"))
    if not archived:
        return ArchiveState(url, storage_class, "not needed")
    if ongoing is None:
        return ArchiveState(url, storage_class, "needed")
    return ArchiveState(url, storage_class, "in progress" if ongoing else "restored", expiry)


def archived_error(url: str, storage_class: str | None) -> ArchivedObject:
    what = f"the {storage_class} storage class" if storage_class else "an archive storage class"
    return ArchivedObject(f"{url} is in {what} and must be restored before its full-resolution pixels can be read "
                          f"(an administrator runs `stratascope restore`); thumbnails and overviews stay available",
                          url=url)


class ArchiveInspector:
    """Storage classes and restores of S3 objects, through boto3 clients made per bucket."""

    def __init__(self, overrides: dict[str, dict] | None = None, *, endpoint_url: str | None = None,
                 region: str | None = None, counter: RequestCounter = SOURCE_REQUESTS):
        self.overrides = overrides or {}
        self.endpoint_url, self.region = endpoint_url, region
        self.counter = counter
        self._lock = threading.Lock()
        self._clients: dict[str, object] = {}
        self._states: dict[str, tuple[float, ArchiveState]] = {}

    def forget(self) -> None:
        """Forget clients and restore states learnt so far."""
        with self._lock:
            self._clients.clear()
            self._states.clear()

    def s3_client(self, location: Location):
        """A boto3 S3 client for the bucket (cached per bucket; boto3 clients are thread-safe)."""
        with self._lock:
            client = self._clients.get(location.root)
            if client is None:
                client = boto3_s3_client(self.overrides.get(location.root, {}), self.endpoint_url, self.region)
                self._clients[location.root] = client
            return client

    def head_state(self, url: str) -> ArchiveState:
        """Storage class and restore state of one object (one HEAD; blocking)."""
        location = parse_url(url)
        if location.scheme != "s3":
            return ArchiveState(location.url, None, "not needed")
        try:
            head = self.s3_client(location).head_object(Bucket=location.bucket, Key=location.key)
        except Exception as exc:
            raise StorageError(f"cannot read the storage class of {location.url}: {error_code(exc)}") from exc
        finally:
            self.counter.record("head")
        found = state_from_head(location.url, head)
        with self._lock:
            self._states[location.url] = (time.monotonic(), found)
        return found


    def cached_state(self, url: str) -> ArchiveState:
        """`head_state`, reusing an answer younger than STATE_TTL seconds."""
        with self._lock:
            hit = self._states.get(url)
        if hit and time.monotonic() - hit[0] < STATE_TTL:
            return hit[1]
        return self.head_state(url)


    def list_classes(self, prefix_url: str, *, max_pages: int | None = None) -> dict[str, str]:
        """url -> storage class of every object under an S3 prefix (one LIST per 1000 objects)."""
        location = parse_url(prefix_url)
        if location.scheme != "s3":
            return {}
        prefix = location.key.rstrip("/") + "/" if location.key else ""
        paginator = self.s3_client(location).get_paginator("list_objects_v2")
        classes: dict[str, str] = {}
        for number, page in enumerate(paginator.paginate(Bucket=location.bucket, Prefix=prefix)):
            self.counter.record("list")
            for obj in page.get("Contents", []):
                classes[f"{location.root.rstrip('/')}/{obj['Key']}"] = obj.get("StorageClass") or "STANDARD"
            if max_pages is not None and number + 1 >= max_pages:
                break
        return classes


    def request_restore(self, url: str, days: int, tier: str = "Standard") -> str:
        """Ask S3 to restore one archived object for `days` days (RestoreObject).

        Returns "requested" (202: restore started), "restored" (200: a restored copy exists, its
        expiry is extended), "in progress" (409 RestoreAlreadyInProgress) or "not needed" (the
        object is not in an archive class)."""
        location = parse_url(url)
        if location.scheme != "s3":
            return "not needed"
        try:
            answer = self.s3_client(location).restore_object(
                Bucket=location.bucket, Key=location.key,
                RestoreRequest={"Days": int(days), "GlacierJobParameters": {"Tier": tier}},
            )
        except Exception as exc:
            code = error_code(exc)
            if code == "RestoreAlreadyInProgress":
                return "in progress"
            if code == "InvalidObjectState":  # S3's answer for an object that is not archived
                return "not needed"
            raise StorageError(f"restore of {location.url} was refused: {code}") from exc
        finally:
            with self._lock:
                self._states.pop(location.url, None)
        return "restored" if answer["ResponseMetadata"]["HTTPStatusCode"] == 200 else "requested"


    async def explain(self, exc: ArchivedObject) -> ArchivedObject:
        """Fill in whether a restore is already running for the object a read failed on."""
        url = getattr(exc, "url", None)
        if not url:
            return exc
        try:
            found = await asyncio.to_thread(self.cached_state, url)
        except StorageError:
            return exc
        exc.restore_in_progress = found.restore == "in progress"
        return exc


    def storage_classes(self, urls: list[str], root_url: str, *, max_heads: int = 64) -> dict[str, str]:
        """Storage classes of an image's source objects, for import: one LIST page under the
        image's root (Zarr) and a HEAD for each object not seen there (a TIFF: one HEAD).
        Non-S3 URLs, and objects past `max_heads`, are left out."""
        s3_urls = [u for u in urls if parse_url(u).scheme == "s3"]
        if not s3_urls:
            return {}
        classes = self.list_classes(root_url, max_pages=1) if len(s3_urls) > 1 else {}
        found = {u: classes[u] for u in s3_urls if u in classes}
        for url in [u for u in s3_urls if u not in found][:max_heads]:
            found[url] = self.cached_state(url).storage_class or "STANDARD"
        return found
