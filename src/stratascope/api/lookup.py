"""Image records for request handlers, cached briefly so a tile costs no SQL round trip.

The TTL (services.records) keeps replicas coherent: a re-import (new revision) is seen within
seconds, and so is a change of visibility (`stratascope publish` / `chown`).

No existence oracle (issue 14): an id that does not exist and an id the caller may not read
do the same work and are cached alike. Both cost one SQL statement (`catalogue.image_access`)
the first time and none for the TTL after it (the unknown id is cached as unknown, the hidden
one as its access alone: the full record is only loaded for a caller who may read it), and
both answer the same 404.
"""

from __future__ import annotations

import asyncio

from .. import catalogue
from ..catalogue.principal import Principal
from ..catalogue.records import ImageRecord
from ..catalogue.status import refusal
from ..services import Services
from .errors import ApiError

#: the cached access of an id that does not exist: nobody may read it, not even an admin
_ABSENT = (False, None)


def _access(services: Services, image_id: int) -> tuple[ImageRecord | None, tuple[bool, int | None]]:
    try:
        access = catalogue.image_access(services.catalogue, image_id)
    except catalogue.NotFound:
        access = _ABSENT
    entry = (None, access)
    services.records.put(image_id, entry)
    return entry


def _full(services: Services, image_id: int, access) -> tuple[ImageRecord, tuple[bool, int | None]]:
    try:
        entry = (catalogue.get_image(services.catalogue, image_id), access)
    except catalogue.NotFound:  # deleted meanwhile
        entry = (None, _ABSENT)
    services.records.put(image_id, entry)
    return entry


async def load_image(services: Services, image_id: int, viewer: Principal) -> ImageRecord:
    """The full record (levels and manifests) or catalogue.NotFound; refuses unusable images.

    An image `viewer` may not read is NotFound too (404, exactly as a missing one, and as fast).
    A project `viewer` may not read is not named in the record (`ImageRecord.seen_by`)."""
    hit = services.records.peek(image_id)
    if hit is None:
        hit = await asyncio.to_thread(_access, services, image_id)
    record, access = hit
    # checked first, for hidden and unknown ids alike: nothing about a hidden image may show
    if access is _ABSENT or not viewer.can_read(*access):
        raise catalogue.NotFound(f"image {image_id} not found")
    if record is None:  # readable by this caller: load the record once for everyone
        record, access = await asyncio.to_thread(_full, services, image_id, access)
        if record is None or not viewer.can_read(*access):
            raise catalogue.NotFound(f"image {image_id} not found")
    refused = refusal(record)
    if refused is not None:  # marked missing/changed by `stratascope verify`: never serve wrong pixels
        raise ApiError(*refused)
    return record.seen_by(viewer)
