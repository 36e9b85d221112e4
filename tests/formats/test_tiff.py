"""TIFF / OME-TIFF import: metadata, levels, manifest and request costs; clear errors
for bad input. Pixel round trips are in tests/pixels/test_tiff_tiles.py."""

from __future__ import annotations

import asyncio
import math
import os
import struct
import time
import tracemalloc
from datetime import datetime

import numpy as np
import pytest
import tifffile

from stratascope.formats.model import FormatError
from stratascope.formats.tiff import load_manifest, read_tiff
from stratascope.storage import SOURCE_REQUESTS, ObjectNotFound

#: the test's services' SourceReader (set per test by `_source`)
SOURCE = None


@pytest.fixture(autouse=True)
def _source(moto_server, services, monkeypatch):
    """The S3 environment is in place before the services read it (tests upload mid-test)."""
    monkeypatch.setitem(globals(), "SOURCE", services.source)


def read(url):
    return asyncio.run(read_tiff(url, SOURCE))


def cost_of(url):
    before = SOURCE_REQUESTS.snapshot()
    images = read(url)
    return images, SOURCE_REQUESTS.snapshot() - before


def write_documented_pyramid(path, t=8):
    """tifffile's README OME-TIFF pyramid example (SubIFDs, JPEG RGB tiles, a thumbnail)."""
    data = np.random.default_rng(0).integers(0, 255, (t, 2, 512, 512, 3), dtype="uint8")
    pixelsize = 0.29
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        metadata = {
            "axes": "TCYXS", "SignificantBits": 8, "TimeIncrement": 0.1, "TimeIncrementUnit": "s",
            "PhysicalSizeX": pixelsize, "PhysicalSizeXUnit": "µm",
            "PhysicalSizeY": pixelsize, "PhysicalSizeYUnit": "µm",
            "Channel": {"Name": ["Channel 1", "Channel 2"]},
            "Plane": {"PositionX": [0.0] * 2 * t, "PositionXUnit": ["µm"] * 2 * t},
        }
        options = dict(photometric="rgb", tile=(128, 128), compression="jpeg", resolutionunit="CENTIMETER")
        tif.write(data, subifds=2, resolution=(1e4 / pixelsize, 1e4 / pixelsize), metadata=metadata, **options)
        for level in range(2):
            mag = 2 ** (level + 1)
            tif.write(data[..., ::mag, ::mag, :], subfiletype=1,
                      resolution=(1e4 / mag / pixelsize, 1e4 / mag / pixelsize), **options)
        thumbnail = (data[0, 0, ::8, ::8] >> 2).astype("uint8")
        tif.write(thumbnail, metadata={"Name": "thumbnail"})


def test_ome_pyramid_metadata_levels_and_channels(tmp_path):
    path = tmp_path / "pyramid.ome.tif"
    write_documented_pyramid(path, t=3)
    images = read(str(path))
    assert [i.name for i in images] == ["pyramid.ome.tif [0]", "thumbnail"]  # "Image0" is a placeholder
    image = images[0]
    assert image.format == "ome-tiff" and image.series == 0
    assert image.axes == "tcyx"
    assert [lv.shape for lv in image.levels] == [(3, 6, 1, 512, 512), (3, 6, 1, 256, 256), (3, 6, 1, 128, 128)]
    assert all(lv.chunks == (1, 3, 1, 128, 128) and lv.dtype == "|u1" for lv in image.levels)
    assert [c.label for c in image.channels][:3] == ["Channel 1 (red)", "Channel 1 (green)", "Channel 1 (blue)"]
    assert [c.color for c in image.channels] == ["FF0000", "00FF00", "0000FF"] * 2
    assert image.physical_sizes["x"] == pytest.approx((0.29, "µm"))
    assert image.physical_sizes["t"] == pytest.approx((0.1, "s"))
    layout = image.levels[0].layout
    assert layout["kind"] == "tiff" and layout["compression"] == 7 and layout["photometric"] == 6
    assert layout["tiled"] and layout["tile"] == [128, 128] and layout["samples"] == 3 and layout["planar"] == 1
    manifest = load_manifest(image.levels[0].manifest)
    assert manifest.shape == (3, 2, 1, 4, 4, 2)
    # every tile is somewhere inside the file, and tiles do not overlap
    with tifffile.TiffFile(path) as tif:
        page = tif.series[0].levels[1][3]  # level 1, t=1, c=1
        assert list(manifest.shape) == layout["manifest"]["shape"]
        level1 = load_manifest(image.levels[1].manifest)
        assert list(level1[1, 1, 0, :, :, 0].ravel()) == list(page.dataoffsets)
        assert list(level1[1, 1, 0, :, :, 1].ravel()) == list(page.databytecounts)
    assert image.sources[0].size == path.stat().st_size and image.sources[0].etag
    thumbnail = images[1]
    assert thumbnail.shape == (1, 3, 1, 64, 64) and len(thumbnail.levels) == 1


