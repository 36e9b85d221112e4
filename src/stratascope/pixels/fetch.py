"""The one path by which chunk bytes are read from a source store."""

from __future__ import annotations

from ..storage import SOURCE, IntegrityError, SourceReader


class SourceFetch:
    """`Fetch` callable over the counted source reader, with length checks.

    start=None reads the whole object; start<0 with end=None reads the last -start bytes.
    """

    def __init__(self, reader: SourceReader = SOURCE):
        self.reader = reader

    async def __call__(self, url: str, start: int | None, end: int | None, version: str | None = None) -> bytes:
        if start is None:
            return await self.reader.get(url, version=version)
        if start < 0 and end is None:
            return await self.reader.get_suffix(url, -start, version=version)
        data = await self.reader.get_range(url, start, end, version=version)
        if len(data) != end - start:
            raise IntegrityError(
                f"{url}: expected {end - start} bytes at offset {start}, got {len(data)} "
                "(the object changed or was truncated since import)"
            )
        return data
