"""OME-Zarr over HTTP, read by real clients (zarr-python over fsspec HTTP, ome-zarr-py)
from a live uvicorn server, compared exactly with what independent writers stored."""

from __future__ import annotations

import json
import math
import threading
import time

import httpx
import numpy as np
import pytest
import uvicorn
import zarr

from stratascope.storage import SOURCE_REQUESTS
from support.moto_server import free_port
from support.samples import smooth_array, write_tiff_pyramid


@pytest.fixture
def server(services):
    """The real app on a free loopback port, in a background thread; yields its base URL."""
    from stratascope.api.app import create_app

    port = free_port()
    live = uvicorn.Server(uvicorn.Config(create_app(services), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=live.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not live.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    live.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def v04_folder(tmp_path_factory):
    """sample_zarr's data, written once per module by ome-zarr-py (slow), copied per test."""
    from support.samples import write_ome_zarr_v04

    path = tmp_path_factory.mktemp("v04") / "sample.zarr"
    truth = write_ome_zarr_v04(path, smooth_array((3, 2, 300, 500)))
    return path, truth


@pytest.fixture
def v04_image(v04_folder, tmp_path, import_urls_sync):
    """(image id, truth at full resolution, the source folder) of a private copy."""
    import shutil

    source, truth = v04_folder
    path = shutil.copytree(source, tmp_path / "sample.zarr")
    results = import_urls_sync([str(path)], project="Demo project", dataset="Demo dataset")
    assert results[0].status == "imported", results
    return results[0].id, truth, path


@pytest.fixture
def cold(services):
    """cold() forgets every cache (chunk LRU, shard indexes, an emptied cache tier),
    so that source request counts are exact."""

    def _cold() -> None:
        services.forget_memory()
        services.cache.get().drop()

    return _cold


def _read_all_levels_zarr_python(url: str, expected: list[np.ndarray]) -> None:
    group = zarr.open_group(url, mode="r")
    assert sorted(group.array_keys(), key=int) == [str(i) for i in range(len(expected))]
    for i, truth in enumerate(expected):
        served = group[str(i)][:]
        assert served.shape == truth.shape and served.dtype == truth.dtype
        np.testing.assert_array_equal(served, truth)


def _read_all_levels_ome_zarr(url: str, expected: list[np.ndarray]):
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Multiscales, Reader

    location = parse_url(url)
    assert location is not None, f"ome-zarr-py does not see an OME-Zarr at {url}"
    node = next(n for n in Reader(location)() if n.load(Multiscales))
    assert len(node.data) == len(expected)
    for served, truth in zip(node.data, expected):
        np.testing.assert_array_equal(np.asarray(served), truth)
    return node


def _source_levels_5d(path, axes: str) -> list[np.ndarray]:
    """Every level as the source store holds it, read by zarr-python, in (t, c, z, y, x)."""
    group = zarr.open_group(str(path), mode="r")
    multiscale = (group.attrs.get("ome") or dict(group.attrs))["multiscales"][0]
    levels = []
    for dataset in multiscale["datasets"]:
        array = group[dataset["path"]][:]
        levels.append(array.reshape([array.shape[axes.index(a)] if a in axes else 1 for a in "tczyx"]))
    return levels


# --- OME-Zarr v0.4 source: chunks passed through ----------------------------------------

def test_ome_zarr_v04_source_is_served_byte_for_byte(server, v04_image, cold):
    image_id, truth, folder = v04_image
    url = f"{server}/zarr/{image_id}.zarr"
    levels = _source_levels_5d(folder, "czyx")
    np.testing.assert_array_equal(levels[0], truth)

    cold()
    before = SOURCE_REQUESTS.snapshot()
    _read_all_levels_zarr_python(url, levels)
    cost = SOURCE_REQUESTS.snapshot() - before
    group = zarr.open_group(url, mode="r")
    chunks = sum(math.prod(math.ceil(s / c) for s, c in zip(a.shape, a.chunks)) for _, a in group.arrays())
    assert cost.requests["get"] == chunks, cost  # exactly one GET per served chunk
    assert cost.total == chunks, cost

    # the served chunk is the source object itself
    source = (folder / "s0" / "1" / "0" / "1" / "2").read_bytes()
    served = httpx.get(f"{url}/0/0/1/0/1/2")
    assert served.status_code == 200 and served.content == source
    source_meta = json.loads((folder / "s0" / ".zarray").read_text())
    assert httpx.get(f"{url}/0/.zarray").json()["compressor"] == source_meta["compressor"]

    node = _read_all_levels_ome_zarr(url, levels)
    assert node.metadata["channel_names"] == ["ch0", "ch1", "ch2"]


def test_a_missing_source_chunk_is_a_404_and_reads_as_fill_value(server, v04_image, cold):
    image_id, truth, folder = v04_image
    (folder / "s0" / "2" / "1" / "0" / "0").unlink()
    cold()  # import read this chunk (thumbnails) into the cache tier
    url = f"{server}/zarr/{image_id}.zarr"
    response = httpx.get(f"{url}/0/0/2/1/0/0")
    assert response.status_code == 404 and "message" in response.json()
    expected = truth.copy()
    expected[0, 2, 1, :64, :64] = 0
    np.testing.assert_array_equal(zarr.open_group(url, mode="r")["0"][:], expected)


def test_metadata_documents(server, v04_image):
    image_id, _, _ = v04_image
    url = f"{server}/zarr/{image_id}.zarr"
    attrs = httpx.get(f"{url}/.zattrs").json()
    multiscale = attrs["multiscales"][0]
    assert multiscale["version"] == "0.4"
    assert [a["name"] for a in multiscale["axes"]] == list("tczyx")
    assert [d["path"] for d in multiscale["datasets"]] == ["0", "1", "2", "3", "4"]
    scales = [d["coordinateTransformations"][0]["scale"] for d in multiscale["datasets"]]
    assert scales[0] == [1.0] * 5 and scales[1] == [1.0, 1.0, 1.0, 2.0, 2.0]
    channels = attrs["omero"]["channels"]
    assert [c["label"] for c in channels] == ["ch0", "ch1", "ch2"]
    assert [c["color"] for c in channels] == ["FF0000", "00FF00", "0000FF"]
    assert all(c["active"] and c["window"]["end"] > c["window"]["start"] for c in channels)
    assert attrs["omero"]["rdefs"]["defaultZ"] == 1

    zarray = httpx.get(f"{url}/0/.zarray").json()
    assert zarray["dimension_separator"] == "/" and zarray["shape"] == [1, 3, 2, 300, 500]
    consolidated = httpx.get(f"{url}/.zmetadata").json()["metadata"]
    assert consolidated["0/.zarray"] == zarray and consolidated[".zattrs"] == attrs
    assert httpx.get(f"{url}/.zgroup").json() == {"zarr_format": 2}


# --- OME-Zarr v0.5 sharded source on S3 ---------------------------------------------------

def _write_sharded_v05(path, data_czyx: np.ndarray, levels: int = 3) -> None:
    """OME-Zarr v0.5 (Zarr v3) with sharding, written by zarr-python itself."""
    root = zarr.open_group(str(path), mode="w", zarr_format=3)
    datasets = []
    for i in range(levels):
        level = data_czyx[:, :, :: 2**i, :: 2**i]
        array = root.create_array(str(i), shape=level.shape, dtype=level.dtype, chunks=(1, 1, 32, 32),
                                  shards=(1, 2, 64, 64), dimension_names=list("czyx"))
        array[:] = level
        datasets.append({"path": str(i), "coordinateTransformations": [
            {"type": "scale", "scale": [1.0, 2.0, 0.25 * 2**i, 0.25 * 2**i]}]})
    axes = [{"name": "c", "type": "channel"}] + [
        {"name": a, "type": "space", "unit": "micrometer"} for a in "zyx"]
    root.attrs["ome"] = {"version": "0.5", "multiscales": [{"axes": axes, "datasets": datasets}]}


@pytest.fixture(scope="module")
def sharded_folder(tmp_path_factory):
    data = smooth_array((2, 3, 150, 210))
    data[:, :, :32, :64] = 0  # whole inner chunks of fill value: zarr-python does not store them
    path = tmp_path_factory.mktemp("v05") / "sharded.zarr"
    _write_sharded_v05(path, data)
    return path, _source_levels_5d(path, "czyx")


@pytest.fixture
def sharded_image(sharded_folder, upload, import_urls_sync):
    """(image id, every level in t, c, z, y, x) of the sharded source, uploaded to moto S3."""
    path, levels = sharded_folder
    results = import_urls_sync([upload(path, "sharded.zarr")])
    assert results[0].status == "imported", results
    return results[0].id, levels


def test_sharded_v05_source_passes_inner_chunks_through(server, sharded_image, sharded_folder, cold):
    image_id, levels = sharded_image
    url = f"{server}/zarr/{image_id}.zarr"
    zarray = httpx.get(f"{url}/0/.zarray").json()
    assert zarray["chunks"] == [1, 1, 1, 32, 32] and zarray["compressor"]["id"] == "zstd"

    cold()
    before = SOURCE_REQUESTS.snapshot()
    served = zarr.open_group(url, mode="r")["0"][:]
    cost = SOURCE_REQUESTS.snapshot() - before
    np.testing.assert_array_equal(served, levels[0])
    grid = (1, 2, 3, math.ceil(150 / 32), math.ceil(210 / 32))
    present = sum(
        levels[0][idx[0], idx[1], idx[2], idx[3] * 32:(idx[3] + 1) * 32, idx[4] * 32:(idx[4] + 1) * 32].any()
        for idx in np.ndindex(*grid))
    shards = 2 * 2 * math.ceil(150 / 64) * math.ceil(210 / 64)
    assert present < math.prod(grid)  # some chunks are absent (fill value) and answered 404
    assert cost.requests["get_range"] == present + shards, cost  # one ranged GET per chunk + one index per shard
    assert cost.requests["get"] == 0 and cost.requests["head"] == 0 and cost.requests["list"] == 0

    # the served chunk is the byte range the shard index names, untouched
    shard = (sharded_folder[0] / "0" / "c" / "0" / "0" / "1" / "1").read_bytes()
    index = np.frombuffer(shard[-(8 * 16 + 4):-4], dtype="<u8").reshape(1, 2, 2, 2, 2)
    start, length = (int(v) for v in index[0, 1, 0, 1])
    assert httpx.get(f"{url}/0/0/0/1/2/3").content == shard[start:start + length]

    _read_all_levels_zarr_python(url, levels)
    node = _read_all_levels_ome_zarr(url, levels)
    scale = node.metadata["coordinateTransformations"][0][0]["scale"]
    assert scale == [1.0, 1.0, 2.0, 0.25, 0.25]


def test_v3_view_reads_the_same_pixels(server, sharded_image, v04_image):
    v04_id, _, folder = v04_image
    for image_id, levels in (sharded_image, (v04_id, _source_levels_5d(folder, "czyx"))):
        url = f"{server}/zarr/v3/{image_id}.zarr"
        group = httpx.get(f"{url}/zarr.json").json()
        assert group["attributes"]["ome"]["version"] == "0.5"
        _read_all_levels_zarr_python(url, levels)
        _read_all_levels_ome_zarr(url, levels)
    # a v2 source's chunk, passed through under a v3 key
    source = (folder / "s1" / "0" / "1" / "1" / "0").read_bytes()
    assert httpx.get(f"{server}/zarr/v3/{v04_id}.zarr/1/c/0/0/1/1/0").content == source


def test_zarr_codecs_v2_cannot_state_are_re_encoded_there_and_passed_through_in_v3(
        server, tmp_path, import_urls_sync, cold):
    """zstd + crc32c has no Zarr v2 spelling; float32 with a NaN fill value and unwritten chunks."""
    from zarr.codecs import Crc32cCodec, ZstdCodec

    data = smooth_array((2, 100, 150), dtype=np.float32)
    data[:, :50, :64] = np.nan  # whole chunks equal to the fill value: never written
    root = zarr.open_group(str(tmp_path / "crc.zarr"), mode="w", zarr_format=3)
    array = root.create_array("0", shape=data.shape, dtype=data.dtype, chunks=(1, 50, 64), fill_value=np.nan,
                              compressors=[ZstdCodec(level=3), Crc32cCodec()], dimension_names=list("cyx"))
    array[:] = data
    axes = [{"name": "c", "type": "channel"}, {"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    root.attrs["ome"] = {"version": "0.5", "multiscales": [{"axes": axes, "datasets": [
        {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1.0, 1.0, 1.0]}]}]}]}
    results = import_urls_sync([str(tmp_path / "crc.zarr")])
    assert results[0].status == "imported", results
    expected = [data[np.newaxis, :, np.newaxis]]
    cold()

    v2 = f"{server}/zarr/{results[0].id}.zarr"
    zarray = httpx.get(f"{v2}/0/.zarray").json()
    assert zarray["compressor"]["cname"] == "zstd" and zarray["fill_value"] == "NaN"
    _read_all_levels_zarr_python(v2, expected)

    v3 = f"{server}/zarr/v3/{results[0].id}.zarr"
    codecs = httpx.get(f"{v3}/0/zarr.json").json()["codecs"]
    assert [c["name"] for c in codecs] == ["bytes", "zstd", "crc32c"]
    _read_all_levels_zarr_python(v3, expected)
    assert httpx.get(f"{v3}/0/c/0/0/0/0/0").status_code == 404  # unwritten: fill value
    source = (tmp_path / "crc.zarr" / "0" / "c" / "1" / "1" / "2").read_bytes()
    assert httpx.get(f"{v3}/0/c/0/1/0/1/2").content == source


