"""Overview levels made at import: zooming out costs zero source requests (moto S3)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import tifffile
from fastapi.testclient import TestClient

from stratascope import catalogue
from stratascope.api.app import create_app
from stratascope.ingest.overviews import plan_new_levels, plan_planes
from stratascope.pixels.overview_chunks import down2
from stratascope.storage import SOURCE_REQUESTS
from support.samples import smooth_array, write_ome_zarr_v04


def read(services, record, level, **kw):
    return asyncio.run(services.reader.read_region(record, level, **kw))


def cost_of(func):
    before = SOURCE_REQUESTS.snapshot()
    result = func()
    return result, SOURCE_REQUESTS.snapshot() - before


def fresh_server_state(services):
    """What a server started after the import has: the catalogue and the cache tier on disk,
    nothing in memory (no decoded chunks, no codecs, no cached records)."""
    services.cache.get().flush()
    services.forget_memory()


@pytest.fixture
def flat_tiff(tmp_path, upload, import_urls_sync):
    """A 3000x3000 tiled TIFF without any pyramid, written by tifffile and imported from moto."""
    data = smooth_array((3000, 3000), seed=1)
    tifffile.imwrite(tmp_path / "flat.tif", data, tile=(256, 256), compression="zlib", photometric="minisblack")
    (result,) = import_urls_sync([upload(tmp_path / "flat.tif", "flat.tif")])
    assert result.status == "imported" and result.error is None, result
    return result.id, data


def test_tiff_without_pyramid_gets_new_levels_from_the_cache_tier(flat_tiff, services):
    image_id, data = flat_tiff
    record = catalogue.get_image(services.catalogue, image_id)
    assert [lv.shape[3:] for lv in record.levels] == [(3000, 3000), (1500, 1500), (750, 750)]
    assert [lv.layout["kind"] for lv in record.levels] == ["tiff", "overview", "overview"]
    assert record.revision == 1  # adding overview levels is not a re-import
    fresh_server_state(services)
    record = catalogue.get_image(services.catalogue, image_id)
    coarse, cost = cost_of(lambda: read(services, record, 2, c=0))
    assert cost.total == 0, cost
    np.testing.assert_array_equal(coarse, down2(down2(data)))  # 2x2 block means of 2x2 block means
    middle, cost = cost_of(lambda: read(services, record, 1, c=0, y=(700, 1100), x=(0, 1500)))
    assert cost.total == 0, cost
    np.testing.assert_array_equal(middle, down2(data)[700:1100])
    expected = data[:1024:4, :1024:4].astype(float)
    assert abs(coarse[:256, :256].astype(float) - expected).mean() < 0.01 * data.max()  # a true downsampling


def test_zoomed_out_http_requests_touch_no_source_object(flat_tiff, services):
    image_id, _ = flat_tiff
    fresh_server_state(services)
    with TestClient(create_app(services)) as client:
        before = SOURCE_REQUESTS.snapshot()
        info = client.get(f"/webgateway/imgData/{image_id}/").json()
        assert info["levels"] == 3 and info["tiles"] is True
        assert info["zoomLevelScaling"] == {"0": 1.0, "1": 0.5, "2": 0.25}
        urls = [
            f"/webgateway/render_image_region/{image_id}/0/0/?tile=2,0,0",
            f"/webgateway/render_image_region/{image_id}/0/0/?tile=2,2,2",  # the clipped corner tile
            f"/webgateway/render_image_region/{image_id}/0/0/?tile=1,3,1",
            f"/webgateway/render_thumbnail/{image_id}/",  # made at import
            f"/webgateway/render_thumbnail/{image_id}/300/",  # rendered now, from the overview
            f"/webgateway/render_birds_eye_view/{image_id}/",
            f"/iiif/3/{image_id}/full/!700,700/0/default.jpg",
            f"/iiif/3/{image_id}/0,0,1024,1024/256,/0/default.jpg",  # a IIIF tile at scale factor 4
        ]
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, (url, response.text)
        cost = SOURCE_REQUESTS.snapshot() - before
        assert cost.total == 0, cost
        # the counters do count: a full-resolution tile reads the source
        response = client.get(f"/webgateway/render_image_region/{image_id}/0/0/?tile=0,5,5")
        assert response.status_code == 200
        assert (SOURCE_REQUESTS.snapshot() - before).requests["get_range"] >= 1


def test_evicted_overview_chunks_are_recomputed_from_the_source(flat_tiff, services):
    image_id, data = flat_tiff
    assert services.cache.get().drop("overview/") > 0  # e.g. evicted under churn
    fresh_server_state(services)
    record = catalogue.get_image(services.catalogue, image_id)
    region, cost = cost_of(lambda: read(services, record, 2, c=0, y=(0, 256), x=(256, 512)))
    np.testing.assert_array_equal(region, down2(down2(data))[:256, 256:512])
    assert 1 <= cost.requests["get_range"] <= 16  # only the 1024x1024 base region under that chunk
    fresh_server_state(services)
    record = catalogue.get_image(services.catalogue, image_id)
    _, cost = cost_of(lambda: read(services, record, 2, c=0, y=(0, 256), x=(256, 512)))
    assert cost.total == 0  # stored again


def test_ome_zarr_pyramid_small_levels_are_in_the_chunk_cache(tmp_path, upload, import_urls_sync, monkeypatch,
                                                              make_services):
    monkeypatch.setenv("STRATASCOPE_OVERVIEW_MAX_SIDE", "400")
    services = make_services()  # reads the overview limit
    data = smooth_array((2, 1, 1024, 1536), seed=2)
    write_ome_zarr_v04(tmp_path / "pyr.zarr", data, chunks=(1, 1, 256, 256))
    (result,) = import_urls_sync([upload(tmp_path / "pyr.zarr", "pyr.zarr")], services)
    assert result.status == "imported" and result.error is None, result
    record = catalogue.get_image(services.catalogue, result.id)
    sides = [max(lv.shape[3:]) for lv in record.levels]
    assert sides[:3] == [1536, 768, 384] and all(lv.layout["kind"] == "zarr" for lv in record.levels)
    small = [i for i, side in enumerate(sides) if side <= 400]
    fresh_server_state(services)
    with TestClient(create_app(services)) as client:
        before = SOURCE_REQUESTS.snapshot()
        for level in small:
            for c in (0, 1):
                url = f"/webgateway/render_image_region/{result.id}/0/0/?tile={level},0,0&c={c + 1}|0:4000$FF0000"
                assert client.get(url).status_code == 200
        assert client.get(f"/webgateway/render_thumbnail/{result.id}/200/").status_code == 200
        assert (SOURCE_REQUESTS.snapshot() - before).total == 0
        assert client.get(f"/webgateway/render_image_region/{result.id}/0/0/?tile=0,1,1").status_code == 200
        assert (SOURCE_REQUESTS.snapshot() - before).total >= 1  # level 0 was not copied
    fresh_server_state(services)
    record = catalogue.get_image(services.catalogue, result.id)
    got, cost = cost_of(lambda: read(services, record, small[0], c=[0, 1]))
    assert cost.total == 0
    assert got.shape == (2, *record.levels[small[0]].shape[3:])


def test_planes_past_the_cap_are_computed_on_first_request(tmp_path, import_urls_sync, monkeypatch, make_services):
    monkeypatch.setenv("STRATASCOPE_OVERVIEW_MAX_SIDE", "100")
    monkeypatch.setenv("STRATASCOPE_OVERVIEW_MAX_PLANES", "2")
    services = make_services()  # reads the overview limits
    data = smooth_array((3, 2, 5, 300, 420), seed=3)  # t, c, z
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, data, tile=(64, 64), photometric="minisblack", ome=True, metadata={"axes": "TCZYX"})
    (result,) = import_urls_sync([str(path)], services)
    record = catalogue.get_image(services.catalogue, result.id)
    assert record.shape == (3, 2, 5, 300, 420)
    assert [lv.shape[3:] for lv in record.levels] == [(300, 420), (150, 210), (75, 105), (38, 53)]
    stored = {key.split("/")[-1].rsplit(".", 2)[0] for key in services.cache.get().index.keys_with_prefix("overview/")}
    assert stored == {"0.0.2", "0.1.2"}  # the default plane (t=0, middle z) of both channels only
    fresh_server_state(services)
    record = catalogue.get_image(services.catalogue, result.id)
    far, cost = cost_of(lambda: read(services, record, 3, t=2, z=4, c=1))
    np.testing.assert_array_equal(far, down2(down2(down2(data[2, 1, 4]))))
    assert cost.total >= 1  # past the cap: computed from the source now


def test_plans():
    class Level:
        def __init__(self, side, kind="tiff"):
            self.shape, self.layout = (1, 1, 1, side, side), {"kind": kind}

    class Image:
        def __init__(self, *levels):
            self.levels = list(levels)

    assert plan_new_levels(Image(Level(1024)), 1024) is None
    assert plan_new_levels(Image(Level(3000)), 1024) == (0, 2, [1, 2])  # 1500, 750
    assert plan_new_levels(Image(Level(1025)), 1024) == (0, 1, [1])
    assert plan_new_levels(Image(Level(100_000), Level(50_000)), 1024) == (1, 6, [4, 5, 6])  # 3125, 1563, 782
    assert plan_planes(type("I", (), {"levels": [type("L", (), {"shape": (2, 2, 3, 9, 9)})]})(), 3) == \
        [(0, 0, 1), (0, 1, 1), (0, 0, 0)]


def test_down2_means_rounds_and_repeats_odd_edges():
    a = np.array([[1, 2, 3], [3, 4, 5]], np.uint16)
    np.testing.assert_array_equal(down2(a), [[3, 4]])  # (1+2+3+4+2)//4 = 3; (3+3+5+5+2)//4 = 4
    f = np.array([[0.0, 1.0], [2.0, 3.0]], np.float32)
    assert down2(f).dtype == np.float32 and down2(f)[0, 0] == 1.5
    big = np.full((2, 2), 2**63, np.uint64)
    assert down2(big)[0, 0] == 2**63  # 64-bit integers: stride, no overflow
