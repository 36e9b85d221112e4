"""A read-only, seekable file object over a source object, for sync parsers (tifffile).

Parsers such as tifffile are synchronous and want `seek` / `read`; our storage reader
is async. `RangedFile` is used from a worker thread and sends every fetch to the event
loop that owns the reader (`asyncio.run_coroutine_threadsafe`). Reads are rounded to
aligned blocks and cached, so walking IFDs (many small reads close together) costs few
ranged GETs; adjacent missing blocks are fetched with one request.

Guards, because the bytes may be hostile: reads are clamped to the object size, the
total bytes transferred are capped (`max_transfer`), the cache is LRU-bounded, every
fetch has a timeout, and `cancel()` makes the next read fail so a timed-out parse
stops instead of running on in its thread.
"""

from __future__ import annotations

import asyncio
import io
from collections import OrderedDict

from .model import FormatError

BLOCK_SIZE = 32 * 1024
FIRST_READ = 64 * 1024  # header, first IFD and usually the OME-XML in one request
FETCH_TIMEOUT = 90.0  # the store's own retry budget is ~30 s
MAX_TRANSFER = 512 * 2**20
MAX_CACHE = 64 * 2**20


class ParseCancelled(FormatError):
    """The parse took too long and was abandoned."""


class RangedFile(io.RawIOBase):
    def __init__(self, reader, url: str, size: int, loop: asyncio.AbstractEventLoop, *,
                 version: str | None = None, name: str = "", max_transfer: int = MAX_TRANSFER):
        super().__init__()
        self._reader = reader
        self._url = url
        self._version = version
        self._size = int(size)
        self._loop = loop
        self._pos = 0
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self._cached = 0
        self._cancelled = False
        self.max_transfer = max_transfer
        self.transferred = 0
        self.requests = 0
        self.name = name  # tifffile uses it for messages only; no directory, so no sibling files
        #: the first storage error seen; parsers may swallow exceptions, callers re-raise this
        self.error: Exception | None = None

    # io protocol -----------------------------------------------------------------
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def fileno(self) -> int:  # not a real file: tifffile must not memory-map it
        raise io.UnsupportedOperation("fileno")

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        position = base + int(offset)
        if position < 0:
            raise OSError(f"negative seek position {position}")
        self._pos = position
        return position

    def read(self, size: int = -1) -> bytes:
        end = self._size if size is None or size < 0 else min(self._size, self._pos + int(size))
        if end <= self._pos:
            return b""
        data = self._read_span(self._pos, end)
        self._pos = end
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def cancel(self) -> None:
        self._cancelled = True

    # block cache -------------------------------------------------------------------
    def _read_span(self, start: int, end: int) -> bytes:
        first, last = start // BLOCK_SIZE, (end - 1) // BLOCK_SIZE
        found = {}
        for block in range(first, last + 1):
            if block in self._blocks:
                self._blocks.move_to_end(block)
                found[block] = self._blocks[block]
        missing = [b for b in range(first, last + 1) if b not in found]
        # one request per run of adjacent missing blocks
        run_start = None
        for i, block in enumerate(missing):
            if run_start is None:
                run_start = block
            if i + 1 == len(missing) or missing[i + 1] != block + 1:
                found.update(self._fetch_blocks(run_start, block))
                run_start = None
        parts = [found[block] for block in range(first, last + 1)]
        joined = b"".join(parts)
        offset = start - first * BLOCK_SIZE
        return joined[offset: offset + (end - start)]

    def _fetch_blocks(self, first: int, last: int) -> dict[int, bytes]:
        if self._cancelled:
            raise ParseCancelled(f"{self._url}: parsing took too long and was abandoned")
        start = first * BLOCK_SIZE
        end = min(self._size, (last + 1) * BLOCK_SIZE)
        if self.requests == 0:
            end = min(self._size, max(end, FIRST_READ))
            last = (end - 1) // BLOCK_SIZE
        if self.transferred + (end - start) > self.max_transfer:
            raise FormatError(
                f"{self._url}: metadata needs more than {self.max_transfer // 2**20} MiB of reads; refusing"
            )
        coroutine = self._reader.get_range(self._url, start, end, version=self._version)
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            data = future.result(timeout=FETCH_TIMEOUT)
        except TimeoutError as exc:
            future.cancel()
            self.error = self.error or ParseCancelled(f"{self._url}: a read timed out after {FETCH_TIMEOUT:.0f} s")
            raise self.error from exc
        except Exception as exc:
            self.error = self.error or exc
            raise
        self.requests += 1
        self.transferred += len(data)
        if len(data) != end - start:
            changed = FormatError(f"{self._url}: object changed or is truncated (read {len(data)} of {end - start} bytes)")
            self.error = self.error or changed
            raise changed
        fetched = {}
        for block in range(first, last + 1):
            offset = (block - first) * BLOCK_SIZE
            fetched[block] = data[offset: offset + BLOCK_SIZE]
            if block not in self._blocks:
                self._blocks[block] = fetched[block]
                self._cached += len(fetched[block])
        while self._cached > MAX_CACHE and self._blocks:
            _, evicted = self._blocks.popitem(last=False)
            self._cached -= len(evicted)
        return fetched
