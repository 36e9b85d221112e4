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
from .source import ObjectInfo, SourceReader
from .stores import RetryPolicy, StoreRegistry
from .urls import Location, parse_url

__all__ = [
    "SOURCE_REQUESTS", "ArchivedObject", "IntegrityError", "InvalidURL", "Location",
    "NotAllowed", "ObjectInfo", "ObjectNotFound", "RequestCounts", "RetryPolicy", "SourceReader", "StorageError",
    "StoreRegistry", "StoreUnavailable", "parse_url",
]
