"""TiffChunkCodec: every tile of every level, located from the manifest, fetched with one
ranged GET and decoded, equals what tifffile wrote (local files and moto S3)."""

from __future__ import annotations

import asyncio
import math

import imagecodecs
import numpy as np
import pytest
import tifffile

from stratascope.formats.tiff import read_tiff
from stratascope.pixels.tiff_tiles import TiffChunkCodec
from stratascope.storage import SOURCE_REQUESTS, ObjectChanged

#: the test's services' SourceReader (set per test by `_source`)
SOURCE = None


@pytest.fixture(autouse=True)
def _source(moto_server, services, monkeypatch):
    """The S3 environment is in place before the services read it (tests upload mid-test)."""
    monkeypatch.setitem(globals(), "SOURCE", services.source)


async def fetch(url, start, end, version):
    return await SOURCE.get_range(url, start, end, version=version)


async def read_level(level) -> np.ndarray:
    """Assemble a whole level from its chunks, exactly as the pixel reader would."""
    codec = TiffChunkCodec(level)
    out = np.zeros(level.shape, dtype=level.dtype)
    grid = [math.ceil(s / c) for s, c in zip(level.shape, level.chunks)]
    for index in np.ndindex(*grid):
        where = await codec.locate(index, fetch)
        if where is None:
            chunk = codec.fill(index)
        else:
            chunk = codec.decode(await fetch(where.url, where.start, where.end, where.version), index)
        assert chunk.shape == tuple(level.chunks) and chunk.dtype == np.dtype(level.dtype)
        box = tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(index, level.chunks, level.shape))
        out[box] = chunk[tuple(slice(0, b.stop - b.start) for b in box)]
    return out


def smooth(shape, dtype, seed=0):
    """Gradients plus mild noise: realistic, and JPEG keeps it close."""
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*[np.linspace(0, 1, n) for n in shape], indexing="ij")
    value = sum(grids) / len(grids)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "ui" else None
    top = info.max * 0.8 if info else 1000.0
    data = value * top + rng.normal(0, top * 0.01, shape)
    return np.clip(data, 0, top).astype(dtype)


def rgb_to_5d(data):  # (..., y, x, s) with leading (t, c) -> (t, c*s, 1, y, x)
    t, c, y, x, s = data.shape
    return np.moveaxis(data, -1, 2).reshape(t, c * s, 1, y, x)


# --------------------------------------------------------------------------- writers
# each returns (expected 5-D arrays per level, jpeg tolerance or None)


def write_ome_pyramid_jpeg(path):
    """tifffile's documented OME-TIFF pyramid example (SubIFDs), non-square with edge tiles."""
    data = smooth((2, 2, 300, 520, 3), "uint8")
    options = dict(photometric="rgb", tile=(128, 128), compression="jpeg", resolutionunit="CENTIMETER")
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        tif.write(data, subifds=2, resolution=(1e4 / 0.29, 1e4 / 0.29),
                  metadata={"axes": "TCYXS", "Channel": {"Name": ["a", "b"]}}, **options)
        for level in range(2):
            mag = 2 ** (level + 1)
            tif.write(data[..., ::mag, ::mag, :], subfiletype=1, **options)
    return [rgb_to_5d(data[..., ::m, ::m, :]) for m in (1, 2, 4)], 12


def write_ome_5d_zlib(path):
    data = smooth((2, 3, 2, 130, 150), "uint16")
    tifffile.imwrite(path, data, bigtiff=True, tile=(64, 64), compression="zlib", predictor=True,
                     photometric="minisblack", metadata={"axes": "TCZYX"}, ome=True)
    return [data], None


def write_ome_float_zstd(path):
    data = smooth((3, 130, 250), "float32")
    tifffile.imwrite(path, data, tile=(64, 64), compression="zstd", predictor=True,
                     photometric="minisblack", metadata={"axes": "CYX"}, ome=True)
    return [data[None, :, None]], None


