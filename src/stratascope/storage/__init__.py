"""Bytes and URLs: counted, read-only access to source stores (nothing about images)."""

from .accounting import SOURCE_REQUESTS, RequestCounts
from .errors import (
    ArchivedObject,
    IntegrityError,
    InvalidURL,
    NotAllowed,
    ObjectNotFound,
    StorageError,
    StoreUnavailable,
)
from .source import SOURCE, ObjectInfo, SourceReader
from .urls import Location, parse_url

__all__ = [
    "SOURCE", "SOURCE_REQUESTS", "ArchivedObject", "IntegrityError", "InvalidURL", "Location",
    "NotAllowed", "ObjectInfo", "ObjectNotFound", "RequestCounts", "SourceReader", "StorageError",
    "StoreUnavailable", "parse_url",
]
