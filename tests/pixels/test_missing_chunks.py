"""A chunk object present at import and missing later is an error, never a cached black tile.

Issue 14 (hardening), defect 5: a 404 from the store was read as fill value and that fill
was cached in the chunk LRU, so a store outage left black tiles behind after it ended.
"""

from __future__ import annotations

import io

import numpy as np

from stratascope import catalogue
from support.samples import smooth_array, write_ome_zarr_v04

TILE = "/webgateway/render_image_region/{id}/0/0/?tile=0,0,0,64,64&format=png"


def _write(tmp_path, data=None):
    data = smooth_array((1, 1, 128, 128)) if data is None else data
    write_ome_zarr_v04(tmp_path / "m.zarr", data, chunks=(1, 1, 64, 64))
    return tmp_path / "m.zarr"


def test_chunk_deleted_after_import_is_410_and_the_restored_chunk_is_served(
        tmp_path, monkeypatch, s3, bucket, upload, make_services, import_urls_sync):
    from fastapi.testclient import TestClient

    from stratascope.api.app import create_app

    monkeypatch.setenv("STRATASCOPE_CACHE_MAX_BYTES", "0")  # only the chunk LRU could keep a fill
    folder = _write(tmp_path)
    services = make_services()
    upload(folder, "p/m.zarr")
    # a prefix import: its listing (made anyway) records which chunk objects exist
    (result,) = import_urls_sync([f"s3://{bucket}/p/"], services_=services)
    record = catalogue.get_image(services.catalogue, result.id)
    assert record.levels[0].layout["absent_objects"] == []  # every chunk was written
    key = "p/m.zarr/s0/0/0/0/0"  # level s0, chunk (c, z, y, x) = (0, 0, 0, 0)
    with TestClient(create_app(services)) as client:
        reference = client.get(TILE.format(id=result.id))
        assert reference.status_code == 200
        services.forget_memory()
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        s3.delete_object(Bucket=bucket, Key=key)
        gone = client.get(TILE.format(id=result.id))
        assert gone.status_code == 410, gone.status_code
        assert "missing now" in gone.json()["message"] and key in gone.json()["message"]
        assert "etag" not in {k.lower() for k in gone.headers} and gone.headers["cache-control"] == "no-store"
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        back = client.get(TILE.format(id=result.id))
        assert back.status_code == 200 and back.content == reference.content


def test_chunks_absent_at_import_are_still_fill(tmp_path, bucket, upload, services, import_urls_sync, client):
    data = smooth_array((1, 1, 128, 128))
    data[0, 0, :64, 64:] = 0  # one chunk all fill value: a writer may skip it
    folder = _write(tmp_path, data)
    assert not (folder / "s0/0/0/0/1").exists()  # zarr-python (write_empty_chunks=False) skipped it
    upload(folder, "p/m.zarr")
    (result,) = import_urls_sync([f"s3://{bucket}/p/"])
    record = catalogue.get_image(services.catalogue, result.id)
    assert record.levels[0].layout["absent_objects"] == ["0/0/0/1"]  # (c, z, y, x) key below s0/
    from PIL import Image

    response = client.get(f"/webgateway/render_image_region/{result.id}/0/0/?tile=0,1,0,64,64&format=png"
                          "&c=1|0:4000$FFFFFF&m=g")
    assert response.status_code == 200, response.text
    assert not np.asarray(Image.open(io.BytesIO(response.content))).any()  # the fill value, rendered black


def test_a_direct_zarr_import_records_nothing_and_keeps_fill_semantics(tmp_path, upload, services, import_urls_sync):
    """Import of a Zarr URL reads metadata only (no listing): nothing recorded, absent = fill."""
    (result,) = import_urls_sync([upload(_write(tmp_path), "m.zarr")])
    record = catalogue.get_image(services.catalogue, result.id)
    assert "absent_objects" not in record.levels[0].layout
