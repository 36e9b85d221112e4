"""verify: HEADs or listings against moto, statuses, catalogue marks, HTTP refusals, repair by import."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stratascope import catalogue, integrity
from stratascope.integrity.scan import LIST_MIN_OBJECTS
from stratascope.storage import SOURCE_REQUESTS
from support.cli import run_cli
from support.samples import smooth_array, write_ome_zarr_v04, write_tiff_pyramid


def cli(*args: str):
    return run_cli(*args)


@pytest.fixture
def zarr_in_bucket(tmp_path, upload, import_urls_sync, s3, bucket):
    """An OME-Zarr v0.4 written by ome-zarr-py, uploaded to moto and imported: (id, url, truth)."""
    truth = write_ome_zarr_v04(tmp_path / "img.zarr", smooth_array((2, 1, 256, 256), seed=1), chunks=(1, 1, 64, 64))
    url = upload(tmp_path / "img.zarr", "data/img.zarr")
    (result,) = import_urls_sync([url])
    assert result.status == "imported", result
    return result.id, url, truth


def _statuses(report) -> dict[str, str]:
    return {obj.url.rsplit("/", 2)[-2] + "/" + obj.url.rsplit("/", 1)[-1]: obj.status
            for image in report.images for obj in image.objects}


def test_intact_zarr_verifies_ok_with_one_head_per_recorded_document(zarr_in_bucket, services):
    image_id, url, _ = zarr_in_bucket
    record = catalogue.get_image(services.catalogue, image_id, full=False)
    n = len(record.sources)
    assert 2 <= n < LIST_MIN_OBJECTS  # root .zattrs + one .zarray per level: few, so HEADs
    before = SOURCE_REQUESTS.snapshot()
    report = integrity.verify(services.catalogue, services.source, [image_id])
    cost = SOURCE_REQUESTS.snapshot() - before
    assert report.ok and report.images[0].status == "ok"
    assert [o.status for o in report.images[0].objects] == ["ok"] * n
    assert cost.requests["head"] == n and cost.total == n
    assert report.requests == {"head": n}


def test_missing_document_is_marked_refused_410_and_repaired(zarr_in_bucket, services, s3, bucket, client, upload, tmp_path,
                                                            import_urls_sync):
    image_id, url, truth = zarr_in_bucket
    key = "data/img.zarr/s1/.zarray"  # ome-zarr-py names its levels s0, s1, ...
    saved = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    tile = f"/webgateway/render_image_region/{image_id}/0/0/?region=0,0,64,64&c=1|0:4000$FFFFFF&format=png"
    assert client.get(tile).status_code == 200
    s3.delete_object(Bucket=bucket, Key=key)

    report = integrity.verify(services.catalogue, services.source, [image_id])
    assert not report.ok
    image = report.images[0]
    assert image.status == "missing" and image.marked
    assert _statuses(report)["s1/.zarray"] == "missing"
    assert sum(o.status == "ok" for o in image.objects) == len(image.objects) - 1
    record = catalogue.get_image(services.catalogue, image_id, full=False)
    assert record.status == "missing" and "s1/.zarray" in record.status_message

    services.forget_memory()  # the server's record cache (5 s TTL) would otherwise still hold "ok"
    response = client.get(tile)
    assert response.status_code == 410
    assert response.headers["content-type"].startswith("application/json")
    assert "re-import" in response.json()["message"].lower() and url in response.json()["message"]

    # the object is back (same bytes): verify marks the image ok again
    s3.put_object(Bucket=bucket, Key=key, Body=saved)
    again = integrity.verify(services.catalogue, services.source, [image_id])
    assert again.ok and again.images[0].marked and again.images[0].previous_status == "missing"
    assert catalogue.get_image(services.catalogue, image_id, full=False).status == "ok"
    services.forget_memory()
    assert client.get(tile).status_code == 200


def test_changed_metadata_is_409_until_reimport_repairs_it(zarr_in_bucket, services, s3, bucket, client, import_urls_sync):
    image_id, url, truth = zarr_in_bucket
    key = "data/img.zarr/.zattrs"
    attrs = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    attrs["omero"]["name"] = "renamed"
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(attrs).encode())

    report = integrity.verify(services.catalogue, services.source, [image_id])
    (obj,) = [o for o in report.images[0].objects if o.status != "ok"]
    assert obj.status == "changed" and "ETag" in obj.detail and obj.url.endswith("/.zattrs")
    assert report.images[0].status == "changed" and not report.images[0].pinned  # Zarr chunks are never pinned
    services.forget_memory()
    response = client.get(f"/webgateway/render_image_region/{image_id}/0/0/?region=0,0,64,64&format=png")
    assert response.status_code == 409 and "re-import" in response.json()["message"].lower()

    (result,) = import_urls_sync([url])  # same URL: refreshes the marked image in place
    assert (result.status, result.id) == ("updated", image_id)
    record = catalogue.get_image(services.catalogue, image_id)
    assert record.status == "ok" and record.status_message is None and record.name == "renamed"
    assert record.revision == 2
    assert integrity.verify(services.catalogue, services.source, [image_id]).ok
    services.forget_memory()
    assert client.get(f"/webgateway/render_image_region/{image_id}/0/0/?region=0,0,64,64&format=png").status_code == 200


def test_prefix_import_repairs_a_marked_image_instead_of_calling_it_unchanged(zarr_in_bucket, services, s3, bucket,
                                                                              import_urls_sync):
    image_id, url, _ = zarr_in_bucket
    key = "data/img.zarr/s0/.zarray"
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    s3.delete_object(Bucket=bucket, Key=key)
    assert integrity.verify(services.catalogue, services.source, [image_id]).images[0].status == "missing"
    s3.put_object(Bucket=bucket, Key=key, Body=body)  # restored with the same bytes and ETag
    (result,) = import_urls_sync([f"s3://{bucket}/data/"])  # a prefix import: listing shortcut must not apply
    assert (result.status, result.id) == ("updated", image_id)
    assert catalogue.get_image(services.catalogue, image_id, full=False).status == "ok"
    (again,) = import_urls_sync([f"s3://{bucket}/data/"])
    assert again.status == "unchanged"


def test_new_resolution_level_is_unregistered_only_with_a_complete_listing(zarr_in_bucket, services, s3, bucket):
    image_id, url, _ = zarr_in_bucket
    levels = len(catalogue.get_image(services.catalogue, image_id).levels)
    body = s3.get_object(Bucket=bucket, Key="data/img.zarr/s0/.zarray")["Body"].read()
    new_key = f"data/img.zarr/s{levels}/.zarray"
    s3.put_object(Bucket=bucket, Key=new_key, Body=body)
    # not image metadata: chunks, a labels group, a group's own attributes
    s3.put_object(Bucket=bucket, Key="data/img.zarr/labels/cells/.zarray", Body=body)
    s3.put_object(Bucket=bucket, Key="data/img.zarr/labels/.zattrs", Body=b"{}")
    s3.put_object(Bucket=bucket, Key=f"data/img.zarr/s{levels}/.zattrs", Body=b"{}")

    cheap = integrity.verify(services.catalogue, services.source, [image_id])
    assert cheap.ok and not cheap.listed_prefixes  # HEADs only: nothing to discover with

    before = SOURCE_REQUESTS.snapshot()
    full = integrity.verify(services.catalogue, services.source, [image_id], find_unregistered=True)
    cost = SOURCE_REQUESTS.snapshot() - before
    assert not full.ok
    assert full.images[0].status == "ok"  # the image itself is intact
    assert [o.url for o in full.unregistered] == [f"s3://{bucket}/{new_key}"]
    assert full.unregistered[0].status == "unregistered"
    assert full.listed_prefixes == [url]
    assert cost.requests["head"] == 0 and cost.requests["list"] == 1  # every recorded doc judged from the listing
    assert catalogue.get_image(services.catalogue, image_id, full=False).status == "ok"  # unregistered never marks an image


def test_tiff_folder_is_checked_with_one_listing_and_uncatalogued_tiffs_found(tmp_path, services, upload, bucket, s3,
                                                                              import_urls_sync):
    data = smooth_array((1, 64, 64), dtype=np.uint8)
    write_tiff_pyramid(tmp_path / "t.ome.tif", data, levels=1, tile=(32, 32))
    n = LIST_MIN_OBJECTS
    for i in range(n):
        upload(tmp_path / "t.ome.tif", f"tiffs/t{i}.ome.tif")
    results = import_urls_sync([f"s3://{bucket}/tiffs/"])
    assert [r.status for r in results] == ["imported"] * n
    upload(tmp_path / "t.ome.tif", "tiffs/extra.tif")  # arrived after import
    upload(tmp_path / "t.ome.tif", "tiffs/sub/deeper.tif")  # in a subfolder: not "in" this directory
    s3.put_object(Bucket=bucket, Key="tiffs/notes.txt", Body=b"not an image")

    before = SOURCE_REQUESTS.snapshot()
    report = integrity.verify(services.catalogue, services.source, None)
    cost = SOURCE_REQUESTS.snapshot() - before
    assert cost.requests["list"] == 1 and cost.requests["head"] == 0  # one page instead of n HEADs
    assert all(image.status == "ok" for image in report.images) and len(report.images) == n
    assert [o.url for o in report.unregistered] == [f"s3://{bucket}/tiffs/extra.tif"]
    assert not report.ok

    s3.delete_object(Bucket=bucket, Key="tiffs/t3.ome.tif")
    report = integrity.verify(services.catalogue, services.source, None)
    by_url = {image.url.rsplit("/", 1)[-1]: image.status for image in report.images}
    assert by_url.pop("t3.ome.tif") == "missing" and set(by_url.values()) == {"ok"}


def test_unreachable_store_decides_nothing(zarr_in_bucket, services, make_services, monkeypatch):
    image_id, url, _ = zarr_in_bucket
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    unreachable = make_services()  # stores built for the new endpoint, same catalogue
    report = integrity.verify(unreachable.catalogue, unreachable.source, [image_id])
    assert report.images[0].status == "error" and not report.ok
    assert all(o.status == "error" and o.detail for o in report.images[0].objects)
    assert not report.images[0].marked
    assert catalogue.get_image(services.catalogue, image_id, full=False).status == "ok"


def test_cli_exit_status_json_and_table(zarr_in_bucket, services, s3, bucket):
    image_id, url, _ = zarr_in_bucket
    ok = cli("verify", "--all", "--json")
    assert ok.returncode == 0, ok.stderr
    doc = json.loads(ok.stdout)
    assert doc["ok"] is True and [i["id"] for i in doc["images"]] == [image_id]
    assert {o["status"] for o in doc["images"][0]["objects"]} == {"ok"}

    s3.delete_object(Bucket=bucket, Key="data/img.zarr/.zattrs")
    bad = cli("verify", str(image_id), "--json", "--no-mark")
    assert bad.returncode == 1
    doc = json.loads(bad.stdout)
    assert doc["images"][0]["status"] == "missing" and doc["images"][0]["marked"] is False
    assert catalogue.get_image(services.catalogue, image_id, full=False).status == "ok"  # --no-mark

    table = cli("verify", str(image_id))
    assert table.returncode == 1 and "missing" in table.stdout and ".zattrs" in table.stdout
    assert catalogue.get_image(services.catalogue, image_id, full=False).status == "missing"

    assert cli("verify").returncode == 2  # neither ids nor --all
    unknown = cli("verify", "99999")
    assert unknown.returncode == 2 and "99999" in unknown.stderr