def test_ome_5d_channels_colours_wavelengths_and_dates(tmp_path):
    path = tmp_path / "5d.ome.tif"
    data = np.zeros((3, 2, 4, 40, 50), dtype="uint16")
    tifffile.imwrite(path, data, ome=True, photometric="minisblack", metadata={
        "axes": "TCZYX", "Name": "cells", "Description": "HeLa, fixed",
        "AcquisitionDate": "2024-05-06T07:08:09",
        "PhysicalSizeZ": 0.5, "PhysicalSizeZUnit": "µm", "PhysicalSizeX": 100, "PhysicalSizeXUnit": "nm",
        "Channel": {"Name": ["DAPI", "GFP"], "Color": [-16776961, 16711935], "EmissionWavelength": [461, 510]},
    })
    image = read(str(path))[0]
    assert image.name == "cells" and image.format == "ome-tiff"
    assert image.shape == (3, 2, 4, 40, 50) and image.axes == "tczyx" and image.dtype == "<u2"
    assert [(c.label, c.color, c.emission_wave) for c in image.channels] == [
        ("DAPI", "FF0000", 461.0), ("GFP", "00FF00", 510.0)]
    assert image.physical_sizes["z"] == pytest.approx((0.5, "µm"))
    assert image.physical_sizes["x"] == pytest.approx((100.0, "nm"))
    assert image.description == "HeLa, fixed"
    assert image.acquisition_date.replace(tzinfo=None) == datetime(2024, 5, 6, 7, 8, 9)
    manifest = load_manifest(image.levels[0].manifest)
    assert manifest.shape == (3, 2, 4, 1, 1, 2) and (manifest[..., 1] > 0).all()


def test_plain_tiff_rgb_resolution_and_reduced_ifd_pyramid(tmp_path):
    path = tmp_path / "plain.tif"
    data = np.zeros((256, 384, 3), dtype="uint8")
    with tifffile.TiffWriter(path) as tif:
        tif.write(data, photometric="rgb", tile=(64, 64), resolution=(2.0, 2.0), resolutionunit="MICROMETER",
                  description="a plain slide", datetime=datetime(2023, 1, 2, 3, 4, 5))
        tif.write(data[::2, ::2], photometric="rgb", tile=(64, 64), subfiletype=1)
    image = read(str(path))[0]
    assert image.format == "tiff" and image.name == "plain.tif"
    assert [lv.shape for lv in image.levels] == [(1, 3, 1, 256, 384), (1, 3, 1, 128, 192)]
    assert [(c.label, c.color) for c in image.channels] == [("red", "FF0000"), ("green", "00FF00"), ("blue", "0000FF")]
    assert image.physical_sizes["x"] == pytest.approx((0.5, "µm"))
    assert image.description == "a plain slide"
    assert image.acquisition_date == datetime(2023, 1, 2, 3, 4, 5)


def test_imagej_hyperstack_axes_and_spacing(tmp_path):
    path = tmp_path / "hyperstack.tif"
    data = np.zeros((3, 4, 2, 40, 50), "uint8")
    tifffile.imwrite(path, data, imagej=True, resolution=(4.0, 4.0),
                     metadata={"axes": "TZCYX", "spacing": 2.5, "unit": "um"})
    image = read(str(path))[0]
    assert image.shape == (3, 2, 4, 40, 50) and image.axes == "tzcyx"
    assert image.physical_sizes == {"x": (0.25, "µm"), "y": (0.25, "µm"), "z": (2.5, "µm")}
    assert [c.label for c in image.channels] == ["Channel 1", "Channel 2"]