def write_stripped_uint16(path):
    data = smooth((50, 77), "uint16")
    tifffile.imwrite(path, data, rowsperstrip=7, photometric="minisblack")
    return [data[None, None, None]], None


def write_stripped_lzw_bigendian(path):
    data = smooth((5, 61, 47), "uint16")
    tifffile.imwrite(path, data, rowsperstrip=8, compression="lzw", predictor=True, byteorder=">",
                     photometric="minisblack", metadata={"axes": "ZYX"})
    return [data[None, None]], None


def write_tiled_lzw_uint8(path):
    data = smooth((130, 250), "uint8")
    tifffile.imwrite(path, data, tile=(64, 96), compression="lzw", photometric="minisblack")
    return [data[None, None, None]], None


def write_rgb_stripped(path):
    data = smooth((1, 1, 90, 70, 3), "uint8")
    tifffile.imwrite(path, data[0, 0], photometric="rgb", rowsperstrip=16, compression="deflate")
    return [rgb_to_5d(data)], None


def write_rgb_planar_tiled(path):
    data = smooth((3, 100, 140), "uint16")
    tifffile.imwrite(path, data, photometric="rgb", planarconfig="separate", tile=(32, 48), compression="zstd")
    return [data[None, :, None]], None


def write_reduced_ifd_pyramid(path):
    """Plain TIFF pyramid as reduced-resolution IFDs (NewSubfileType 1), not SubIFDs."""
    data = smooth((300, 400), "uint16")
    with tifffile.TiffWriter(path) as tif:
        tif.write(data, tile=(64, 64), compression="deflate", photometric="minisblack")
        tif.write(data[::2, ::2], tile=(64, 64), compression="deflate", photometric="minisblack", subfiletype=1)
        tif.write(data[::4, ::4], tile=(64, 64), compression="deflate", photometric="minisblack", subfiletype=1)
    return [data[None, None, None], data[None, None, None, ::2, ::2], data[None, None, None, ::4, ::4]], None


def write_webp_lossless(path):
    data = smooth((1, 1, 100, 130, 3), "uint8")
    tifffile.imwrite(path, data[0, 0], photometric="rgb", tile=(64, 64), compression="webp",
                     compressionargs={"lossless": True})
    return [rgb_to_5d(data)], None


def write_jpeg2000(path):
    data = smooth((100, 130), "uint16")
    tifffile.imwrite(path, data, photometric="minisblack", tile=(64, 64), compression="jpeg2000",
                     compressionargs={"level": 0})
    return [data[None, None, None]], 64


def write_libtiff_jpeg_strips(path):
    """libtiff (through Pillow) writes abbreviated JPEG strips plus a JPEGTables tag."""
    from PIL import Image

    data = smooth((1, 1, 100, 130, 3), "uint8")
    Image.fromarray(data[0, 0]).save(path, compression="jpeg", quality=95, strip_size=130 * 3 * 16)
    with tifffile.TiffFile(path) as tif:
        assert tif.pages[0].jpegtables and tif.pages[0].rowsperstrip == 16
    return [rgb_to_5d(data)], 12


def write_imagej_hyperstack(path):
    """ImageJ hyperstack: tifffile reads one IFD and infers the rest (contiguous data)."""
    data = smooth((3, 4, 2, 40, 50), "uint16")  # t z c y x
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "TZCYX", "spacing": 2.5, "unit": "um"})
    return [np.moveaxis(data, 2, 1)], None


def write_uncompressed_stack(path):
    data = smooth((6, 33, 45), "float32")
    tifffile.imwrite(path, data, photometric="minisblack")
    return [data[None, None]], None


def write_unnamed_4d_stack(path):
    """No axis names ("QQYX"): the first unnamed axis becomes z, the second t."""
    data = smooth((3, 4, 40, 50), "uint16")
    tifffile.imwrite(path, data, photometric="minisblack", compression="zlib")
    return [np.transpose(data, (1, 0, 2, 3))[:, None]], None


def write_stripped_deflate(path):
    data = smooth((50, 77), "uint16")
    tifffile.imwrite(path, data, rowsperstrip=7, photometric="minisblack", compression="deflate")
    return [data[None, None, None]], None


