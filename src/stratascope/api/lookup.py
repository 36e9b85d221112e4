"""Image records for request handlers, cached briefly so a tile costs no SQL round trip.

The TTL keeps replicas coherent: a re-import (new revision) is seen within seconds, and so is a
change of visibility (`stratascope publish` / `chown`).
"""

from __future__ import annotations

import asyncio
import threading
import time

from .. import catalogue, state
from ..auth.principal import Principal
from ..catalogue.records import ImageRecord
from ..integrity.status import refusal
from .errors import ApiError

TTL_SECONDS = 5.0
MAX_ENTRIES = 1024

_lock = threading.Lock()
# image id -> (time, record, (public, owning group id) in effect for the image)
_records: dict[int, tuple[float, ImageRecord, tuple[bool, int | None]]] = {}


def get_image_cached(image_id: int) -> ImageRecord:
    return _cached_entry(image_id)[1]


def _cached_entry(image_id: int) -> tuple[float, ImageRecord, tuple[bool, int | None]]:
    now = time.monotonic()
    with _lock:
        hit = _records.get(image_id)
        if hit and now - hit[0] < TTL_SECONDS:
            return hit
    record = catalogue.get_image(image_id)
    entry = (now, record, catalogue.image_access(image_id))
    with _lock:
        if len(_records) >= MAX_ENTRIES:
            _records.clear()
        _records[image_id] = entry
    return entry


async def load_image(image_id: int, viewer: Principal) -> ImageRecord:
    """The full record (levels and manifests) or catalogue.NotFound; refuses unusable images.

    An image `viewer` may not read is NotFound too (404, exactly as a missing one)."""
    with _lock:
        hit = _records.get(image_id)
    if not (hit and time.monotonic() - hit[0] < TTL_SECONDS):
        hit = await asyncio.to_thread(_cached_entry, image_id)
    _, record, access = hit
    if not viewer.can_read(*access):  # checked first: nothing about a hidden image may show
        raise catalogue.NotFound(f"image {image_id} not found")
    refused = refusal(record)
    if refused is not None:  # marked missing/changed by `stratascope verify`: never serve wrong pixels
        raise ApiError(*refused)
    return record


@state.on_reset
def forget() -> None:
    with _lock:
        _records.clear()
