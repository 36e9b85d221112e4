"""Read-only mode writes nothing but the cache tier; no mode ever writes to a source store.

The catalogue test puts the SQLite file on a real read-only bind mount (we run as root, and
root ignores permission bits, so chmod 0555 would prove nothing). The source-store test
reads moto's own request recorder: every request moto received during an import, a
serving session and a read-only serving session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from contextlib import contextmanager

import pytest
import tifffile
from fastapi.testclient import TestClient
from sqlalchemy import event

from stratascope import catalogue
from stratascope.api.app import create_app
from support.moto_server import MotoServer, boto3_client, upload_tree
from support.samples import smooth_array, write_ome_zarr_v04

WRITES = ("insert", "update", "delete", "create", "drop", "alter", "replace")


@contextmanager
def read_only_mount(source, target, close_first=()):
    """`source` bind-mounted read-only at `target`; the services in `close_first` (a list that
    may be filled inside the block) are closed before the unmount."""
    target.mkdir()
    done = subprocess.run(["mount", "--bind", str(source), str(target)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"bind mounts are not permitted here: {done.stderr.decode().strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], check=True, capture_output=True)
        yield target
    finally:
        for services in close_first:  # close every connection into the mount first
            services.close()
        if subprocess.run(["umount", str(target)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(target)], check=True)  # detach even if still busy


def urls_for(image_id: int) -> list[str]:
    return [
        f"/webgateway/imgData/{image_id}/",
        f"/webgateway/render_image_region/{image_id}/0/0/?tile=0,1,1",
        f"/webgateway/render_image/{image_id}/0/0/",
        f"/webgateway/render_thumbnail/{image_id}/",
        f"/webgateway/render_thumbnail/{image_id}/180/",
        f"/webgateway/histogram_json/{image_id}/channel/0/",
        f"/iiif/3/{image_id}/full/!128,128/0/default.png",
        f"/api/v0/m/images/{image_id}/",
    ]


def test_sqlite_catalogue_on_a_read_only_mount(tmp_path, monkeypatch, import_urls_sync, make_services):
    db_dir = tmp_path / "db"
    monkeypatch.setenv("STRATASCOPE_DATABASE_URL", f"sqlite:///{db_dir / 'catalogue.sqlite'}")
    importer = make_services()
    write_ome_zarr_v04(tmp_path / "img.zarr", smooth_array((2, 3, 200, 300)), chunks=(1, 1, 64, 64))
    (result,) = import_urls_sync([str(tmp_path / "img.zarr")], importer)
    assert result.status == "imported"
    importer.close()  # the importer exits
    opened: list = []
    with read_only_mount(db_dir, tmp_path / "ro", close_first=opened) as mounted:
        monkeypatch.setenv("STRATASCOPE_DATABASE_URL", f"sqlite:///{mounted / 'catalogue.sqlite'}")
        monkeypatch.setenv("STRATASCOPE_READ_ONLY", "1")
        server = make_services()
        opened.append(server)
        assert server.read_only
        statements: list[str] = []
        event.listen(server.catalogue.engine, "before_cursor_execute",
                     lambda conn, cursor, sql, params, context, many: statements.append(sql))
        with TestClient(create_app(server)) as client:
            for url in urls_for(result.id):
                response = client.get(url)
                assert response.status_code == 200, (url, response.text)
        assert statements, "the listener saw no SQL at all"
        assert not [s for s in statements if s.lstrip().lower().startswith(WRITES)]
        with pytest.raises(catalogue.ReadOnlyCatalogue):
            catalogue.set_image_status(server.catalogue, result.id, "missing")
        with server.catalogue.engine.connect() as connection:  # the database itself refuses, too
            with pytest.raises(Exception, match="readonly|read-only"):
                connection.exec_driver_sql("UPDATE images SET name = 'x'")
        assert sorted(p.name for p in mounted.iterdir()) == ["catalogue.sqlite"]  # no -wal / -shm created


def test_import_refuses_in_read_only_mode(tmp_path):
    write_ome_zarr_v04(tmp_path / "img.zarr", smooth_array((1, 1, 64, 64)), chunks=(1, 1, 64, 64))
    env = {**os.environ, "STRATASCOPE_READ_ONLY": "1"}
    done = subprocess.run([sys.executable, "-m", "stratascope", "import", str(tmp_path / "img.zarr")],
                          capture_output=True, text=True, timeout=180, env=env)
    assert done.returncode == 1, done
    assert "read-only mode" in done.stdout + done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "stratascope-home" / "catalogue.sqlite").exists()  # nothing was created


@pytest.fixture
def recording_moto(tmp_path, monkeypatch):
    """A moto server of our own with its request recorder on, as the only S3 endpoint."""
    monkeypatch.setenv("MOTO_ENABLE_RECORDING", "True")
    monkeypatch.setenv("MOTO_RECORDER_FILEPATH", str(tmp_path / "moto-recording.jsonl"))
    server = MotoServer().start(tmp_path / "moto.log")
    for key, value in server.aws_env().items():
        monkeypatch.setenv(key, value)
    # list it before the test's services: they are built for this endpoint
    yield server
    server.stop()


def _recorder(server, action: str) -> None:
    request = urllib.request.Request(f"{server.endpoint}/moto-api/recorder/{action}", method="POST")
    urllib.request.urlopen(request, timeout=10).read()


def _entries(text: str) -> list[dict]:
    """moto's recording: JSON objects, one per request (concurrent requests may share a line)."""
    decoder, entries, at = json.JSONDecoder(), [], 0
    while (at := len(text) - len(text[at:].lstrip())) < len(text):
        entry, at = decoder.raw_decode(text, at)
        entries.append(entry)
    return entries


