"""The pixel reader: concurrent requests share chunk fetches; the chunk LRU stays in budget."""

from __future__ import annotations

import asyncio

import numpy as np

from stratascope import catalogue
from stratascope.pixels import PixelReader, SourceFetch
from stratascope.pixels.memory_cache import ChunkLRU
from stratascope.storage import SOURCE_REQUESTS
from support.samples import smooth_array, write_ome_zarr_v04


def test_concurrent_requests_for_one_chunk_fetch_it_once(tmp_path, upload, import_urls_sync, services):
    data = smooth_array((1, 1, 256, 256))
    write_ome_zarr_v04(tmp_path / "c.zarr", data, chunks=(1, 1, 128, 128))
    (result,) = import_urls_sync([upload(tmp_path / "c.zarr", "c.zarr")])
    record = catalogue.get_image(services.catalogue, result.id)
    reader = PixelReader(64 * 2**20, fetch=SourceFetch(services.source))

    async def many():
        return await asyncio.gather(*(reader.read_region(record, 0, c=0, y=(0, 128), x=(0, 128)) for _ in range(20)))

    before = SOURCE_REQUESTS.snapshot()
    tiles = asyncio.run(many())
    cost = SOURCE_REQUESTS.snapshot() - before
    assert cost.requests["get"] + cost.requests["get_range"] == 1
    for tile in tiles:
        np.testing.assert_array_equal(tile, data[0, 0, :128, :128])


def test_chunk_lru_respects_its_byte_budget_and_order():
    lru = ChunkLRU(max_bytes=10_000)
    for i in range(50):
        lru.put(i, np.zeros(1000, np.uint8))
        assert lru.nbytes <= 10_000
    assert len(lru) == 10
    assert lru.get(40) is not None  # recently used survives the next evictions
    for i in range(50, 59):
        lru.put(i, np.zeros(1000, np.uint8))
    assert lru.get(40) is not None and lru.get(41) is None
    lru.put("huge", np.zeros(20_000, np.uint8))  # larger than the budget: not kept
    assert lru.get("huge") is None and lru.nbytes <= 10_000
