"""Image records for request handlers, cached briefly so a tile costs no SQL round trip.

The TTL (services.records) keeps replicas coherent: a re-import (new revision) is seen within
seconds, and so is a change of visibility (`stratascope publish` / `chown`).
"""

from __future__ import annotations

import asyncio

from .. import catalogue
from ..catalogue.principal import Principal
from ..catalogue.records import ImageRecord
from ..catalogue.status import refusal
from ..services import Services
from .errors import ApiError


def _entry(services: Services, image_id: int) -> tuple[ImageRecord, tuple[bool, int | None]]:
    db = services.catalogue
    return services.records.get_or_compute(
        image_id, lambda: (catalogue.get_image(db, image_id), catalogue.image_access(db, image_id)))


async def load_image(services: Services, image_id: int, viewer: Principal) -> ImageRecord:
    """The full record (levels and manifests) or catalogue.NotFound; refuses unusable images.

    An image `viewer` may not read is NotFound too (404, exactly as a missing one)."""
    hit = services.records.peek(image_id)
    if hit is None:
        hit = await asyncio.to_thread(_entry, services, image_id)
    record, access = hit
    if not viewer.can_read(*access):  # checked first: nothing about a hidden image may show
        raise catalogue.NotFound(f"image {image_id} not found")
    refused = refusal(record)
    if refused is not None:  # marked missing/changed by `stratascope verify`: never serve wrong pixels
        raise ApiError(*refused)
    return record.seen_by(viewer)  # a project `viewer` may not read is not named