@pytest.mark.parametrize("cache_on_s3", [False, True], ids=["cache-folder", "cache-bucket"])
def test_source_store_is_never_written(recording_moto, tmp_path, monkeypatch, import_urls_sync, cache_on_s3,
                                       services, make_services):
    s3 = boto3_client(recording_moto.endpoint)
    s3.create_bucket(Bucket="source")
    write_ome_zarr_v04(tmp_path / "z.zarr", smooth_array((2, 2, 150, 220), seed=7), chunks=(1, 1, 64, 64))
    upload_tree(s3, tmp_path / "z.zarr", "source", "lab/z.zarr")
    tifffile.imwrite(tmp_path / "t.tif", smooth_array((1300, 900), seed=8), tile=(256, 256), photometric="minisblack")
    upload_tree(s3, tmp_path / "t.tif", "source", "lab/t.tif")
    if cache_on_s3:
        s3.create_bucket(Bucket="fastcache")
        monkeypatch.setenv("STRATASCOPE_CACHE_URL", "s3://fastcache/tier/")
        services = make_services()
    _recorder(recording_moto, "reset-recording")
    _recorder(recording_moto, "start-recording")

    results = import_urls_sync(["s3://source/lab/"], services)
    assert sorted(r.status for r in results) == ["imported", "imported"], results
    assert all(r.error is None for r in results), results
    for read_only in (False, True):
        monkeypatch.setenv("STRATASCOPE_READ_ONLY", "1" if read_only else "0")
        server = make_services()
        assert server.read_only == read_only
        with TestClient(create_app(server)) as client:
            for result in results:
                for url in urls_for(result.id) + [f"/webgateway/render_image_region/{result.id}/0/0/?tile=0,0,0"]:
                    response = client.get(url)
                    assert response.status_code == 200, (url, response.text)
            for result in results:  # OME-Zarr over HTTP: pass-through (Zarr) and re-encoded (TIFF) chunks
                response = client.get(f"/zarr/{result.id}.zarr/0/0/0/0/0/0")
                assert response.status_code == 200, response.text

    _recorder(recording_moto, "stop-recording")
    with urllib.request.urlopen(f"{recording_moto.endpoint}/moto-api/recorder/download-recording") as answer:
        recorded = _entries(answer.read().decode())
    s3_requests = [r for r in recorded if "/moto-api/" not in r["url"]]
    to_source = [r for r in s3_requests if "/source" in r["url"].split("?")[0]]
    assert len(to_source) >= 10  # the recorder saw the session
    assert {r["method"] for r in to_source} <= {"GET", "HEAD"}, [(r["method"], r["url"]) for r in to_source
                                                                   if r["method"] not in ("GET", "HEAD")]
    if cache_on_s3:  # the cache tier is the one place written to
        writes = [r for r in s3_requests if r["method"] in ("PUT", "POST", "DELETE")]
        assert writes and all("/fastcache/" in r["url"] for r in writes)
