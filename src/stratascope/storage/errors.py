"""One error tree for the storage layer; api/errors.py maps each class to an HTTP status.

storage/source.py is the only place that turns obstore's exceptions into these.
"""


class StorageError(Exception):
    """Root of every storage failure."""


class InvalidURL(StorageError):
    """The URL cannot name an object or prefix in any supported store."""


class NotAllowed(StorageError):
    """The URL is outside the stores/prefixes the configuration allows."""


class RedirectRefused(NotAllowed):
    """An HTTP(S) source answered with a redirect: never followed (it could point anywhere)."""


class ObjectNotFound(StorageError):
    """The object (or object version) does not exist."""


class AccessDenied(StorageError):
    """The store refused the request (403 / 401): credentials or policy, not the client's fault."""


class ArchivedObject(StorageError):
    """The object is in an archive storage class and must be restored before reading."""

    def __init__(self, message: str, *, url: str | None = None, restore_in_progress: bool = False):
        super().__init__(message)
        self.url = url
        self.restore_in_progress = restore_in_progress


class RangeNotSatisfiable(StorageError):
    """The requested byte range starts at or past the end of the object (HTTP 416)."""


class ObjectChanged(StorageError):
    """Bytes read do not match what import recorded (length, version, checksum)."""


class StoreUnavailable(StorageError):
    """The store could not be reached or kept failing (5xx, resets) after retries."""


class StoreTimeout(StoreUnavailable):
    """The store accepted the request but did not answer in time (after retries)."""
