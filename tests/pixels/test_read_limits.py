"""Bounds of every pixel read: chunks one request touches, fetches in flight, bytes per read.

Issue 14 (hardening), defects 2 and 4: an image with tiny chunks made one tile request start
65,536 fetches; a projection over many z (or a thumbnail of a flat image) read gigabytes.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from fastapi.testclient import TestClient

from stratascope import catalogue
from stratascope.api.app import create_app
from stratascope.pixels import PixelReader, ReadLimits, RegionTooLarge, SourceFetch
from stratascope.render import pipeline
from stratascope.storage import SOURCE_REQUESTS
from support.samples import smooth_array, write_ome_zarr_v04


def _client(services) -> TestClient:
    return TestClient(create_app(services))


def _source_requests(cost) -> int:
    return sum(cost.requests.values())


# --- defect 2: fan-out ---------------------------------------------------------------------

def test_default_limits(services):
    s = services.settings
    assert (s.max_chunks_per_request, s.max_concurrent_fetches, s.request_fetch_concurrency) == (4096, 64, 16)
    assert s.max_read_bytes == 512 * 2**20
    assert services.reader.limits.max_chunks == 4096 and services.base_reader.limits.max_bytes == 512 * 2**20


def test_tile_of_an_image_with_tiny_chunks_is_refused_before_any_fetch(tmp_path, monkeypatch, make_services,
                                                                        import_urls_sync):
    """2x2 chunks: a 64x64 tile is 1024 chunks, above a limit of 256 (the default 4096 is the
    same check for a 512x512 tile of 65,536 chunks, which takes long to write in a test)."""
    monkeypatch.setenv("STRATASCOPE_MAX_CHUNKS_PER_REQUEST", "256")
    write_ome_zarr_v04(tmp_path / "tiny.zarr", smooth_array((1, 1, 64, 64)), chunks=(1, 1, 2, 2))
    services = make_services()
    (result,) = import_urls_sync([str(tmp_path / "tiny.zarr")], services_=services)
    assert result.status == "imported", result  # derived data may be refused too (a warning), not the import
    with _client(services) as client:
        before = SOURCE_REQUESTS.snapshot()
        response = client.get(f"/webgateway/render_image_region/{result.id}/0/0/?tile=0,0,0,64,64")
        cost = SOURCE_REQUESTS.snapshot() - before
    assert response.status_code == 413, response.text
    message = response.json()["message"]
    assert "256" in message and "max_chunks_per_request" in message and "1024" in message
    assert _source_requests(cost) == 0


class CountingFetch:
    """A fetch that records how many calls are in flight at once."""

    def __init__(self, inner):
        self.inner, self.now, self.peak, self.calls = inner, 0, 0, 0

    async def __call__(self, url, start, end, version=None, generation=None):
        self.now += 1
        self.calls += 1
        self.peak = max(self.peak, self.now)
        try:
            await asyncio.sleep(0.005)
            return await self.inner(url, start, end, version)
        finally:
            self.now -= 1


@pytest.fixture
def small_chunked(tmp_path, import_urls_sync, services):
    data = write_ome_zarr_v04(tmp_path / "s.zarr", smooth_array((1, 1, 128, 128)), chunks=(1, 1, 16, 16))  # 64 chunks per plane
    (result,) = import_urls_sync([str(tmp_path / "s.zarr")])
    return catalogue.get_image(services.catalogue, result.id), data


def test_fetches_in_flight_are_bounded_per_reader_and_per_request(small_chunked, services):
    record, data = small_chunked
    fetch = CountingFetch(SourceFetch(services.source))
    reader = PixelReader(64 * 2**20, fetch=fetch,
                         limits=ReadLimits(request_concurrency=3, max_concurrent_fetches=5))

    one = asyncio.run(reader.read_region(record, 0, c=0))
    np.testing.assert_array_equal(one, data[0, 0, 0])
    assert fetch.calls == 64 and fetch.peak == 3  # one read: its own bound

    reader.forget()
    fetch.peak = fetch.calls = 0

    async def many():  # eight reads of distinct quarters-and-more: the reader-wide bound holds
        regions = [((y, y + 64), (x, x + 64)) for y in (0, 64) for x in (0, 64)] * 2
        return await asyncio.gather(*(reader.read_region(record, 0, c=0, y=y, x=x) for y, x in regions))

    asyncio.run(many())
    assert fetch.calls == 64 and fetch.peak == 5


def test_warm_respects_the_reader_wide_bound(small_chunked, services):
    record, _ = small_chunked
    fetch = CountingFetch(SourceFetch(services.source))
    reader = PixelReader(64 * 2**20, fetch=fetch, limits=ReadLimits(max_concurrent_fetches=4))
    indices = [(0, 0, 0, y, x) for y in range(8) for x in range(8)]
    errors = asyncio.run(reader.warm(record, 0, indices, concurrency=32))
    assert errors == [] and fetch.calls == 64 and fetch.peak == 4


# --- defect 4: one byte budget for every read ------------------------------------------------

def test_projection_over_many_z_is_refused_with_the_limit(tmp_path, monkeypatch, make_services, import_urls_sync):
    monkeypatch.setenv("STRATASCOPE_MAX_READ_BYTES", str(64 * 1024))
    data = smooth_array((1, 16, 64, 64))  # c=1, z=16, uint16: 8 KiB per plane, 128 KiB for all z
    write_ome_zarr_v04(tmp_path / "z.zarr", data, chunks=(1, 1, 64, 64))
    services = make_services()
    (result,) = import_urls_sync([str(tmp_path / "z.zarr")], services_=services)
    with _client(services) as client:
        plane = client.get(f"/webgateway/render_image_region/{result.id}/0/0/?tile=0,0,0")
        assert plane.status_code == 200, plane.text
        before = SOURCE_REQUESTS.snapshot()
        projected = client.get(f"/webgateway/render_image_region/{result.id}/0/0/?tile=0,0,0&p=intmax")
        cost = SOURCE_REQUESTS.snapshot() - before
        few = client.get(f"/webgateway/render_image_region/{result.id}/0/0/?tile=0,0,0&p=intmax|0:3")
    assert projected.status_code == 413, projected.text
    message = projected.json()["message"]
    assert "16 z" in message and "65536 bytes" in message
    assert "max_read_bytes" in message
    assert _source_requests(cost) == 0
    assert few.status_code == 200  # 4 z x 8 KiB is within the budget


def test_thumbnail_of_a_flat_tiff_without_cache_tier_is_refused(tmp_path, monkeypatch, make_services,
                                                                import_urls_sync):
    import tifffile

    monkeypatch.setenv("STRATASCOPE_CACHE_MAX_BYTES", "0")  # no cache tier: no overviews
    monkeypatch.setenv("STRATASCOPE_MAX_READ_BYTES", str(32 * 1024))
    data = smooth_array((512, 512), np.uint8)  # 256 KiB plane, no pyramid
    tifffile.imwrite(tmp_path / "flat.tif", data, tile=(128, 128), photometric="minisblack")
    services = make_services()
    (result,) = import_urls_sync([str(tmp_path / "flat.tif")], services_=services)
    assert result.status == "imported", result
    assert "max_read_bytes" in (result.error or "")  # thumbnails at import: refused, not read whole
    record = catalogue.get_image(services.catalogue, result.id)
    assert len(record.levels) == 1
    with _client(services) as client:
        before = SOURCE_REQUESTS.snapshot()
        response = client.get(f"/webgateway/render_thumbnail/{result.id}/")
        cost = SOURCE_REQUESTS.snapshot() - before
        tile = client.get(f"/webgateway/render_image_region/{result.id}/0/0/?tile=0,0,0,128,128")
    assert response.status_code == 413, response.text
    assert "max_read_bytes" in response.json()["message"]
    assert _source_requests(cost) == 0
    assert tile.status_code == 200


def test_render_plane_refuses_when_even_the_coarsest_level_is_too_big(small_chunked, services):
    record, _ = small_chunked  # a pyramid whose coarsest level is still 128x128 or so
    settings = pipeline.default_settings(record)
    coarsest = record.levels[-1].shape
    with pytest.raises(RegionTooLarge, match="no level small enough"):
        asyncio.run(pipeline.render_plane(services.reader, record, settings, z=0, t=0,
                                          max_pixels=coarsest[3] * coarsest[4] - 1))
