"""Source URLs: s3://, gs://, az://, https://, file:// and plain local paths."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from .errors import InvalidURL

REMOTE_SCHEMES = {"s3", "gs", "az", "abfs", "http", "https"}


@dataclass(frozen=True)
class Location:
    """A store root (`scheme://bucket`) and a key inside it (no leading slash)."""

    scheme: str
    bucket: str  # bucket / container / host; "" for local files
    key: str

    @property
    def root(self) -> str:
        return "file://" if self.scheme == "file" else f"{self.scheme}://{self.bucket}"

    @property
    def url(self) -> str:
        if self.scheme == "file":
            return "file:///" + self.key
        return f"{self.root}/{self.key}" if self.key else self.root

    def child(self, relative: str) -> Location:
        relative = relative.strip("/")
        key = f"{self.key.rstrip('/')}/{relative}" if self.key else relative
        return Location(self.scheme, self.bucket, _normalise_key(key))

    @property
    def name(self) -> str:
        return self.key.rstrip("/").rsplit("/", 1)[-1] or self.bucket


def _normalise_key(key: str) -> str:
    parts = [p for p in key.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidURL(f"'..' is not allowed in object keys: {key!r}")
    return "/".join(parts)


def parse_url(url: str) -> Location:
    """Parse a source URL or local path into a `Location`. Raises `InvalidURL`."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidURL("empty URL")
    url = url.strip()
    if "\x00" in url:
        raise InvalidURL("URL contains a NUL byte")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("", "file") or (len(scheme) == 1 and os.name == "nt"):
        path = unquote(parts.path) if scheme == "file" else url
        if scheme == "file" and parts.netloc not in ("", "localhost"):
            raise InvalidURL(f"file URLs must be local: {url!r}")
        absolute = os.path.abspath(os.path.expanduser(path))
        if any(p == ".." for p in path.split("/")):
            raise InvalidURL(f"'..' is not allowed in paths: {url!r}")
        return Location("file", "", _normalise_key(absolute))
    if scheme not in REMOTE_SCHEMES:
        raise InvalidURL(f"unsupported URL scheme {scheme!r} in {url!r} (use s3, gs, az, https, file)")
    if not parts.netloc:
        raise InvalidURL(f"missing bucket or host in {url!r}")
    if parts.query or parts.fragment:
        raise InvalidURL(f"query strings and fragments are not allowed in source URLs: {url!r}")
    scheme = "az" if scheme == "abfs" else scheme
    return Location(scheme, parts.netloc, _normalise_key(unquote(parts.path)))