def write_uncompressed_big_strip(path):
    """One 3000-row strip: served as ~1 MiB row chunks; the last one is short."""
    data = smooth((3000, 700), "uint8")
    tifffile.imwrite(path, data, photometric="minisblack")
    return [data[None, None, None]], None


WRITERS = [
    write_ome_pyramid_jpeg, write_ome_5d_zlib, write_ome_float_zstd, write_stripped_uint16,
    write_stripped_lzw_bigendian, write_tiled_lzw_uint8, write_rgb_stripped, write_rgb_planar_tiled,
    write_reduced_ifd_pyramid, write_webp_lossless, write_jpeg2000, write_libtiff_jpeg_strips,
    write_imagej_hyperstack, write_uncompressed_stack, write_unnamed_4d_stack,
    write_stripped_deflate, write_uncompressed_big_strip,
]


@pytest.fixture(params=["local", "s3"])
def where(request):
    if request.param == "local":
        return lambda path: str(path)
    upload = request.getfixturevalue("upload")
    return lambda path: upload(path, f"data/{path.name}")


@pytest.mark.parametrize("writer", WRITERS, ids=lambda w: w.__name__.removeprefix("write_"))
def test_every_tile_of_every_level_matches_what_tifffile_wrote(writer, where, tmp_path):
    path = tmp_path / f"{writer.__name__}.tif"
    expected_levels, tolerance = writer(path)
    url = where(path)
    image = asyncio.run(read_tiff(url, SOURCE))[0]
    assert len(image.levels) == len(expected_levels)
    for level, expected in zip(image.levels, expected_levels):
        assert level.shape == expected.shape
        actual = asyncio.run(read_level(level))
        if tolerance is None:
            np.testing.assert_array_equal(actual, expected)
        else:
            diff = np.abs(actual.astype(np.int64) - expected.astype(np.int64))
            assert diff.mean() < tolerance / 4 and diff.max() <= tolerance * 4, (diff.mean(), diff.max())


def test_jpeg_tiles_decode_exactly_like_tifffile(tmp_path):
    path = tmp_path / "pyramid.ome.tif"
    write_ome_pyramid_jpeg(path)
    image = asyncio.run(read_tiff(str(path), SOURCE))[0]
    for i, level in enumerate(image.levels):
        reference = tifffile.imread(path, series=0, level=i)  # (t, c, y, x, s)
        np.testing.assert_array_equal(asyncio.run(read_level(level)), rgb_to_5d(reference))


def test_jpeg_strips_with_tables_decode_exactly_like_tifffile(tmp_path):
    path = tmp_path / "libtiff.tif"
    write_libtiff_jpeg_strips(path)
    level = asyncio.run(read_tiff(str(path), SOURCE))[0].levels[0]
    assert level.layout["jpegtables"] and level.chunks == (1, 3, 1, 16, 130)
    reference = tifffile.imread(path)  # (y, x, s)
    np.testing.assert_array_equal(asyncio.run(read_level(level)), rgb_to_5d(reference[None, None]))


def test_one_tile_costs_exactly_one_ranged_get(upload, tmp_path):
    path = tmp_path / "5d.ome.tif"
    write_ome_5d_zlib(path)
    image = asyncio.run(read_tiff(upload(path, "one-tile.ome.tif"), SOURCE))[0]
    codec = TiffChunkCodec(image.levels[0])

    async def one_tile():
        where = await codec.locate((1, 2, 1, 1, 2), fetch)
        return codec.decode(await fetch(where.url, where.start, where.end, where.version), (1, 2, 1, 1, 2))

    before = SOURCE_REQUESTS.snapshot()
    chunk = asyncio.run(one_tile())
    cost = SOURCE_REQUESTS.snapshot() - before
    assert cost.requests["get_range"] == 1 and sum(cost.requests.values()) == 1
    data = tifffile.imread(path)
    np.testing.assert_array_equal(chunk[0, 0, 0, :, :22], data[1, 2, 1, 64:128, 128:150])
    assert not chunk[0, 0, 0, :, 22:].any()  # the right edge tile is padded


