"""Cache keys and the on-disk / on-store framing of one entry.

An entry is a 24-byte header (magic, payload length, CRC-32 of the payload) followed
by the payload. CRC-32 + length catches torn writes, truncation and bit rot (what a
cache must survive); it is not meant to resist deliberate tampering.
"""

from __future__ import annotations

import struct
import zlib

MAGIC = b"SSCACHE1"
_HEADER = struct.Struct("<8sQI4x")  # magic, payload length, crc32, padding
HEADER_SIZE = _HEADER.size
MAX_KEY_LENGTH = 1024


class InvalidKey(ValueError):
    """A cache key that could name something outside the cache root."""


class CorruptEntry(Exception):
    """Stored bytes do not match their header (torn write, truncation, bit rot)."""


def check_key(key: str) -> str:
    """Return `key` if it is a safe relative path `kind/...`; raise `InvalidKey` otherwise."""
    if not isinstance(key, str) or not key:
        raise InvalidKey("cache keys are non-empty strings")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidKey(f"cache key longer than {MAX_KEY_LENGTH} characters")
    if key.startswith("/") or "\\" in key or "\x00" in key or ":" in key.split("/", 1)[0]:
        raise InvalidKey(f"cache keys are relative paths: {key!r}")
    parts = key.split("/")
    if len(parts) < 2:
        raise InvalidKey(f"cache keys look like 'kind/name': {key!r}")
    for part in parts:
        # "." prefixes are reserved for the index and temporary files
        if part in ("", ".", "..") or part.startswith("."):
            raise InvalidKey(f"invalid path component {part!r} in cache key {key!r}")
    return key


def kind_of(key: str) -> str:
    """The entry kind: the first path component ("chunk", "thumb", "shardindex", ...)."""
    return key.split("/", 1)[0]


def normalise_prefix(kind: str) -> str:
    """'chunk' or 'chunk/' or 'thumb/12.3/' -> a key prefix ending in '/'."""
    prefix = kind.strip("/") + "/"
    check_key(prefix + "x")
    return prefix


def frame(payload: bytes) -> bytes:
    return _HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


def unframe(data: bytes) -> bytes:
    """The payload of a framed entry; raises `CorruptEntry` if anything does not match."""
    if len(data) < HEADER_SIZE:
        raise CorruptEntry(f"entry is {len(data)} bytes, shorter than its header")
    magic, length, crc = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise CorruptEntry("bad magic number")
    if len(data) - HEADER_SIZE != length:
        raise CorruptEntry(f"payload is {len(data) - HEADER_SIZE} bytes, header says {length}")
    payload = memoryview(data)[HEADER_SIZE:]
    if zlib.crc32(payload) != crc:
        raise CorruptEntry("checksum mismatch")
    return bytes(payload)


def looks_like_entry(head: bytes) -> bool:
    return head[: len(MAGIC)] == MAGIC