# --- TIFF sources: re-encoded ----------------------------------------------------------------

def test_tiff_pyramid_is_re_encoded_per_chunk(server, tmp_path, import_urls_sync, cold):
    data = smooth_array((3, 300, 500))
    pyramid = write_tiff_pyramid(tmp_path / "pyramid.ome.tif", data)
    results = import_urls_sync([str(tmp_path / "pyramid.ome.tif")])
    assert results[0].status == "imported", results
    expected = [level[np.newaxis, :, np.newaxis] for level in pyramid]
    url = f"{server}/zarr/{results[0].id}.zarr"

    zarray = httpx.get(f"{url}/0/.zarray").json()
    assert zarray["chunks"] == [1, 1, 1, 128, 128] and zarray["compressor"]["cname"] == "zstd"
    cold()
    before = SOURCE_REQUESTS.snapshot()
    _read_all_levels_zarr_python(url, expected)
    cost = SOURCE_REQUESTS.snapshot() - before
    tiles = sum(3 * math.ceil(a.shape[1] / 128) * math.ceil(a.shape[2] / 128) for a in pyramid)
    assert cost.requests["get_range"] == tiles, cost  # tile-aligned chunks: one tile read each

    node = _read_all_levels_ome_zarr(url, expected)
    axes = node.metadata["axes"]
    assert [a.get("unit") for a in axes][3:] == ["micrometer", "micrometer"]
    scales = [t[0]["scale"] for t in node.metadata["coordinateTransformations"]]
    assert scales[0][3:] == [0.5, 0.5] and scales[1][3:] == [1.0, 1.0]

    v3_url = f"{server}/zarr/v3/{results[0].id}.zarr"
    _read_all_levels_zarr_python(v3_url, expected)
    codecs = httpx.get(f"{v3_url}/0/zarr.json").json()["codecs"]
    assert [c["name"] for c in codecs] == ["bytes", "blosc"]