def test_length_mismatch_is_an_integrity_error(tmp_path):
    path = tmp_path / "tiled.tif"
    write_tiled_lzw_uint8(path)
    level = asyncio.run(read_tiff(str(path), SOURCE))[0].levels[0]
    codec = TiffChunkCodec(level)
    where = asyncio.run(codec.locate((0, 0, 0, 0, 0), fetch))
    data = asyncio.run(fetch(where.url, where.start, where.end, None))
    with pytest.raises(ObjectChanged, match="manifest says"):
        codec.decode(data[:-1], (0, 0, 0, 0, 0))
    with pytest.raises(IndexError):
        codec._entry((0, 0, 0, 99, 0))


def test_edge_chunks_are_padded_to_the_full_chunk_shape(tmp_path):
    path = tmp_path / "strips.tif"
    write_stripped_deflate(path)  # 50 rows, 7 rows per strip: the last strip has 1 row
    level = asyncio.run(read_tiff(str(path), SOURCE))[0].levels[0]
    assert level.chunks == (1, 1, 1, 7, 77)
    codec = TiffChunkCodec(level)
    where = asyncio.run(codec.locate((0, 0, 0, 7, 0), fetch))
    chunk = codec.decode(asyncio.run(fetch(where.url, where.start, where.end, None)), (0, 0, 0, 7, 0))
    assert chunk.shape == (1, 1, 1, 7, 77)
    np.testing.assert_array_equal(chunk[0, 0, 0, 0], tifffile.imread(path)[49])
    assert not chunk[0, 0, 0, 1:].any()


# --- decompression bombs: image-codec tiles declaring more pixels than their tile -----------

def _bomb_tiff(path, compression: str, encode, photometric="rgb", samples=3, dtype="u1"):
    """A 128 x 128 TIFF of 64 x 64 tiles, each a real 2048 x 2048 image (12 MiB decoded)."""
    shape = (2048, 2048, samples) if samples > 1 else (2048, 2048)
    bomb = encode(np.zeros(shape, dtype))
    assert len(bomb) < 100_000
    tifffile.imwrite(path, iter([bomb] * 4), shape=(128, 128, samples) if samples > 1 else (128, 128),
                     dtype=dtype, tile=(64, 64), compression=compression, photometric=photometric)


BOMBS = {
    "webp": lambda a: imagecodecs.webp_encode(a, lossless=True),
    "png": imagecodecs.png_encode,
    "jpeg": imagecodecs.jpeg8_encode,
    "jpeg2000": imagecodecs.jpeg2k_encode,
}


@pytest.mark.parametrize("compression", sorted(BOMBS))
def test_image_codec_tiles_declaring_more_pixels_are_refused_before_decoding(compression, tmp_path, caplog):
    import tracemalloc

    from stratascope.formats.model import ChunkTooLarge, FormatError

    path = tmp_path / f"{compression}.tif"
    gray = compression == "jpeg2000"
    _bomb_tiff(path, compression, BOMBS[compression], photometric="minisblack" if gray else "rgb",
               samples=1 if gray else 3)
    level = asyncio.run(read_tiff(str(path), SOURCE))[0].levels[0]
    codec = TiffChunkCodec(level)
    where = asyncio.run(codec.locate((0, 0, 0, 0, 0), fetch))
    data = asyncio.run(fetch(where.url, where.start, where.end, None))
    with pytest.raises(FormatError):  # warm-up: imports allocate once
        codec.decode(data, (0, 0, 0, 0, 0))
    tracemalloc.start()
    with pytest.raises(ChunkTooLarge, match="declares .*2048.*refused before decoding"):
        codec.decode(data, (0, 0, 0, 0, 0))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 256 * 2**10, f"the bomb allocated {peak} bytes"  # decoded, it would be 4-12 MiB
    assert "refused before decoding" in caplog.text
