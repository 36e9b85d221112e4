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
    RedirectRefused,
    StorageError,
    StoreTimeout,
    StoreUnavailable,
)
from .source import ObjectInfo, SourceReader
from .stores import RetryPolicy, StoreRegistry
from .urls import Location, parse_url

__all__ = [
    "SOURCE_REQUESTS", "AccessDenied", "ArchivedObject", "InvalidURL", "Location", "NotAllowed",
    "ObjectChanged", "ObjectInfo", "ObjectNotFound", "RangeNotSatisfiable", "RedirectRefused", "RequestCounts", "RetryPolicy",
    "SourceReader",
    "StorageError", "StoreRegistry", "StoreTimeout", "StoreUnavailable", "parse_url",
]
