"""Bulk import and cache warming on a Dask LocalCluster of worker processes, driven through
the real command line, compared with the in-process import of the same prefix."""

from __future__ import annotations

import asyncio
import json
import logging

import numpy as np
import pytest

from support.cli import run_cli
from support.samples import smooth_array, write_ome_zarr_v04, write_tiff_pyramid

pytest.importorskip("distributed")


def cli(*args: str, timeout: float = 240):
    return run_cli(*args, timeout=timeout)


@pytest.fixture
def prefix(tmp_path, upload):
    """Five candidates in a bucket: two OME-Zarr, two OME-TIFF pyramids, one corrupt TIFF."""
    src = tmp_path / "src"
    src.mkdir()
    write_ome_zarr_v04(src / "a.zarr", smooth_array((2, 1, 90, 130), seed=1), chunks=(1, 1, 32, 32))
    write_ome_zarr_v04(src / "b.zarr", smooth_array((1, 2, 70, 64), seed=2), chunks=(1, 1, 32, 32))
    write_tiff_pyramid(src / "c.ome.tif", smooth_array((1, 150, 200), np.uint8, seed=3), levels=2, tile=(64, 64))
    write_tiff_pyramid(src / "d.ome.tif", smooth_array((2, 128, 96), seed=4), levels=1, tile=(32, 32))
    (src / "broken.tif").write_bytes(b"II*\x00" + b"\xff" * 200)
    for name in ("a.zarr", "b.zarr", "c.ome.tif", "d.ome.tif", "broken.tif"):
        url = upload(src / name, f"lab/{name}")
    return url.rsplit("/", 1)[0] + "/"


@pytest.fixture
def cluster(stratascope_home, moto_server):
    """Two single-threaded worker processes; they inherit os.environ (STRATASCOPE_HOME,
    AWS_* of moto) as it is now, when they are spawned."""
    from distributed import LocalCluster

    with LocalCluster(processes=True, n_workers=2, threads_per_worker=1, dashboard_address=None,
                      silence_logs=logging.ERROR) as local:
        yield local.scheduler_address


def _catalogue_contents(services) -> dict:
    """Everything registered, by source URL and series, without ids and timestamps."""
    from stratascope import catalogue

    records, _ = catalogue.list_images(services.catalogue)
    contents = {}
    for record in records:
        full = catalogue.get_image(services.catalogue, record.id)
        contents[(full.url, full.series)] = {
            "name": full.name, "format": full.format, "axes": full.axes, "shape": full.shape, "dtype": full.dtype,
            "project": full.project_name, "dataset": full.dataset_name, "status": full.status,
            "physical_sizes": full.physical_sizes, "levels": full.levels, "channels": full.channels,
            "sources": full.sources,
        }
    return contents


def _by_url(results: list[dict]) -> dict:
    return {(r["url"], r["name"]): (r["status"], r["error"] is None) for r in results}


def test_import_on_cluster_matches_in_process_import(prefix, cluster, tmp_path, monkeypatch, import_urls_sync,
                                                     services, make_services):
    from stratascope import catalogue

    result = cli("import", prefix, "--project", "P", "--dataset", "D", "--json", "--scheduler", cluster)
    assert result.returncode == 1, result.stderr  # the corrupt TIFF fails, the others import
    on_cluster = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(r["status"] for r in on_cluster) == ["failed"] + ["imported"] * 4
    [failure] = [r for r in on_cluster if r["status"] == "failed"]
    assert failure["url"].endswith("/broken.tif") and failure["error"]
    cluster_contents = _catalogue_contents(services)
    registered_ids = {r.id for r in catalogue.list_images(services.catalogue)[0]}
    assert {r["id"] for r in on_cluster if r["id"] is not None} == registered_ids
    for r in on_cluster:  # thumbnails were made on the workers, into the shared cache tier
        if r["id"] is not None:
            assert catalogue.get_image(services.catalogue, r["id"]).status == "ok"

    again = cli("import", prefix, "--project", "P", "--dataset", "D", "--json", "--workers", "2")
    rerun = [json.loads(line) for line in again.stdout.splitlines()]
    assert sorted(r["status"] for r in rerun) == ["failed"] + ["unchanged"] * 4, again.stderr
    assert {r["id"] for r in rerun if r["id"] is not None} == registered_ids

    # the same prefix, imported in this process into a fresh catalogue
    monkeypatch.setenv("STRATASCOPE_HOME", str(tmp_path / "in-process-home"))
    in_process_services = make_services()
    in_process = [r.as_dict() for r in import_urls_sync([prefix], in_process_services, project="P", dataset="D")]
    assert _by_url(in_process) == _by_url(on_cluster)
    assert sorted(r["id"] for r in in_process if r["id"]) == sorted(registered_ids)
    assert _catalogue_contents(in_process_services) == cluster_contents


def test_cache_warming_on_cluster_fills_the_cache_tier(prefix, cluster, import_urls_sync, services):
    from stratascope import catalogue
    from stratascope.storage import SOURCE_REQUESTS

    results = import_urls_sync([prefix])
    assert sum(r.status == "imported" for r in results) == 4
    services.cache.get().drop("chunk/")
    services.cache.get().drop("shardindex/")
    services.forget_memory()

    warm = cli("cache", "warm", prefix, "--scheduler", cluster)
    assert warm.returncode == 0, warm.stderr
    assert "source requests" in warm.stderr
    stats = services.cache.get().stats()
    assert stats["kinds"]["chunk"]["entries"] > 0

    services.forget_memory()  # no decoded chunks in memory: every read below goes to the cache tier or the source
    before = SOURCE_REQUESTS.snapshot()
    for summary in catalogue.list_images(services.catalogue)[0]:
        record = catalogue.get_image(services.catalogue, summary.id)
        for level_no, level in enumerate(record.levels):
            t, c, z, _, _ = level.shape
            for tt in range(t):
                for zz in range(z):
                    plane = asyncio.run(services.reader.read_region(record, level_no, t=tt, z=zz))
                    assert plane.shape[0] == c
    assert (SOURCE_REQUESTS.snapshot() - before).total == 0


def test_workers_with_another_catalogue_are_refused(prefix, cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("STRATASCOPE_HOME", str(tmp_path / "elsewhere"))
    result = cli("import", prefix, "--scheduler", cluster)
    assert result.returncode == 1
    assert "uses the catalogue" in result.stderr and "same settings" in result.stderr, result.stderr
    assert result.stdout == ""  # refused before anything was imported


def test_unreachable_scheduler_is_a_clear_error():
    result = cli("import", "s3://nowhere/x/", "--scheduler", "tcp://127.0.0.1:9", timeout=120)
    assert result.returncode == 1
    assert "cannot connect to the Dask scheduler tcp://127.0.0.1:9" in result.stderr
