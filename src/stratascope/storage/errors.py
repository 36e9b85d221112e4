"""One error tree for the storage layer; api/ maps these to HTTP statuses."""


class StorageError(Exception):
    """Root of every storage failure."""


class InvalidURL(StorageError):
    """The URL cannot name an object or prefix in any supported store."""


class NotAllowed(StorageError):
    """The URL is outside the stores/prefixes the configuration allows."""


class ObjectNotFound(StorageError):
    """The object (or object version) does not exist."""


class StoreUnavailable(StorageError):
    """The store could not be reached, timed out or kept failing after retries."""


class ArchivedObject(StorageError):
    """The object is in an archive storage class and must be restored before reading."""

    def __init__(self, message: str, *, restore_in_progress: bool = False):
        super().__init__(message)
        self.restore_in_progress = restore_in_progress


class IntegrityError(StorageError):
    """Bytes read do not match what the manifest recorded (length, version)."""
