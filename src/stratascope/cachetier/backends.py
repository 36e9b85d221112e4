"""Where cache entries are stored: a local folder, or a prefix of an object store.

Backends move framed bytes and know nothing about budgets or checksums. Both are safe
for several processes at once: a local write goes to a temporary file that is then
renamed into place (readers see the old entry or the new one, never half of one), an
object PUT is atomic, and removing something that is already gone is not an error.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import obstore
from obstore import exceptions as obx

from ..storage.accounting import RequestCounter
from ..storage.urls import Location
from .entry import HEADER_SIZE, looks_like_entry

log = logging.getLogger(__name__)

#: Requests made to an object-store cache tier (never counted as source requests).
CACHE_REQUESTS = RequestCounter()


class LocalFolder:
    """Entries as files `root/<key>`; the index lives in `root/.index.sqlite`."""

    def __init__(self, root: Path):
        self.root = Path(os.path.abspath(root))
        self.root.mkdir(parents=True, exist_ok=True)
        self.url = str(self.root)

    def index_path(self, home: Path) -> Path:
        return self.root / ".index.sqlite"

    def _path(self, key: str) -> Path:
        path = os.path.normpath(os.path.join(self.root, key))
        if not path.startswith(str(self.root) + os.sep):  # keys are checked; this is the last line of defence
            raise ValueError(f"cache key {key!r} escapes the cache root")
        return Path(path)

    def read(self, key: str) -> tuple[bytes, object] | None:
        """The stored bytes and a token naming this exact file (for `remove`), or None."""
        try:
            with open(self._path(key), "rb") as fh:
                stat = os.fstat(fh.fileno())
                return fh.read(), (stat.st_dev, stat.st_ino)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def write(self, key: str, data: bytes) -> None:
        path = self._path(key)
        for attempt in range(3):  # another process may remove an emptied folder meanwhile
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")
            try:
                with open(tmp, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, path)
                return
            except FileNotFoundError:
                if attempt == 2:
                    raise
            finally:
                if tmp.exists():
                    tmp.unlink(missing_ok=True)

    def remove(self, key: str, token: object = None) -> None:
        """Remove an entry; with a token, only if the file is still the one that was read."""
        path = self._path(key)
        try:
            if token is not None:
                stat = os.stat(path)
                if (stat.st_dev, stat.st_ino) != token:
                    return  # replaced by a fresh write meanwhile: keep it
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            return
        self._prune_dirs(path.parent)

    def _prune_dirs(self, folder: Path) -> None:
        while folder != self.root and folder.is_relative_to(self.root):
            try:
                folder.rmdir()
            except OSError:  # not empty, or already gone
                return
            folder = folder.parent

    def scan(self, prefix: str = "") -> Iterator[tuple[str, int, int]]:
        """(key, size, mtime_ns) of every entry under `prefix` (only files that carry our header)."""
        start = self._path(prefix.rstrip("/")) if prefix else self.root
        for folder, dirs, files in os.walk(start):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in files:
                if name.startswith("."):
                    continue
                path = os.path.join(folder, name)
                try:
                    with open(path, "rb") as fh:
                        if not looks_like_entry(fh.read(HEADER_SIZE)):
                            continue
                        stat = os.fstat(fh.fileno())
                except OSError:
                    continue
                yield os.path.relpath(path, self.root).replace(os.sep, "/"), stat.st_size, stat.st_mtime_ns


class ObjectStorePrefix:
    """Entries as objects `<prefix>/<key>` in a (faster) bucket; the only store we ever write to."""

    def __init__(self, location: Location, store):
        if not location.key:
            raise ValueError(
                f"an object-store cache needs its own prefix (e.g. {location.root}/stratascope-cache/), "
                "not a whole bucket"
            )
        self.location = location
        self.prefix = location.key.strip("/") + "/"
        self.url = f"{location.root}/{self.prefix}"
        self.store = store

    def index_path(self, home: Path) -> Path:
        import hashlib

        digest = hashlib.sha256(self.url.encode()).hexdigest()[:16]
        return Path(home) / "cache-index" / f"{digest}.sqlite"

    def read(self, key: str) -> tuple[bytes, object] | None:
        try:
            result = obstore.get(self.store, self.prefix + key)
            data = bytes(result.bytes())
        except (obx.NotFoundError, FileNotFoundError):
            CACHE_REQUESTS.record("get")
            return None
        CACHE_REQUESTS.record("get", len(data))
        return data, result.meta.get("e_tag")

    def write(self, key: str, data: bytes) -> None:
        obstore.put(self.store, self.prefix + key, data)
        CACHE_REQUESTS.record("put")

    def remove(self, key: str, token: object = None) -> None:
        # S3 has no portable conditional delete; a concurrent re-put of a corrupt entry may
        # be lost, which only costs one more miss.
        try:
            obstore.delete(self.store, self.prefix + key)
        except (obx.NotFoundError, FileNotFoundError):
            pass
        CACHE_REQUESTS.record("delete")

    def scan(self, prefix: str = "") -> Iterator[tuple[str, int, int]]:
        for page in obstore.list(self.store, self.prefix + prefix, chunk_size=1000):
            CACHE_REQUESTS.record("list")
            for meta in page:
                key = meta["path"][len(self.prefix):]
                modified = meta.get("last_modified")
                yield key, int(meta["size"]), int(modified.timestamp() * 1e9) if modified else 0
