"""`stratascope cache stats | drop | warm` on real imported images (moto S3)."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from stratascope import catalogue
from stratascope.cli import cache as cache_cli
from stratascope.pixels.fetch import CachedFetch, SourceFetch
from stratascope.pixels.reader import PixelReader
from stratascope.storage import SOURCE_REQUESTS
from support.samples import smooth_array, write_ome_zarr_v04, write_tiff_pyramid


@pytest.fixture
def cli(services):
    app = typer.Typer()
    cache_cli.register(app)
    runner = CliRunner()

    def run(*args: str):
        # the commands use the test's services (as a CLI invocation uses the ones it builds)
        return runner.invoke(app, ["cache", *args], catch_exceptions=False, obj=services)

    return run


@pytest.fixture
def page_cache_file(tmp_path, monkeypatch):
    # where `drop` asks the kernel to drop its page cache; a plain file here, so tests never
    # flush the page cache of the machine they run on
    path = tmp_path / "drop_caches"
    monkeypatch.setattr(cache_cli, "DROP_CACHES", str(path))
    return path


def test_stats_json_and_text(cli, services):
    cache = services.cache.get()
    cache.put("chunk/a", b"x" * 100)
    cache.put("thumb/1.1/96x96.jpg", b"y" * 10)
    assert cache.get("chunk/a") == b"x" * 100
    assert cache.get("chunk/b") is None
    result = cli("stats", "--json")
    assert result.exit_code == 0
    stats = json.loads(result.stdout)
    assert stats["entries"] == 2 and stats["hits"] == 1 and stats["misses"] == 1 and stats["hit_ratio"] == 0.5
    assert set(stats["kinds"]) == {"chunk", "thumb"}
    text = cli("stats").stdout
    assert "2 entries" in text and "50.0 %" in text


def test_drop_chunks_keeps_thumbnails_and_all_drops_everything(cli, page_cache_file, services):
    cache = services.cache.get()
    for key in ("chunk/1", "shardindex/1", "thumb/1.1/96x96.jpg", "overview/1.1/3.npy"):
        cache.put(key, b"data")
    result = cli("drop")
    assert result.exit_code == 0 and "removed 2 entries (chunks and shard indexes)" in result.stdout
    assert "dropped the OS page cache" in result.stdout and page_cache_file.read_text() == "3\n"
    kinds = cache.stats()["kinds"]
    assert {kind for kind, k in kinds.items() if k["entries"]} == {"thumb", "overview"}
    result = cli("drop", "--all")
    assert result.exit_code == 0 and "removed 2 entries (all kinds)" in result.stdout
    assert cache.stats()["entries"] == 0
    assert cli("drop", "--all", "--chunks").exit_code == 2


def test_drop_says_when_the_page_cache_cannot_be_dropped(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(cache_cli, "DROP_CACHES", str(tmp_path / "missing-dir" / "drop_caches"))
    result = cli("drop", "--chunks")
    assert result.exit_code == 0 and "could not drop the OS page cache" in result.stdout


def write_v05_sharded(root) -> np.ndarray:
    """OME-Zarr v0.5, sharded (Zarr v3), via ome-zarr-py."""
    import zarr
    from ome_zarr.format import FormatV05
    from ome_zarr.writer import write_image

    data = smooth_array((2, 130, 100), seed=9)
    group = zarr.open_group(root, mode="w", zarr_format=3)
    write_image(data, group, axes="cyx", fmt=FormatV05(), scale_factors=[2],
                storage_options={"chunks": (1, 32, 32), "shards": (1, 64, 64)})
    return data


def test_warm_by_prefix_then_every_level_reads_without_the_archive(cli, tmp_path, upload, bucket, services):
    from stratascope.ingest import ImportOptions, import_urls

    zarr_data = smooth_array((2, 1, 256, 200), seed=4)
    write_ome_zarr_v04(tmp_path / "z.zarr", zarr_data, chunks=(1, 1, 64, 64))
    sharded = write_v05_sharded(tmp_path / "s.zarr")
    tiff_levels = write_tiff_pyramid(tmp_path / "p.ome.tif", smooth_array((1, 300, 260), seed=6), levels=2)
    for name in ("z.zarr", "s.zarr", "p.ome.tif"):
        upload(tmp_path / name, f"lab/{name}")
    results = asyncio.run(import_urls(services, [f"s3://{bucket}/lab"], ImportOptions()))
    assert [r.status for r in results] == ["imported"] * 3, results

    result = cli("warm", f"s3://{bucket}/lab/")
    assert result.exit_code == 0, result.output
    assert "warmed" in result.output

    truth = {"z.zarr": zarr_data[1, 0], "s.zarr": sharded[1], "p.ome.tif": tiff_levels[0][0]}
    # as in a fresh process: empty memory LRU
    reader = PixelReader(64 * 2**20, fetch=CachedFetch(SourceFetch(services.source), services.cache),
                         codecs=services.reader.make_codec)
    before = SOURCE_REQUESTS.snapshot()
    for r in results:
        record = catalogue.get_image(services.catalogue, r.id)
        assert len(record.levels) >= 2
        for level in range(len(record.levels)):
            plane = asyncio.run(reader.read_region(record, level, c=0))
            assert plane.shape == record.levels[level].shape[3:]
        np.testing.assert_array_equal(asyncio.run(reader.read_region(record, 0, c=1 if record.size_c > 1 else 0)),
                                      truth[r.url.rsplit("/", 1)[1]])
    assert (SOURCE_REQUESTS.snapshot() - before).total == 0
    kinds = services.cache.get().stats()["kinds"]
    assert kinds["chunk"]["entries"] > 0 and kinds["shardindex"]["entries"] > 0


def test_warm_one_image_and_selected_levels(cli, tmp_path, upload, services):
    from stratascope.ingest import ImportOptions, import_urls

    write_tiff_pyramid(tmp_path / "p.ome.tif", smooth_array((1, 300, 260), seed=6), levels=2)
    (imported,) = asyncio.run(import_urls(services, [upload(tmp_path / "p.ome.tif", "p.ome.tif")], ImportOptions()))
    record = catalogue.get_image(services.catalogue, imported.id)
    result = cli("warm", str(imported.id), "--levels", "1")
    assert result.exit_code == 0, result.output
    reader = PixelReader(64 * 2**20, fetch=CachedFetch(SourceFetch(services.source), services.cache),
                         codecs=services.reader.make_codec)
    before = SOURCE_REQUESTS.snapshot()
    asyncio.run(reader.read_region(record, 1, c=0))
    assert (SOURCE_REQUESTS.snapshot() - before).total == 0
    asyncio.run(reader.read_region(record, 0, c=0, y=(0, 10), x=(0, 10)))
    assert (SOURCE_REQUESTS.snapshot() - before).total > 0  # level 0 was not warmed

    assert cli("warm", str(imported.id), "--levels", "7").exit_code == 1
    assert cli("warm", "999").exit_code == 1
    assert cli("warm", "s3://no-such-bucket/").exit_code == 1
    assert cli("warm", str(imported.id), "--levels", "x").exit_code == 2
