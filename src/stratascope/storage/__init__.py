"""Bytes and URLs: counted, read-only access to source stores (nothing about images)."""

from .accounting import SOURCE_REQUESTS, RequestCounts
from .errors import (
    AccessDenied,
    ArchivedObject,
    InvalidURL,
    NotAllowed,
    ObjectChanged,
    ObjectNotFound,
    RangeNotSatisfiable,
    StorageError,
    StoreTimeout,
    StoreUnavailable,
)
from .source import SOURCE, ObjectInfo, SourceReader
from .urls import Location, parse_url

__all__ = [
    "SOURCE", "SOURCE_REQUESTS", "AccessDenied", "ArchivedObject", "InvalidURL", "Location", "NotAllowed",
    "ObjectChanged", "ObjectInfo", "ObjectNotFound", "RangeNotSatisfiable", "RequestCounts", "SourceReader",
    "StorageError", "StoreTimeout", "StoreUnavailable", "parse_url",
]
