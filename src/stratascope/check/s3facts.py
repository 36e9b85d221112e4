"""Facts obstore cannot tell: bucket versioning, storage classes, RestoreObject support.

On S3 these come from boto3 (optional: used when installed), built from the same AWS_*
environment and `[stores."s3://bucket"]` table as obstore. Elsewhere they are derived
from what HEAD returns (a version id means the store keeps versions).
"""

from __future__ import annotations

import asyncio
from collections import Counter

from ..config import Settings
from ..storage import Location, ObjectInfo
from ..storage.archive import ARCHIVE_CLASSES
from ..storage.boto import boto3_s3_client, error_code
from .model import FAIL, PASS, WARN, CheckItem, short_error


def boto3_client(location: Location, settings: Settings):
    """A boto3 S3 client for the bucket, configured as the archive inspector's clients are."""
    return boto3_s3_client(settings.stores.get(location.root, {}), settings.aws_endpoint_url, settings.aws_region)


async def versioning(location: Location, client, head: ObjectInfo | None) -> CheckItem:
    title = "Versioning"
    pinned = "stratascope records version ids and keeps serving imported pixels after an overwrite."
    unpinned = ("Without versions an overwritten object cannot be served as imported: verify reports it "
                "as 'changed' and the image must be re-imported.")
    if location.scheme == "file":
        return CheckItem("versioning", title, WARN, "local folder: no versions", unpinned)
    if client is not None:
        try:
            answer = await asyncio.to_thread(client.get_bucket_versioning, Bucket=location.bucket)
            status = answer.get("Status") or "never enabled"
            if status == "Enabled":
                return CheckItem("versioning", title, PASS, "bucket versioning Enabled", pinned)
            return CheckItem("versioning", title, WARN, f"bucket versioning {status}", unpinned)
        except Exception as exc:  # noqa: BLE001 - e.g. AccessDenied: fall back to HEAD
            note = f" (GetBucketVersioning: {error_code(exc)})"
    else:
        note = " (boto3 not installed)" if location.scheme == "s3" else ""
    if head is not None and head.version:
        return CheckItem("versioning", title, PASS, f"HEAD returns version id {head.version}{note}", pinned)
    figure = ("no version id on HEAD" if head is not None else "untested: no object") + note
    return CheckItem("versioning", title, WARN, figure, unpinned)


async def storage_classes(location: Location, client) -> tuple[CheckItem, list[str]]:
    """Storage classes of up to 1000 objects under the prefix; also returns archived keys."""
    title = "Storage classes"
    if location.scheme != "s3":
        return CheckItem("storage_classes", title, PASS, f"{location.scheme}: single tier as seen by stratascope",
                         "No archive tier detected through this interface."), []
    if client is None:
        return CheckItem("storage_classes", title, WARN, "untested: boto3 not installed",
                         "Install boto3 to see storage classes (archived objects need a restore first)."), []
    prefix = location.key.rstrip("/") + "/" if location.key else ""
    try:
        page = await asyncio.to_thread(client.list_objects_v2, Bucket=location.bucket, Prefix=prefix, MaxKeys=1000)
    except Exception as exc:  # noqa: BLE001
        return CheckItem("storage_classes", title, FAIL, short_error(exc), "Cannot list storage classes."), []
    contents = page.get("Contents", [])
    classes = Counter(obj.get("StorageClass", "STANDARD") for obj in contents)
    archived = [obj["Key"] for obj in contents if obj.get("StorageClass") in ARCHIVE_CLASSES]
    figure = ", ".join(f"{name}: {n}" for name, n in classes.most_common()) or "no objects"
    figure += f" (first {len(contents)} objects)"
    if archived:
        return CheckItem("storage_classes", title, WARN, figure,
                         "Some objects are in archive classes: stratascope serves their thumbnails and overviews "
                         "from the cache and asks for a restore before full-resolution reads."), archived
    return CheckItem("storage_classes", title, PASS, figure,
                     "Every object is immediately readable; no restores needed."), []


async def restore(location: Location, client, archived: list[str], probe_key: tuple[str, str] | None) -> CheckItem:
    """RestoreObject support: exercised only on the write probe's own object (never on source data)."""
    title = "Restore support (archive classes)"
    if location.scheme != "s3":
        return CheckItem("restore", title, PASS, "not applicable", "No archive tier behind this store type.")
    if client is None:
        return CheckItem("restore", title, WARN, "untested: boto3 not installed", "Install boto3 to test restores.")
    if probe_key is not None:
        bucket, key = probe_key
        try:
            await asyncio.to_thread(client.restore_object, Bucket=bucket, Key=key, RestoreRequest={"Days": 1})
            code = "accepted"
        except Exception as exc:  # noqa: BLE001 - the error code is the answer
            code = error_code(exc)
        if code in {"InvalidObjectState", "accepted"}:
            return CheckItem("restore", title, PASS, f"RestoreObject on a STANDARD probe object: {code}",
                             "The RestoreObject API is implemented: stratascope can request restores.")
        return CheckItem("restore", title, WARN, f"RestoreObject on the probe object: {code}",
                         "RestoreObject is not implemented: archived objects must be restored by other means.")
    if archived:
        try:
            head = await asyncio.to_thread(client.head_object, Bucket=location.bucket, Key=archived[0])
            state = head.get("Restore") or "no restore requested"
        except Exception as exc:  # noqa: BLE001
            state = error_code(exc)
        return CheckItem("restore", title, WARN, f"{archived[0]}: {state} (RestoreObject not exercised: read-only)",
                         "Run with --write-probe to test that restore requests are accepted.")
    return CheckItem("restore", title, WARN, "untested (read-only, no archived objects)",
                     "Run with --write-probe to test the RestoreObject API before moving data to an archive class.")