def test_tiff_strips_are_grouped_into_chunks_of_at_least_64_rows(server, tmp_path, import_urls_sync):
    import tifffile

    data = smooth_array((200, 300), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "strips.tif", data, rowsperstrip=8, compression="zlib")
    results = import_urls_sync([str(tmp_path / "strips.tif")])
    assert results[0].status == "imported", results
    url = f"{server}/zarr/{results[0].id}.zarr"
    zarray = httpx.get(f"{url}/0/.zarray").json()
    assert zarray["chunks"][3] >= 64 and zarray["chunks"][3] % 8 == 0
    _read_all_levels_zarr_python(url, [data[np.newaxis, np.newaxis, np.newaxis]])
    # an edge chunk is padded to the full chunk shape, as Zarr requires
    rows = math.ceil(200 / zarray["chunks"][3]) - 1
    raw = httpx.get(f"{url}/0/0/0/0/{rows}/0").content
    import numcodecs

    decoded = np.frombuffer(numcodecs.get_codec(zarray["compressor"]).decode(raw), dtype=np.uint8)
    assert decoded.size == math.prod(zarray["chunks"])


# --- HTTP behaviour --------------------------------------------------------------------------

def test_headers_head_and_conditional_requests(server, v04_image):
    image_id, _, _ = v04_image
    chunk_url = f"{server}/zarr/{image_id}.zarr/0/0/0/0/0/0"
    got = httpx.get(chunk_url, headers={"Origin": "https://viewer.example"})
    assert got.status_code == 200
    assert got.headers["access-control-allow-origin"] == "*"
    assert "max-age" in got.headers["cache-control"] and got.headers["etag"]
    assert "content-encoding" not in got.headers  # compressed chunks are not gzipped again
    head = httpx.head(chunk_url)
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(got.content)
    assert head.content == b""
    again = httpx.get(chunk_url, headers={"If-None-Match": got.headers["etag"]})
    assert again.status_code == 304
    meta = httpx.head(f"{server}/zarr/{image_id}.zarr/.zattrs")
    assert meta.status_code == 200 and meta.headers["content-type"] == "application/json"


