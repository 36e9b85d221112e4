"""ZarrChunkCodec against OME-Zarr written by ome-zarr-py and zarr-python 3: every chunk of
every level is located, fetched and decoded, and must equal what zarr-python reads back."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import shutil
from pathlib import Path

import numcodecs
import numpy as np
import pytest
import zarr
from ome_zarr.format import FormatV04, FormatV05
from ome_zarr.writer import write_image
from zarr.codecs import BloscCodec, BytesCodec, Crc32cCodec, GzipCodec, ShardingCodec, TransposeCodec

from stratascope.formats.model import AXES, ChunkTooLarge, FormatError
from stratascope.formats.ome_zarr import read_ome_zarr
from stratascope.pixels.zarr_chunks import LRUCache, ZarrChunkCodec
from stratascope.storage import SOURCE_REQUESTS, ObjectChanged, ObjectNotFound

RNG = np.random.default_rng(42)

#: the test's services' SourceReader (set per test by `_source`)
SOURCE = None


@pytest.fixture(autouse=True)
def _source(moto_server, services, monkeypatch):
    """The S3 environment is in place before the services read it (tests upload mid-test)."""
    monkeypatch.setitem(globals(), "SOURCE", services.source)


async def fetch(url, start, end, version):
    if start is None:
        return await SOURCE.get(url, version=version)
    if start < 0:
        return await SOURCE.get_suffix(url, -start, version=version)
    return await SOURCE.get_range(url, start, end, version=version)


# --- samples, written by independent writers ---------------------------------------------

def _ome_attrs(axes: str, paths: list[str]) -> dict:
    return {"multiscales": [{
        "axes": [{"name": a, "type": {"t": "time", "c": "channel"}.get(a, "space")} for a in axes],
        "datasets": [{"path": p, "coordinateTransformations": [{"type": "scale", "scale": [2.0**i] * len(axes)}]}
                     for i, p in enumerate(paths)],
    }]}


def v04_czyx_uint16_omero(root: Path) -> None:
    data = RNG.integers(0, 65535, size=(2, 3, 150, 100), dtype=np.uint16)
    data[1, :, :64, :] = 0  # whole chunks equal to the fill value: not written
    omero = {"channels": [{"label": "DAPI", "color": "0000FF",
                           "window": {"start": 10, "end": 5000, "min": 0, "max": 65535}},
                          {"label": "GFP", "color": "00FF00", "active": False,
                           "window": {"start": 0, "end": 900, "min": 0, "max": 65535}}]}
    group = zarr.open_group(root, mode="w", zarr_format=2)
    write_image(data, group, axes="czyx", fmt=FormatV04(), scale_factors=[2],
                storage_options={"chunks": (1, 2, 64, 48)})
    group.attrs["omero"] = omero


def v04_yx_uint8_dot_separator(root: Path) -> None:
    group = zarr.open_group(root, mode="w", zarr_format=2)
    array = group.create_array("0", shape=(37, 53), chunks=(16, 16), dtype="|u1",
                               chunk_key_encoding={"name": "v2", "separator": "."})
    array[...] = RNG.integers(0, 255, size=(37, 53), dtype=np.uint8)
    group.attrs.update({"multiscales": [{**_ome_attrs("yx", ["0"])["multiscales"][0], "version": "0.4"}]})


def v04_filters_big_endian_fortran(root: Path) -> None:
    group = zarr.open_group(root, mode="w", zarr_format=2)
    array = group.create_array("0", shape=(33, 47), chunks=(10, 20), dtype=">u2", order="F", fill_value=3,
                               filters=[numcodecs.Delta(dtype=">u2")], compressors=numcodecs.Blosc(),
                               chunk_key_encoding={"name": "v2", "separator": "/"})
    data = RNG.integers(0, 60000, size=(33, 47)).astype(">u2")
    data[:10, :20] = 3
    array[...] = data
    group.attrs.update(_ome_attrs("yx", ["0"]))


def v05_tczyx_float32(root: Path) -> None:
    data = RNG.random((2, 2, 3, 70, 90)).astype(np.float32)
    group = zarr.open_group(root, mode="w", zarr_format=3)
    write_image(data, group, axes="tczyx", fmt=FormatV05(), scale_factors=[2],
                storage_options={"chunks": (1, 1, 2, 32, 64)})


def v05_sharded_czyx_uint16(root: Path) -> None:
    data = RNG.integers(0, 4000, size=(2, 3, 100, 130), dtype=np.uint16)
    data[1, 2, :, :] = 0  # absent inner chunks (index entries 2^64-1)
    group = zarr.open_group(root, mode="w", zarr_format=3)
    write_image(data, group, axes="czyx", fmt=FormatV05(), scale_factors=[2],
                storage_options={"chunks": (1, 1, 32, 32), "shards": (1, 3, 64, 64)})


def v05_sharded_yx_uint8_index_at_start(root: Path) -> None:
    attributes = {"ome": {"version": "0.5", **_ome_attrs("yx", ["0"])}}
    group = zarr.open_group(root, mode="w", zarr_format=3, attributes=attributes)
    serializer = ShardingCodec(chunk_shape=(10, 10), codecs=[BytesCodec(), BloscCodec()], index_location="start")
    array = group.create_array("0", shape=(100, 90), chunks=(40, 30), dtype="uint8", serializer=serializer,
                               compressors=None, fill_value=7)
    data = RNG.integers(0, 255, size=(100, 90), dtype=np.uint8)
    data[40:80, :] = 7  # two whole shards of fill value: no shard objects at all
    array[...] = data


def v05_transpose_big_endian_gzip_crc(root: Path) -> None:
    attributes = {"ome": {"version": "0.5", **_ome_attrs("zyx", ["0"])}}
    group = zarr.open_group(root, mode="w", zarr_format=3, attributes=attributes)
    array = group.create_array("0", shape=(3, 50, 70), chunks=(2, 16, 32), dtype="float32",
                               filters=[TransposeCodec(order=(2, 0, 1))], serializer=BytesCodec(endian="big"),
                               compressors=[GzipCodec(), Crc32cCodec()], fill_value=float("nan"),
                               chunk_key_encoding={"name": "default", "separator": "."})
    array[...] = RNG.random((3, 50, 70)).astype(np.float32)


SAMPLES = [v04_czyx_uint16_omero, v04_yx_uint8_dot_separator, v04_filters_big_endian_fortran, v05_tczyx_float32,
           v05_sharded_czyx_uint16, v05_sharded_yx_uint8_index_at_start, v05_transpose_big_endian_gzip_crc]


# --- reading every chunk ----------------------------------------------------------------

async def read_level(level, codec=None) -> np.ndarray:
    """Assemble a whole level from its chunks, the way pixels/ does it."""
    codec = codec or ZarrChunkCodec(level)
    out = np.empty(level.shape, dtype=level.dtype)
    grid = [-(-s // c) for s, c in zip(level.shape, level.chunks)]
    for index in itertools.product(*(range(n) for n in grid)):
        where = await codec.locate(index, fetch)
        chunk = None
        if where is not None:
            try:
                chunk = codec.decode(await fetch(where.url, where.start, where.end, where.version), index)
            except ObjectNotFound:
                assert codec.missing_object_is_fill and where.start is None
        if chunk is None:
            chunk = codec.fill(index)
        assert chunk.shape == level.chunks and chunk.dtype == np.dtype(level.dtype)
        box = tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(index, level.chunks, level.shape))
        out[box] = chunk[tuple(slice(0, b.stop - b.start) for b in box)]
    return out


def expected_5d(array_url_path: str, axes: str) -> np.ndarray:
    native = zarr.open_array(array_url_path, mode="r")[...]
    order = sorted(range(len(axes)), key=lambda i: AXES.index(axes[i]))
    shape5 = [1] * 5
    for axis, size in zip(axes, native.shape):
        shape5[AXES.index(axis)] = size
    return native.transpose(order).reshape(shape5)


@pytest.mark.parametrize("where", ["local", "s3"])
@pytest.mark.parametrize("write", SAMPLES, ids=lambda f: f.__name__)
def test_every_chunk_round_trips(write, where, tmp_path, request):
    local = tmp_path / "image.zarr"
    write(local)
    url = str(local) if where == "local" else request.getfixturevalue("upload")(local, "data/image.zarr")
    images = asyncio.run(read_ome_zarr(url, SOURCE))
    assert len(images) == 1
    if write is v04_czyx_uint16_omero:
        channels = [(c.label, c.color, c.active) for c in images[0].channels]
        assert channels == [("DAPI", "0000FF", True), ("GFP", "00FF00", False)]
    for level in images[0].levels:
        local_array = str(local / level.layout["url"].rsplit("image.zarr/", 1)[1])
        expected = expected_5d(local_array, level.layout["native_axes"])
        actual = asyncio.run(read_level(level))
        assert actual.dtype == expected.dtype.newbyteorder("=")
        np.testing.assert_array_equal(actual, expected, strict=False)
        assert np.array_equal(actual, expected, equal_nan=True)


# --- request counts ---------------------------------------------------------------------

def _cost(coroutine):
    before = SOURCE_REQUESTS.snapshot()
    result = asyncio.run(coroutine)
    return result, (SOURCE_REQUESTS.snapshot() - before).requests


def test_one_unsharded_chunk_is_one_get(tmp_path, upload):
    v05_tczyx_float32(tmp_path / "image.zarr")
    level = asyncio.run(read_ome_zarr(upload(tmp_path / "image.zarr", "image.zarr"), SOURCE))[0].levels[0]
    codec = ZarrChunkCodec(level)

    async def one_chunk():
        where = await codec.locate((1, 1, 1, 2, 1), fetch)
        return codec.decode(await fetch(where.url, where.start, where.end, None), (1, 1, 1, 2, 1))

    chunk, cost = _cost(one_chunk())
    assert cost["get"] == 1 and sum(cost.values()) == 1
    assert chunk.shape == level.chunks


def test_sharded_chunk_costs_index_plus_chunk_then_chunk_only(tmp_path, upload):
    v05_sharded_czyx_uint16(tmp_path / "image.zarr")
    level = asyncio.run(read_ome_zarr(upload(tmp_path / "image.zarr", "image.zarr"), SOURCE))[0].levels[0]
    codec = ZarrChunkCodec(level)
    expected = expected_5d(str(tmp_path / "image.zarr" / "s0"), "czyx")

    async def one_chunk(index):
        where = await codec.locate(index, fetch)
        return codec.decode(await fetch(where.url, where.start, where.end, None), index)

    first, cold = _cost(one_chunk((0, 0, 1, 0, 0)))
    second, warm = _cost(one_chunk((0, 0, 2, 1, 1)))  # same shard (c 0, z 0-2, y/x 0-63)
    assert cold["get_range"] == 2 and sum(cold.values()) == 2
    assert warm["get_range"] == 1 and sum(warm.values()) == 1
    np.testing.assert_array_equal(first[0, 0, 0], expected[0, 0, 1, 0:32, 0:32])
    np.testing.assert_array_equal(second[0, 0, 0], expected[0, 0, 2, 32:64, 32:64])


def test_concurrent_chunks_of_one_shard_share_one_index_request(tmp_path):
    v05_sharded_czyx_uint16(tmp_path / "image.zarr")
    level = asyncio.run(read_ome_zarr(str(tmp_path / "image.zarr"), SOURCE))[0].levels[0]
    codec = ZarrChunkCodec(level)

    async def locate_many():
        indexes = [(0, 0, z, y, x) for z in range(3) for y in (0, 1) for x in (0, 1)]
        return await asyncio.gather(*(codec.locate(index, fetch) for index in indexes))

    ranges, cost = _cost(locate_many())
    assert cost["get_range"] == 1 and all(r is not None for r in ranges)


def test_shard_index_cache_is_pluggable_and_bounded(tmp_path):
    v05_sharded_czyx_uint16(tmp_path / "image.zarr")
    level = asyncio.run(read_ome_zarr(str(tmp_path / "image.zarr"), SOURCE))[0].levels[0]
    shared: dict = {}
    asyncio.run(ZarrChunkCodec(level, index_cache=shared).locate((0, 0, 0, 0, 0), fetch))
    assert len(shared) == 1
    _, cost = _cost(ZarrChunkCodec(level, index_cache=shared).locate((0, 0, 1, 0, 0), fetch))
    assert sum(cost.values()) == 0  # a second codec reuses the first one's index
    small = LRUCache(max_entries=2)
    asyncio.run(read_level(level, ZarrChunkCodec(level, index_cache=small)))
    assert len(small) == 2


# --- absent and bad chunks --------------------------------------------------------------

def test_absent_chunks_are_fill_value(tmp_path):
    v05_sharded_yx_uint8_index_at_start(tmp_path / "image.zarr")
    level = asyncio.run(read_ome_zarr(str(tmp_path / "image.zarr"), SOURCE))[0].levels[0]
    codec = ZarrChunkCodec(level)
    assert asyncio.run(codec.locate((0, 0, 0, 5, 0), fetch)) is None  # rows 50-59: a missing shard
    assert (codec.fill((0, 0, 0, 5, 0)) == 7).all()
    with pytest.raises(IndexError):
        asyncio.run(codec.locate((0, 0, 0, 10, 0), fetch))

    sharded = tmp_path / "sharded.zarr"
    v05_sharded_czyx_uint16(sharded)
    level = asyncio.run(read_ome_zarr(str(sharded), SOURCE))[0].levels[0]
    codec = ZarrChunkCodec(level)
    assert (sharded / "s0" / "c" / "1" / "0" / "0" / "0").exists()  # the shard is there ...
    assert asyncio.run(codec.locate((0, 1, 2, 0, 0), fetch)) is None  # ... its entry for an all-zero chunk is empty
    assert asyncio.run(codec.locate((0, 1, 1, 0, 0), fetch)) is not None

    unsharded = tmp_path / "unsharded.zarr"
    v04_czyx_uint16_omero(unsharded)
    level = asyncio.run(read_ome_zarr(str(unsharded), SOURCE))[0].levels[0]
    where = asyncio.run(ZarrChunkCodec(level).locate((0, 1, 0, 0, 0), fetch))
    with pytest.raises(ObjectNotFound):  # not written by zarr: the reader uses fill()
        asyncio.run(fetch(where.url, None, None, None))


def test_corrupt_chunk_is_a_clear_error(tmp_path):
    root = tmp_path / "image.zarr"
    v05_tczyx_float32(root)
    level = asyncio.run(read_ome_zarr(str(root), SOURCE))[0].levels[0]
    codec = ZarrChunkCodec(level)
    where = asyncio.run(codec.locate((0, 0, 0, 0, 0), fetch))
    good = asyncio.run(fetch(where.url, None, None, None))
    for bad in (b"not zstd at all", good[: len(good) // 2], b""):
        with pytest.raises(FormatError):
            codec.decode(bad, (0, 0, 0, 0, 0))


def test_wrong_decoded_size_is_rejected(tmp_path):
    root = tmp_path / "image.zarr"
    v04_yx_uint8_dot_separator(root)
    level = asyncio.run(read_ome_zarr(str(root), SOURCE))[0].levels[0]
    level.layout["codecs"]["compressor"] = None
    with pytest.raises(FormatError, match="expected 256"):
        ZarrChunkCodec(level).decode(bytes(255), (0, 0, 0, 0, 0))
    level.layout["codecs"]["compressor"] = {"id": "blosc"}
    with pytest.raises(FormatError, match="blosc"):
        ZarrChunkCodec(level).decode(bytes(255), (0, 0, 0, 0, 0))
    # a zlib bomb: far more bytes than one chunk is refused without inflating it all
    level.layout["codecs"]["compressor"] = {"id": "zlib", "level": 1}
    with pytest.raises(FormatError, match="more than"):
        ZarrChunkCodec(level).decode(numcodecs.Zlib().encode(bytes(50_000_000)), (0, 0, 0, 0, 0))


def test_crc_mismatches_are_integrity_errors(tmp_path):
    root = tmp_path / "image.zarr"
    v05_transpose_big_endian_gzip_crc(root)
    level = asyncio.run(read_ome_zarr(str(root), SOURCE))[0].levels[0]
    codec = ZarrChunkCodec(level)
    where = asyncio.run(codec.locate((0, 0, 0, 0, 0), fetch))
    data = bytearray(asyncio.run(fetch(where.url, None, None, None)))
    data[-1] ^= 0xFF
    with pytest.raises(ObjectChanged):
        codec.decode(bytes(data), (0, 0, 0, 0, 0))

    sharded = tmp_path / "sharded.zarr"
    v05_sharded_czyx_uint16(sharded)
    shard = sharded / "s0" / "c" / "0" / "0" / "0" / "0"
    raw = bytearray(shard.read_bytes())
    raw[-1] ^= 0xFF
    shard.write_bytes(bytes(raw))
    level = asyncio.run(read_ome_zarr(str(sharded), SOURCE))[0].levels[0]
    with pytest.raises(ObjectChanged, match="checksum"):
        asyncio.run(ZarrChunkCodec(level).locate((0, 0, 0, 0, 0), fetch))


def test_truncated_shard_is_a_clear_error(tmp_path):
    root = tmp_path / "image.zarr"
    v05_sharded_czyx_uint16(root)
    level = asyncio.run(read_ome_zarr(str(root), SOURCE))[0].levels[0]
    shard = root / "s0" / "c" / "0" / "0" / "0" / "0"
    shard.write_bytes(b"tiny")
    with pytest.raises(FormatError, match="index has 4 bytes"):
        asyncio.run(ZarrChunkCodec(level).locate((0, 0, 0, 0, 0), fetch))
    shutil.rmtree(root / "s0" / "c")
    assert asyncio.run(ZarrChunkCodec(level).locate((0, 0, 0, 0, 0), fetch)) is None


def test_layout_is_json(tmp_path):
    for write in SAMPLES:
        root = tmp_path / write.__name__
        write(root)
        for level in asyncio.run(read_ome_zarr(str(root), SOURCE))[0].levels:
            assert json.loads(json.dumps(level.layout)) == level.layout


# --- decompression bombs: every codec step is bounded by the chunk's size -----------------

BOMB_BYTES = 16 * 2**20  # inflates 16 MiB; a 16 x 16 uint8 chunk holds 256 bytes


def _decode_peak(codec: ZarrChunkCodec, data: bytes) -> tuple[Exception | None, int]:
    import tracemalloc

    try:  # warm up: imports and codec registries allocate once, on first use
        codec.decode(data, (0, 0, 0, 0, 0))
    except Exception:  # noqa: BLE001, S110
        pass
    tracemalloc.start()
    try:
        codec.decode(data, (0, 0, 0, 0, 0))
        error = None
    except Exception as exc:  # noqa: BLE001 - the test inspects it
        error = exc
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return error, peak


@pytest.mark.parametrize("compressor, filters, encode", [
    ({"id": "lzma"}, None, lambda raw: numcodecs.LZMA(preset=1).encode(raw)),
    (None, [{"id": "zlib", "level": 1}], lambda raw: numcodecs.Zlib(1).encode(raw)),
    (None, [{"id": "bz2", "level": 1}], lambda raw: numcodecs.BZ2(1).encode(raw)),
    ({"id": "zlib", "level": 1}, [{"id": "zlib", "level": 1}],
     lambda raw: numcodecs.Zlib(1).encode(numcodecs.Zlib(1).encode(raw))),
    (None, [{"id": "packbits"}], lambda raw: bytes(len(raw) // 8 + 1)),
], ids=["lzma-compressor", "zlib-filter", "bz2-filter", "zlib-in-zlib", "packbits-filter"])
def test_v2_bombs_are_refused_before_inflating(tmp_path, compressor, filters, encode):
    root = tmp_path / "image.zarr"
    v04_yx_uint8_dot_separator(root)
    level = asyncio.run(read_ome_zarr(str(root), SOURCE))[0].levels[0]
    level.layout["codecs"].update(compressor=compressor, filters=filters)
    bomb = encode(bytes(BOMB_BYTES))
    assert len(bomb) <= BOMB_BYTES // 8 + 1  # (packbits: at most 8 x; the others far more)
    error, peak = _decode_peak(ZarrChunkCodec(level), bomb)
    assert isinstance(error, ChunkTooLarge), error
    assert "more than the" in str(error)
    # (liblzma keeps its 1 MiB dictionary for preset 1; the bomb would be 16 MiB)
    assert peak < 2 * 2**20, f"decoding the bomb allocated {peak} bytes"


def test_v3_numcodecs_bombs_are_refused_before_inflating(tmp_path):
    root = tmp_path / "image.zarr"
    v05_tczyx_float32(root)
    level = asyncio.run(read_ome_zarr(str(root), SOURCE))[0].levels[0]
    level.layout["codecs"] = [{"name": "bytes", "configuration": {"endian": "little"}},
                              {"name": "numcodecs.lzma", "configuration": {}}]
    error, peak = _decode_peak(ZarrChunkCodec(level), numcodecs.LZMA(preset=1).encode(bytes(BOMB_BYTES)))
    assert isinstance(error, ChunkTooLarge), error
    assert peak < 2 * 2**20  # liblzma dictionary; the bomb is 16 MiB
    # an array -> array position is bounded too
    level.layout["codecs"] = [{"name": "numcodecs.zlib", "configuration": {}},
                              {"name": "bytes", "configuration": {"endian": "little"}}]
    raw = numcodecs.Zlib(9).encode(bytes(BOMB_BYTES // 4))
    nbytes = math.prod(level.layout["native_chunks"]) * 4
    assert len(raw) <= nbytes
    error, peak = _decode_peak(ZarrChunkCodec(level), raw + bytes(nbytes - len(raw)))
    assert isinstance(error, ChunkTooLarge), error
    assert peak < 4 * nbytes + 64 * 2**10


def test_bounded_codecs_still_decode_real_chunks(tmp_path):
    root = tmp_path / "image.zarr"
    v04_yx_uint8_dot_separator(root)
    level = asyncio.run(read_ome_zarr(str(root), SOURCE))[0].levels[0]
    chunk = RNG.integers(0, 255, size=(16, 16), dtype=np.uint8)
    cases = [({"id": "lzma"}, None, numcodecs.LZMA().encode(chunk)),
             (None, [{"id": "zlib", "level": 1}], numcodecs.Zlib(1).encode(chunk)),
             ({"id": "zlib"}, [{"id": "delta", "dtype": "|u1", "astype": "<i2"}],
              numcodecs.Zlib().encode(numcodecs.Delta("|u1", "<i2").encode(chunk)))]
    for compressor, filters, data in cases:
        level.layout["codecs"].update(compressor=compressor, filters=filters)
        decoded = ZarrChunkCodec(level).decode(data, (0, 0, 0, 0, 0))
        assert np.array_equal(decoded.reshape(16, 16), chunk), (compressor, filters)


def test_codecs_without_a_size_bound_are_refused_at_import(tmp_path):
    root = tmp_path / "image.zarr"
    v04_yx_uint8_dot_separator(root)
    zarray = root / "0" / ".zarray"
    doc = json.loads(zarray.read_text())
    doc["filters"] = [{"id": "pickle"}]  # decoding it would also run arbitrary code
    zarray.write_text(json.dumps(doc))
    with pytest.raises(FormatError, match="'pickle' is not supported"):
        asyncio.run(read_ome_zarr(str(root), SOURCE))
