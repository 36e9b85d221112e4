"""Image records for request handlers, cached briefly so a tile costs no SQL round trip.

The TTL keeps replicas coherent: a re-import (new revision) is seen within seconds.
"""

from __future__ import annotations

import asyncio
import threading
import time

from .. import catalogue, state
from ..catalogue.records import ImageRecord
from ..integrity.status import refusal
from .errors import ApiError

TTL_SECONDS = 5.0
MAX_ENTRIES = 1024

_lock = threading.Lock()
_records: dict[int, tuple[float, ImageRecord]] = {}


def get_image_cached(image_id: int) -> ImageRecord:
    now = time.monotonic()
    with _lock:
        hit = _records.get(image_id)
        if hit and now - hit[0] < TTL_SECONDS:
            return hit[1]
    record = catalogue.get_image(image_id)
    with _lock:
        if len(_records) >= MAX_ENTRIES:
            _records.clear()
        _records[image_id] = (now, record)
    return record


async def load_image(image_id: int) -> ImageRecord:
    """The full record (levels and manifests) or catalogue.NotFound; refuses unusable images."""
    with _lock:
        hit = _records.get(image_id)
    if hit and time.monotonic() - hit[0] < TTL_SECONDS:
        record = hit[1]
    else:
        record = await asyncio.to_thread(get_image_cached, image_id)
    refused = refusal(record)
    if refused is not None:  # marked missing/changed by `stratascope verify`: never serve wrong pixels
        raise ApiError(*refused)
    return record


@state.on_reset
def forget() -> None:
    with _lock:
        _records.clear()