BAD_PATHS = [
    ("/zarr/1.zarr/%2e%2e/%2e%2e/etc/passwd", 400),
    ("/zarr/1.zarr/0/../.zarray", None),  # clients normalise it away; either way never a 500
    ("/zarr/1.zarr/0//0/0/0/0", 400),
    ("/zarr/1.zarr/", 404),
    ("/zarr/1.zarr/9/.zarray", 404),
    ("/zarr/1.zarr/99999999999999999999/.zarray", 404),
    ("/zarr/1.zarr/0/0/0/0/999/0", 404),
    ("/zarr/1.zarr/0/0/0/0/0", 404),
    ("/zarr/1.zarr/0/0/0/0/0/0/0", 404),
    ("/zarr/1.zarr/0/0/a/0/0/0", 400),
    ("/zarr/1.zarr/0/0/-1/0/0/0", 400),
    ("/zarr/1.zarr/0/0/1.5/0/0/0", 400),
    ("/zarr/1.zarr/zarr.json", 404),
    ("/zarr/1.zarr/0/.zgroup", 404),
    ("/zarr/abc.zarr/.zattrs", 400),
    ("/zarr/1/.zattrs", 400),
    ("/zarr/424242.zarr/.zattrs", 404),
    ("/zarr/v3/1.zarr/0/0/0/0/0/0", 404),
    ("/zarr/v3/1.zarr/0/c/0/0/0/0/x", 400),
    ("/zarr/v3/1.zarr/7/zarr.json", 404),
    ("/zarr/v3/1.zarr/.zattrs", 404),
]


def test_bad_paths_are_client_errors_with_a_json_body(server, v04_image):
    assert v04_image[0] == 1
    for path, status in BAD_PATHS:
        response = httpx.get(server + path)
        if status is None:
            assert 400 <= response.status_code < 500, (path, response.status_code, response.text)
        else:
            assert response.status_code == status, (path, response.status_code, response.text)
        assert "message" in response.json(), path
