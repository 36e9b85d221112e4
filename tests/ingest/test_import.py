"""Import from moto S3 and local folders: prefixes, idempotency, failures, resumption, cost."""

from __future__ import annotations

import numpy as np
import pytest

from stratascope import catalogue
from stratascope.storage import SOURCE_REQUESTS
from support.samples import smooth_array, write_ome_zarr_v04, write_tiff_pyramid


def _run(coro):
    import asyncio

    return asyncio.run(coro)


@pytest.fixture
def bucket_with_images(tmp_path, upload, bucket):
    """Two OME-Zarr images, one OME-TIFF and one corrupt TIFF under s3://bucket/lab/."""
    a = smooth_array((2, 1, 200, 300), seed=1)
    b = smooth_array((1, 3, 128, 128), seed=2)
    write_ome_zarr_v04(tmp_path / "a.zarr", a)
    write_ome_zarr_v04(tmp_path / "b.zarr", b)
    c = smooth_array((1, 256, 384), seed=3)
    write_tiff_pyramid(tmp_path / "c.ome.tif", c, levels=2)
    (tmp_path / "broken.tif").write_bytes(b"II*\x00" + b"\xff" * 60)
    for name in ("a.zarr", "b.zarr", "c.ome.tif", "broken.tif"):
        upload(tmp_path / name, f"lab/{name}")
    return {"a": a, "b": b, "c": c, "prefix": f"s3://{bucket}/lab"}


def test_prefix_import_registers_every_image_and_isolates_failures(bucket_with_images, import_urls_sync, services):
    results = import_urls_sync([bucket_with_images["prefix"]], project="Lab", dataset="Run 1")
    by_name = {r.url.rsplit("/", 1)[-1]: r for r in results}
    assert set(by_name) == {"a.zarr", "b.zarr", "c.ome.tif", "broken.tif"}
    assert by_name["broken.tif"].status == "failed" and by_name["broken.tif"].error
    assert by_name["broken.tif"].id is None
    for name in ("a.zarr", "b.zarr", "c.ome.tif"):
        assert by_name[name].status == "imported", by_name[name]
    images, total = catalogue.list_images(services.catalogue)
    assert total == 3  # nothing half-registered for the broken file
    assert {r.dataset_name for r in images} == {"Run 1"}
    record = catalogue.get_image(services.catalogue, by_name["a.zarr"].id)
    truth = bucket_with_images["a"]
    got = _run(services.reader.read_region(record, 0, z=0, c=None))
    np.testing.assert_array_equal(got, truth[:, 0])


def test_reimport_reports_unchanged_without_reading_images_again(bucket_with_images, import_urls_sync):
    import_urls_sync([bucket_with_images["prefix"]])
    before = SOURCE_REQUESTS.snapshot()
    again = import_urls_sync([bucket_with_images["prefix"]])
    cost = SOURCE_REQUESTS.snapshot() - before
    statuses = {r.url.rsplit("/", 1)[-1]: r.status for r in again}
    assert statuses == {"a.zarr": "unchanged", "b.zarr": "unchanged", "c.ome.tif": "unchanged", "broken.tif": "failed"}
    # the listing proves a.zarr, b.zarr and c.ome.tif unchanged: only the broken file is read again
    assert cost.requests["list"] == 1
    assert cost.requests["get"] == 0  # no Zarr metadata document is read again
    assert cost.requests["get_range"] + cost.requests["head"] <= 8  # the broken TIFF's header, retried


