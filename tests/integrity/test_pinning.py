"""Version pinning and integrity errors: overwritten and deleted TIFFs in versioned and plain buckets."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest
from PIL import Image

from stratascope import catalogue, integrity
from stratascope.storage import ObjectChanged, ObjectNotFound
from support.samples import smooth_array, write_ome_zarr_v04, write_tiff_pyramid

REGION = "region=0,0,128,128&c=1|0:4000$FFFFFF&m=g&format=png"


def _read(services, image_id: int) -> np.ndarray:
    record = catalogue.get_image(services.catalogue, image_id)
    return asyncio.run(services.reader.read_region(record, 0, c=0))


def _grey(plane: np.ndarray) -> np.ndarray:
    return np.floor(np.clip(plane.astype(float) / 4000, 0, 1) * 255 + 0.5).astype(int)


def _served(client, image_id: int) -> np.ndarray:
    response = client.get(f"/webgateway/render_image_region/{image_id}/0/0/?{REGION}")
    assert response.status_code == 200, response.text
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("L")).astype(int)


def _assert_close(got: np.ndarray, want: np.ndarray) -> None:
    """Rendering rounds in float32: allow one grey level, nothing more."""
    assert got.shape == want.shape and np.abs(got - want).max() <= 1


@pytest.fixture
def versioned_bucket(s3, bucket) -> str:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return bucket


def _tiff(tmp_path, name: str, data: np.ndarray):
    write_tiff_pyramid(tmp_path / name, data, levels=1, tile=(64, 64))
    return tmp_path / name


def test_overwritten_tiff_in_versioned_bucket_keeps_serving_the_imported_pixels(
        tmp_path, versioned_bucket, upload, import_urls_sync, client, services):
    original = smooth_array((1, 128, 128), seed=5)
    replaced = (4000 - original).astype(np.uint16)
    url = upload(_tiff(tmp_path, "a.ome.tif", original), "a.ome.tif")
    (result,) = import_urls_sync([url])
    image_id = result.id
    record = catalogue.get_image(services.catalogue, image_id)
    (source,) = record.sources
    assert source.version  # recorded at import
    assert record.levels[0].layout["version"] == source.version  # every tile read uses it
    assert integrity.pixels_pinned(record)
    baseline = _served(client, image_id)
    _assert_close(baseline, _grey(original[0]))

    upload(_tiff(tmp_path, "b.ome.tif", replaced), "a.ome.tif")  # overwrite: a new version
    services.forget_memory()  # no decoded chunk or record survives in memory: the next reads go to the store
    np.testing.assert_array_equal(_read(services, image_id), original[0])
    np.testing.assert_array_equal(_served(client, image_id), baseline)

    report = integrity.verify(services.catalogue, services.source, [image_id])
    (obj,) = report.images[0].objects
    assert obj.status == "changed" and "version" in obj.detail and not report.ok
    assert report.images[0].pinned and catalogue.get_image(services.catalogue, image_id, full=False).status == "changed"
    services.forget_memory()
    # marked changed, but every byte it serves is the pinned imported version: still served, still the original
    np.testing.assert_array_equal(_served(client, image_id), baseline)

    (again,) = import_urls_sync([url])
    assert (again.status, again.id) == ("updated", image_id)
    services.forget_memory()
    np.testing.assert_array_equal(_read(services, image_id), replaced[0])
    _assert_close(_served(client, image_id), _grey(replaced[0]))
    assert integrity.verify(services.catalogue, services.source, [image_id]).ok


@pytest.fixture
def no_cache_tier(monkeypatch):
    """No cache tier: it would keep serving the tiles it cached at import (the imported bytes).
    Set before the test's services are built (list it before them)."""
    monkeypatch.setenv("STRATASCOPE_CACHE_MAX_BYTES", "0")


def test_shorter_overwrite_in_plain_bucket_is_an_integrity_error_never_garbage(
        no_cache_tier, tmp_path, bucket, upload, import_urls_sync, client, s3, services):
    assert services.settings.cache_max_bytes == 0
    original = smooth_array((1, 128, 128), seed=6)
    url = upload(_tiff(tmp_path, "a.ome.tif", original), "a.ome.tif")
    (result,) = import_urls_sync([url])
    image_id = result.id
    assert catalogue.get_image(services.catalogue, image_id).sources[0].version is None  # no versioning here
    small = _tiff(tmp_path, "small.ome.tif", smooth_array((1, 16, 16), seed=7))
    assert small.stat().st_size < catalogue.get_image(services.catalogue, image_id).sources[0].size // 2
    upload(small, "a.ome.tif")

    services.forget_memory()
    with pytest.raises(ObjectChanged):
        _read(services, image_id)
    response = client.get(f"/webgateway/render_image_region/{image_id}/0/0/?{REGION}")
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/json")
    assert "changed" in response.json()["message"]

    s3.delete_object(Bucket=bucket, Key="a.ome.tif")
    services.forget_memory()
    with pytest.raises(ObjectNotFound):
        _read(services, image_id)
    response = client.get(f"/webgateway/render_image_region/{image_id}/0/0/?{REGION}")
    assert response.status_code == 410 and "message" in response.json()

    report = integrity.verify(services.catalogue, services.source, [image_id])
    assert report.images[0].status == "missing"
    services.forget_memory()
    response = client.get(f"/webgateway/render_image_region/{image_id}/0/0/?{REGION}")
    assert response.status_code == 410 and "re-import" in response.json()["message"].lower()


def test_zarr_pins_metadata_only(tmp_path, versioned_bucket, upload, import_urls_sync, services):
    write_ome_zarr_v04(tmp_path / "z.zarr", smooth_array((1, 1, 64, 64)), chunks=(1, 1, 32, 32))
    url = upload(tmp_path / "z.zarr", "z.zarr")
    (result,) = import_urls_sync([url])
    record = catalogue.get_image(services.catalogue, result.id)
    assert record.sources and all(s.version for s in record.sources)  # every metadata document
    assert all("version" not in level.layout for level in record.levels)  # chunk reads are not pinned
    assert not integrity.pixels_pinned(record)