def test_stripped_and_planar_layouts(tmp_path):
    strips = tmp_path / "strips.tif"
    tifffile.imwrite(strips, np.zeros((100, 30), "float32"), rowsperstrip=16, photometric="minisblack",
                     compression="zlib")
    level = read(str(strips))[0].levels[0]
    assert level.chunks == (1, 1, 1, 16, 30) and level.dtype == "<f4" and not level.layout["tiled"]
    assert load_manifest(level.manifest).shape == (1, 1, 1, 7, 1, 2)
    # uncompressed contiguous strips are re-chunked to about 1 MiB, whatever RowsPerStrip says
    one_row_strips = tmp_path / "one-row-strips.tif"
    tifffile.imwrite(one_row_strips, np.zeros((3000, 200), "uint16"), rowsperstrip=1, photometric="minisblack")
    level = read(str(one_row_strips))[0].levels[0]
    assert level.chunks == (1, 1, 1, 2**20 // 400, 200)
    assert load_manifest(level.manifest).shape == (1, 1, 1, math.ceil(3000 / (2**20 // 400)), 1, 2)
    one_strip = tmp_path / "one-strip.tif"
    tifffile.imwrite(one_strip, np.zeros((3000, 1000), "uint8"), photometric="minisblack")
    assert read(str(one_strip))[0].levels[0].chunks == (1, 1, 1, 1048, 1000)
    planar = tmp_path / "planar.tif"
    tifffile.imwrite(planar, np.zeros((3, 64, 64), "uint8"), photometric="rgb", planarconfig="separate", tile=(32, 32))
    level = read(str(planar))[0].levels[0]
    assert level.shape == (1, 3, 1, 64, 64) and level.chunks == (1, 1, 1, 32, 32) and level.layout["planar"] == 2
    assert load_manifest(level.manifest).shape == (1, 3, 1, 2, 2, 2)


def test_import_from_s3_costs_a_small_bounded_number_of_requests(upload, tmp_path):
    path = tmp_path / "pyramid.ome.tif"
    write_documented_pyramid(path, t=2)  # 4 planes x 3 levels + thumbnail = 13 IFDs, 12 MB of JPEG
    url = upload(path, "slides/pyramid.ome.tif")
    images, cost = cost_of(url)
    assert images[0].url == url and images[0].sources[0].size == path.stat().st_size
    assert cost.requests["head"] == 1
    # one request per IFD at most (plus the header); never the pixels
    assert 1 <= cost.requests["get_range"] <= 14, cost
    assert cost.requests.get("get", 0) == 0
    assert cost.bytes_read < 1_000_000 < path.stat().st_size


def test_bigtiff_tiled_import_from_s3(upload, tmp_path):
    path = tmp_path / "big.tif"
    tifffile.imwrite(path, np.zeros((1000, 1200), "uint16"), bigtiff=True, tile=(256, 256), compression="zstd")
    images, cost = cost_of(upload(path, "big.tif"))
    assert images[0].shape == (1, 1, 1, 1000, 1200)
    assert cost.requests["get_range"] <= 2


# --------------------------------------------------------------------------- bad input


def small_tiff(path):
    tifffile.imwrite(path, np.arange(64 * 80, dtype="uint16").reshape(64, 80), tile=(32, 32),
                     compression="zlib", photometric="minisblack")
    return path.read_bytes()


def claim_huge_size(raw: bytes, path) -> bytes:
    """Patch ImageWidth / ImageLength in the bytes to claim 10^6 x 10^6 = 10^12 pixels."""
    patched = bytearray(raw)
    with tifffile.TiffFile(path) as tif:
        for code in (256, 257):
            tag = tif.pages[0].tags[code]
            fmt = {3: "<H", 4: "<I"}[int(tag.dtype)]
            value = 1_000_000 if fmt == "<I" else 65535
            struct.pack_into(fmt, patched, tag.valueoffset, value)
    return bytes(patched)


BAD_INPUTS = {
    "random bytes": (lambda raw, p: os.urandom(5000), "not a TIFF file"),
    "empty": (lambda raw, p: b"", "not a TIFF file"),
    "corrupt header": (lambda raw, p: raw[:4] + struct.pack("<I", 10**9) + raw[8:], "no readable images"),
    "garbage IFD": (lambda raw, p: raw[:8] + bytes(range(256)) + raw[264:], "not a readable TIFF|offsets|unsupported"),
    "truncated": (lambda raw, p: raw[: len(raw) // 2], "truncated"),
    "truncated in IFD": (lambda raw, p: raw[:60], "offsets|not a readable TIFF"),
    "10^12 pixels": (claim_huge_size, "pixels"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
@pytest.mark.parametrize("on_s3", [False, True], ids=["local", "s3"])
def test_bad_input_is_a_clear_format_error_in_bounded_time_and_memory(case, on_s3, tmp_path, request):
    good = tmp_path / "good.tif"
    raw = small_tiff(good)
    make, message = BAD_INPUTS[case]
    bad = tmp_path / "bad.tif"
    bad.write_bytes(make(raw, good))
    url = request.getfixturevalue("upload")(bad, "bad.tif") if on_s3 else str(bad)
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(FormatError, match=message) as error:
            read(url)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 10
    assert peak < 50 * 2**20
    text = str(error.value)
    assert "\n" not in text and url in text


def test_missing_object_is_a_storage_error(upload, tmp_path):
    url = upload(_touch(tmp_path / "x.tif"), "x.tif")
    with pytest.raises(ObjectNotFound):
        read(url.replace("x.tif", "missing.tif"))
    with pytest.raises(ObjectNotFound):
        read(str(tmp_path / "missing.tif"))


def _touch(path):
    small_tiff(path)
    return path


UUID = "urn:uuid:00000000-0000-0000-0000-00000000000"
MULTIFILE_OME = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" UUID="{UUID}1">'
    '<Image ID="Image:0"><Pixels ID="Pixels:0" DimensionOrder="XYZCT" Type="uint8" '
    'SizeX="16" SizeY="16" SizeZ="2" SizeC="1" SizeT="1"><Channel ID="Channel:0:0" SamplesPerPixel="1"/>'
    f'<TiffData FirstZ="0" IFD="0" PlaneCount="1"><UUID FileName="a.ome.tif">{UUID}1</UUID></TiffData>'
    f'<TiffData FirstZ="1" IFD="0" PlaneCount="1"><UUID FileName="b.ome.tif">{UUID}2</UUID></TiffData>'
    "</Pixels></Image></OME>"
)


def test_multi_file_ome_tiff_is_refused_clearly(tmp_path):
    from stratascope.formats.model import UnsupportedFormat

    path = tmp_path / "a.ome.tif"
    tifffile.imwrite(path, np.zeros((16, 16), "uint8"), description=MULTIFILE_OME, metadata=None)
    with pytest.raises(UnsupportedFormat, match="multi-file OME-TIFF"):
        read(str(path))


def test_ranged_file_stops_when_cancelled_or_over_budget(tmp_path):
    from stratascope.formats.ranged_file import ParseCancelled, RangedFile

    path = tmp_path / "blob.bin"
    path.write_bytes(os.urandom(300_000))

    async def run(action):
        handle = RangedFile(SOURCE, str(path), 300_000, asyncio.get_running_loop(), max_transfer=100_000)
        return await asyncio.to_thread(action, handle)

    def cancelled(handle):
        handle.cancel()
        return handle.read(10)

    def greedy(handle):
        return handle.read(200_000)

    def small_reads(handle):
        parts = [handle.read(100) for _ in range(50)]
        handle.seek(-10, os.SEEK_END)
        return b"".join(parts) + handle.read(), handle.requests

    with pytest.raises(ParseCancelled):
        asyncio.run(run(cancelled))
    with pytest.raises(FormatError, match="refusing"):
        asyncio.run(run(greedy))
    data, requests = asyncio.run(run(small_reads))
    assert data == path.read_bytes()[:5000] + path.read_bytes()[-10:] and requests == 2
