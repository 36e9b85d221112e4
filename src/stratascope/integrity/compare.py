"""Compare what import recorded about a source object with what the store reports now."""

from __future__ import annotations

from dataclasses import dataclass

from ..formats.model import SourceObject
from ..storage import ObjectInfo

OK, MISSING, CHANGED, UNREGISTERED, ERROR = "ok", "missing", "changed", "unregistered", "error"
#: object statuses that mark an image in the catalogue (worst first)
IMAGE_STATUSES = (MISSING, CHANGED)


@dataclass(frozen=True)
class ObjectResult:
    url: str
    status: str  # ok | missing | changed | unregistered | error
    detail: str = ""
    recorded: SourceObject | None = None
    current: ObjectInfo | None = None
    via: str = ""  # "head" | "list": which request produced `current`

    def as_dict(self) -> dict:
        out: dict = {"url": self.url, "status": self.status, "detail": self.detail, "via": self.via}
        if self.recorded is not None:
            out["recorded"] = _fields(self.recorded.size, self.recorded.etag, self.recorded.version)
        if self.current is not None:
            out["current"] = _fields(self.current.size, self.current.etag, self.current.version)
        return out


def _fields(size, etag, version) -> dict:
    return {"size": size, "etag": etag, "version": version}


def compare(recorded: SourceObject, current: ObjectInfo, via: str) -> ObjectResult:
    """ok, or changed with the reason. ETag and version are compared only when both sides
    have one: a listing carries no version id, and a store may not report ETags."""
    reasons = []
    if current.size != recorded.size:
        reasons.append(f"size {recorded.size} -> {current.size}")
    if recorded.etag and current.etag and recorded.etag != current.etag:
        reasons.append(f"ETag {recorded.etag} -> {current.etag}")
    if recorded.version and current.version and recorded.version != current.version:
        reasons.append(f"version {recorded.version} -> {current.version}")
    status = CHANGED if reasons else OK
    return ObjectResult(recorded.url, status, "; ".join(reasons), recorded, current, via)


def missing(recorded: SourceObject, via: str) -> ObjectResult:
    return ObjectResult(recorded.url, MISSING, "the object no longer exists", recorded, None, via)


def failed(recorded: SourceObject, message: str, via: str) -> ObjectResult:
    return ObjectResult(recorded.url, ERROR, message, recorded, None, via)
