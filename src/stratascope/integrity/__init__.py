"""Integrity: are the source objects recorded at import still there and unchanged?

`verify()` compares each recorded object (size, ETag, version id) with its store using
HEADs or listings (see scan.py for the cost rule), finds unregistered objects under
imported prefixes, and marks images missing / changed (or ok again) in the catalogue.
`refusal()` tells the HTTP layer which images must not be served.
"""

from ..catalogue.status import pixels_pinned, refusal
from .compare import CHANGED, ERROR, MISSING, OK, UNREGISTERED, ObjectResult
from .verify import ImageReport, VerifyReport, load_records, mark, verify, verify_records

__all__ = [
    "CHANGED", "ERROR", "MISSING", "OK", "UNREGISTERED", "ImageReport", "ObjectResult", "VerifyReport",
    "load_records", "mark", "pixels_pinned", "refusal", "verify", "verify_records",
]
