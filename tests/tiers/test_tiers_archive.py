"""Archive storage classes on moto's S3: recorded at import, 409 for archived full-resolution
bytes, thumbnails and overviews still served from the cache tier, `stratascope restore`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tifffile
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from stratascope import catalogue
from stratascope.api.app import create_app
from stratascope.api.errors import error_response
from stratascope.cli import restore as restore_cli
from stratascope.storage import SOURCE_REQUESTS, ArchivedObject
from stratascope.storage.archive import parse_restore_header, state_from_head
from support.samples import smooth_array, write_ome_zarr_v04


@pytest.fixture
def restore():
    app = typer.Typer()
    restore_cli.register(app)
    app.command("unused")(lambda: None)  # keep "restore" a sub-command (typer runs a lone command directly)
    runner = CliRunner()

    def run(*args: str):
        result = runner.invoke(app, ["restore", *args], catch_exceptions=False)
        return result.exit_code, result.output

    return run


def put_tree(s3, bucket: str, local: Path, prefix: str, storage_class=lambda key: "STANDARD") -> str:
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        key = f"{prefix}/{path.relative_to(local).as_posix()}"
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), StorageClass=storage_class(key))
    return f"s3://{bucket}/{prefix}"


def archive_everything(s3, bucket: str, prefix: str, storage_class: str = "GLACIER") -> int:
    """What a lifecycle rule does: move every object under the prefix to an archive class."""
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]]
    for key in keys:
        s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": key}, StorageClass=storage_class)
    return len(keys)


def fresh_server_state(services):
    services.cache.get().flush()
    services.forget_memory()


@pytest.fixture
def overviews_512(monkeypatch):
    """Overview levels down to 512 px (set before the test's services read the settings)."""
    monkeypatch.setenv("STRATASCOPE_OVERVIEW_MAX_SIDE", "512")


@pytest.fixture
def archived_tiff(overviews_512, tmp_path, s3, bucket, import_urls_sync, services):
    """A TIFF without pyramid imported while STANDARD (thumbnails, overviews made), then archived."""
    data = smooth_array((1000, 1500), seed=4)
    tifffile.imwrite(tmp_path / "cold.tif", data, tile=(256, 256), compression="zlib", photometric="minisblack")
    s3.put_object(Bucket=bucket, Key="lab/cold.tif", Body=(tmp_path / "cold.tif").read_bytes())
    (result,) = import_urls_sync([f"s3://{bucket}/lab/cold.tif"])
    assert result.status == "imported" and result.error is None, result
    assert catalogue.get_image(services.catalogue, result.id).sources[0].storage_class == "STANDARD"
    assert archive_everything(s3, bucket, "lab/") == 1
    fresh_server_state(services)
    return result.id


def test_archived_image_serves_cached_views_and_409_for_full_resolution(archived_tiff, restore, services):
    image_id = archived_tiff
    with TestClient(create_app(services)) as client:
        before = SOURCE_REQUESTS.snapshot()
        assert client.get(f"/webgateway/imgData/{image_id}/").json()["levels"] == 3
        for url in (f"/webgateway/render_thumbnail/{image_id}/", f"/webgateway/render_thumbnail/{image_id}/256/",
                    f"/webgateway/render_image_region/{image_id}/0/0/?tile=2,0,0",
                    f"/webgateway/render_image_region/{image_id}/0/0/?tile=1,2,1",
                    f"/iiif/3/{image_id}/full/!375,375/0/default.jpg"):
            response = client.get(url)
            assert response.status_code == 200, (url, response.text)
        assert (SOURCE_REQUESTS.snapshot() - before).total == 0
        response = client.get(f"/webgateway/render_image_region/{image_id}/0/0/?tile=0,1,1")
        assert response.status_code == 409, response.text
        body = response.json()
        assert body["restore"] == "needed" and "GLACIER" in body["message"] and "restore" in body["message"]
        assert "Retry-After" not in response.headers
        assert client.get(f"/webgateway/render_image/{image_id}/").status_code == 409  # full plane at level 0

        code, out = restore("--status", str(image_id), "--json")
        assert code == 0 and json.loads(out)[0]["state"] == "needed"
        code, out = restore(str(image_id), "--days", "2", "--json")
        assert code == 0
        (row,) = json.loads(out)
        assert row["state"] == "requested" and list(row["objects"].values()) == ["requested"]
        code, out = restore("--status", "--json")  # every image
        assert code == 0 and json.loads(out)[0]["state"] == "restored"  # moto restores at once
        response = client.get(f"/webgateway/render_image_region/{image_id}/0/0/?tile=0,1,1")
        assert response.status_code == 200, response.text


def test_import_records_classes_and_explains_archived_tiffs(tmp_path, s3, bucket, import_urls_sync, restore,
                                                           services):
    data = smooth_array((200, 300), seed=5)
    tifffile.imwrite(tmp_path / "a.tif", data, tile=(64, 64), photometric="minisblack")
    body = (tmp_path / "a.tif").read_bytes()
    s3.put_object(Bucket=bucket, Key="ir.tif", Body=body, StorageClass="GLACIER_IR")  # archive, but readable
    s3.put_object(Bucket=bucket, Key="deep.tif", Body=body, StorageClass="DEEP_ARCHIVE")
    (readable,) = import_urls_sync([f"s3://{bucket}/ir.tif"])
    assert readable.status == "imported"
    assert catalogue.get_image(services.catalogue, readable.id).sources[0].storage_class == "GLACIER_IR"
    (deep,) = import_urls_sync([f"s3://{bucket}/deep.tif"])
    assert deep.status == "failed"
    assert "DEEP_ARCHIVE storage class" in deep.error and "stratascope restore" in deep.error
    assert catalogue.list_images(services.catalogue)[1] == 1  # nothing half-registered
    code, out = restore(f"s3://{bucket}/deep.tif", "--json")
    assert code == 0 and json.loads(out)[0]["state"] == "requested"
    (again,) = import_urls_sync([f"s3://{bucket}/deep.tif"])
    assert again.status == "imported", again
    assert catalogue.get_image(services.catalogue, again.id).sources[0].storage_class == "DEEP_ARCHIVE"


def test_zarr_with_archived_chunks_imports_from_its_metadata(tmp_path, s3, bucket, import_urls_sync, restore,
                                                             services):
    data = smooth_array((1, 1, 128, 128), seed=6)
    write_ome_zarr_v04(tmp_path / "z.zarr", data, chunks=(1, 1, 64, 64))
    is_metadata = lambda key: key.rsplit("/", 1)[-1].startswith(".z")  # noqa: E731
    url = put_tree(s3, bucket, tmp_path / "z.zarr", "z.zarr", lambda k: "STANDARD" if is_metadata(k) else "GLACIER")
    (result,) = import_urls_sync([url])
    assert result.status == "imported" and result.id is not None  # registered from readable metadata
    assert "GLACIER" in (result.error or "")  # ... but nothing could be rendered from its pixels yet
    record = catalogue.get_image(services.catalogue, result.id)
    assert {s.storage_class for s in record.sources} == {"STANDARD"}
    code, out = restore("--status", str(result.id), "--json")
    (row,) = json.loads(out)
    assert row["state"] == "needed" and row["total"] > len(record.sources)  # the chunks were listed
    assert set(row["objects"].values()) == {"needed"} and all(not is_metadata(u) for u in row["objects"])
    code, out = restore(str(result.id), "--json")
    assert code == 0 and json.loads(out)[0]["state"] == "requested"
    with TestClient(create_app(services)) as client:
        response = client.get(f"/webgateway/render_image_region/{result.id}/0/0/?tile=0,0,0")
        assert response.status_code == 200, response.text


def test_restore_refuses_unknown_targets_and_read_only_mode(restore, monkeypatch):
    code, out = restore("999")
    assert code == 1 and "image 999 not found" in out
    code, out = restore("gs://bucket/x.tif")
    assert code == 1 and "s3://" in out
    monkeypatch.setenv("STRATASCOPE_READ_ONLY", "1")  # each invocation builds its services from the env
    code, out = restore("s3://bucket/x.tif")
    assert code == 1 and "read-only" in out


def test_restore_header_and_http_mapping():
    # header values as documented for S3 HeadObject (x-amz-restore)
    assert parse_restore_header('ongoing-request="true"') == (True, None)
    assert parse_restore_header('ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"') == \
        (False, "Fri, 21 Dec 2012 00:00:00 GMT")
    assert parse_restore_header(None) == (None, None)
    head = {"StorageClass": "DEEP_ARCHIVE", "Restore": 'ongoing-request="true"'}
    assert state_from_head("s3://b/k", head).restore == "in progress"
    assert state_from_head("s3://b/k", {}).restore == "not needed"  # S3 omits the class for STANDARD
    assert state_from_head("s3://b/k", {"StorageClass": "GLACIER"}).restore == "needed"
    assert state_from_head("s3://b/k", {"StorageClass": "INTELLIGENT_TIERING",
                                        "ArchiveStatus": "DEEP_ARCHIVE_ACCESS"}).restore == "needed"
    running = error_response(ArchivedObject("s3://b/k is archived", restore_in_progress=True))
    assert running.status_code == 409 and int(running.headers["Retry-After"]) > 0
    assert json.loads(running.body) == {"message": "s3://b/k is archived", "restore": "in progress"}


def test_archived_reads_fail_fast_not_hang(archived_tiff, services):
    import asyncio
    import time

    record = catalogue.get_image(services.catalogue, archived_tiff)
    started = time.monotonic()
    with pytest.raises(ArchivedObject) as caught:
        asyncio.run(services.reader.read_region(record, 0, c=0, y=(0, 10), x=(0, 10)))
    assert time.monotonic() - started < 5 and caught.value.url.endswith("/lab/cold.tif")