def test_changed_source_is_updated(tmp_path, upload, bucket, import_urls_sync, services):
    data = smooth_array((1, 100, 100))
    write_tiff_pyramid(tmp_path / "x.ome.tif", data, levels=1)
    url = upload(tmp_path / "x.ome.tif", "x.ome.tif")
    (first,) = import_urls_sync([url])
    (same,) = import_urls_sync([url])
    assert (first.status, same.status, same.id) == ("imported", "unchanged", first.id)
    write_tiff_pyramid(tmp_path / "x.ome.tif", data[:, ::-1].copy(), levels=1)
    upload(tmp_path / "x.ome.tif", "x.ome.tif")
    (changed,) = import_urls_sync([url])
    assert (changed.status, changed.id) == ("updated", first.id)
    record = catalogue.get_image(services.catalogue, first.id)
    assert record.revision == 2
    got = _run(services.reader.read_region(record, 0, c=0))
    np.testing.assert_array_equal(got, data[0, ::-1])


def test_interrupted_bulk_import_resumes(bucket_with_images, import_urls_sync, monkeypatch, services):
    """Simulate a crash after the first images: a rerun imports only what is missing."""
    from stratascope.ingest import run

    calls = {"n": 0}
    original = run.read_specs

    async def crash_after_two(services_, candidate):
        calls["n"] += 1
        if calls["n"] > 2:
            raise KeyboardInterrupt  # what an operator's Ctrl-C or a killed process looks like
        return await original(services_, candidate)

    monkeypatch.setattr(run, "CONCURRENCY", 1)
    monkeypatch.setattr(run, "read_specs", crash_after_two)
    with pytest.raises(KeyboardInterrupt):
        import_urls_sync([bucket_with_images["prefix"]])
    done = catalogue.list_images(services.catalogue)[1]
    assert done == 2
    monkeypatch.setattr(run, "read_specs", original)
    results = import_urls_sync([bucket_with_images["prefix"]])
    statuses = sorted(r.status for r in results)
    assert statuses == ["failed", "imported", "unchanged", "unchanged"]
    assert catalogue.list_images(services.catalogue)[1] == 3


# The import cost being independent of the chunk count is asserted in tests/formats/test_ome_zarr.py.


def test_cold_chunk_aligned_tile_costs_exactly_its_chunks(tmp_path, upload, import_urls_sync, services):
    import asyncio

    from stratascope.ingest import ImportOptions, import_urls

    data = smooth_array((2, 1, 512, 512))
    write_ome_zarr_v04(tmp_path / "t.zarr", data, chunks=(1, 1, 128, 128))
    url = upload(tmp_path / "t.zarr", "t.zarr")
    (result,) = asyncio.run(import_urls(services, [url], ImportOptions()))
    record = catalogue.get_image(services.catalogue, result.id)
    before = SOURCE_REQUESTS.snapshot()
    tile = _run(services.reader.read_region(record, 0, c=0, y=(128, 384), x=(0, 256)))  # 2x2 chunks
    cost = SOURCE_REQUESTS.snapshot() - before
    np.testing.assert_array_equal(tile, data[0, 0, 128:384, 0:256])
    assert cost.requests == {"get": 4, "get_range": 0, "head": 0, "list": 0, "put": 0, "delete": 0}
    before = SOURCE_REQUESTS.snapshot()
    _run(services.reader.read_region(record, 0, c=0, y=(128, 384), x=(0, 256)))
    assert (SOURCE_REQUESTS.snapshot() - before).total == 0  # warm: served from memory


def test_unaligned_regions_and_edges_are_exact(tmp_path, import_urls_sync, services):
    data = smooth_array((3, 2, 333, 517), seed=5)
    write_ome_zarr_v04(tmp_path / "odd.zarr", data, chunks=(1, 1, 100, 64))
    (result,) = import_urls_sync([str(tmp_path / "odd.zarr")])
    record = catalogue.get_image(services.catalogue, result.id)
    reader = services.reader
    for y, x in [((0, 333), (0, 517)), ((17, 301), (63, 129)), ((300, 333), (500, 517)), ((99, 101), (0, 1))]:
        got = _run(reader.read_region(record, 0, z=1, c=[1, 0], y=y, x=x))
        np.testing.assert_array_equal(got, data[[1, 0], 1, y[0]:y[1], x[0]:x[1]])
