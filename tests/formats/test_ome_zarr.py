"""OME-Zarr import (metadata only) against data written by ome-zarr-py and zarr-python 3."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest
import zarr
from ome_zarr.format import FormatV04, FormatV05
from ome_zarr.writer import write_image, write_plate_metadata

from stratascope.formats.model import FormatError, UnsupportedFormat
from stratascope.formats.ome_zarr import read_ome_zarr
from stratascope.storage import SOURCE_REQUESTS, ObjectNotFound

#: the test's services' SourceReader (set per test by `_source`)
SOURCE = None

RNG = np.random.default_rng(7)
OMERO = {"name": "cells", "channels": [
    {"label": "DAPI", "color": "0000ff", "active": True, "inverted": False, "family": "linear", "coefficient": 1,
     "window": {"start": 100, "end": 2000, "min": 0, "max": 65535}},
    {"label": "GFP", "color": "00FF00", "active": False, "window": {"start": 0, "end": 500, "min": 0, "max": 4095}},
]}


@pytest.fixture(autouse=True)
def _source(moto_server, services, monkeypatch):
    """The S3 environment is in place before the services read it (tests upload mid-test)."""
    monkeypatch.setitem(globals(), "SOURCE", services.source)


def read(url):
    return asyncio.run(read_ome_zarr(str(url), SOURCE))


def cost_of_import(url):
    before = SOURCE_REQUESTS.snapshot()
    images = read(url)
    return images, (SOURCE_REQUESTS.snapshot() - before).requests


def write_v04_czyx(root: Path) -> np.ndarray:
    data = RNG.integers(0, 4000, size=(2, 3, 120, 100), dtype=np.uint16)
    group = zarr.open_group(root, mode="w", zarr_format=2)
    write_image(data, group, axes="czyx", fmt=FormatV04(), scale_factors=[2, 4],
                storage_options={"chunks": (1, 3, 64, 48)}, scale={"z": 0.5, "y": 0.25, "x": 0.25},
                axes_units={"z": "micrometer", "y": "micrometer", "x": "micrometer"})
    group.attrs["omero"] = OMERO
    return data


def write_v05_sharded_tczyx(root: Path) -> np.ndarray:
    data = RNG.random((2, 1, 3, 70, 100)).astype(np.float32)
    write_image(data, zarr.open_group(root, mode="w", zarr_format=3), axes="tczyx", fmt=FormatV05(),
                scale_factors=[2], storage_options={"chunks": (1, 1, 1, 32, 32), "shards": (1, 1, 3, 64, 64)})
    return data


def write_yx(root: Path, shape, chunks, zarr_format: int) -> None:
    """A single-level 2-D image written with zarr-python directly (fast for many chunks)."""
    multiscales = [{"axes": [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}],
                    "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1, 1]}]}]}]
    if zarr_format == 3:
        attributes = {"ome": {"version": "0.5", "multiscales": multiscales}}
    else:
        attributes = {"multiscales": [{**multiscales[0], "version": "0.4"}]}
    group = zarr.open_group(root, mode="w", zarr_format=zarr_format, attributes=attributes)
    array = group.create_array("0", shape=shape, chunks=chunks, dtype="uint8")
    array[...] = RNG.integers(0, 255, size=shape, dtype=np.uint8)


# --- what import finds --------------------------------------------------------------------

@pytest.mark.parametrize("where", ["local", "s3"])
def test_v04_image_with_omero_block(where, tmp_path, request):
    root = tmp_path / "cells.zarr"
    write_v04_czyx(root)
    url = str(root) if where == "local" else request.getfixturevalue("upload")(root, "a/cells.zarr")
    images, cost = cost_of_import(url)
    assert cost["get"] == 5 and cost["list"] == 0 and cost["head"] == 0  # zarr.json probe, .zattrs, 3 x .zarray
    [image] = images
    assert image.format == "ome-zarr-0.4" and image.axes == "czyx" and image.name == "cells" and image.series == 0
    assert [level.shape for level in image.levels] == [(1, 2, 3, 120, 100), (1, 2, 3, 60, 50), (1, 2, 3, 30, 25)]
    assert all(level.chunks == (1, 1, 3, 64, 48) and level.dtype == "<u2" for level in image.levels)
    assert all(level.manifest is None and level.layout["kind"] == "zarr" for level in image.levels)
    assert image.physical_sizes == {"z": (0.5, "micrometer"), "y": (0.25, "micrometer"), "x": (0.25, "micrometer")}
    dapi, gfp = image.channels
    assert (dapi.label, dapi.color, dapi.window_start, dapi.window_end, dapi.window_max, dapi.active) == (
        "DAPI", "0000FF", 100, 2000, 65535, True)
    assert (gfp.label, gfp.color, gfp.window_end, gfp.window_max, gfp.active) == ("GFP", "00FF00", 500, 4095, False)
    documents = [s.url.rsplit("cells.zarr", 1)[1] for s in image.sources]
    assert documents == ["/.zattrs", "/s0/.zarray", "/s1/.zarray", "/s2/.zarray"]
    assert all(s.size > 0 and s.etag for s in image.sources)
    assert image.levels[0].layout["url"] == image.url + "/s0"


@pytest.mark.parametrize("where", ["local", "s3"])
def test_v05_sharded_5d_image(where, tmp_path, request):
    root = tmp_path / "movie.zarr"
    write_v05_sharded_tczyx(root)
    url = str(root) if where == "local" else request.getfixturevalue("upload")(root, "movie.zarr")
    images, cost = cost_of_import(url)
    assert cost["get"] == 3 and sum(cost.values()) == 3  # zarr.json + 2 arrays' zarr.json
    [image] = images
    assert image.format == "ome-zarr-0.5" and image.axes == "tczyx" and image.dtype == "<f4"
    assert image.shape == (2, 1, 3, 70, 100) and image.levels[1].shape == (2, 1, 3, 35, 50)
    level = image.levels[0]
    assert level.chunks == (1, 1, 1, 32, 32)  # the inner chunk: the unit of reading
    assert level.layout["shard"]["shape"] == [1, 1, 3, 64, 64]
    assert level.layout["shard"]["index_location"] == "end"
    assert [c.label for c in image.channels] == ["Channel 0"] and image.channels[0].window_start is None
    assert image.physical_sizes == {}  # ome-zarr-py wrote no units: no physical size is guessed


def test_multiscale_wide_scale_multiplies_level_0_scale(tmp_path):
    root = tmp_path / "cells.zarr"
    write_v04_czyx(root)

    def add_outer_scale(doc):
        doc["multiscales"][0]["coordinateTransformations"] = [{"type": "scale", "scale": [1, 2, 4, 4]}]
        doc["multiscales"][0]["axes"][3].pop("unit")
    _edit_json(root / ".zattrs", add_outer_scale)
    [image] = read(root)
    assert image.physical_sizes == {"z": (1.0, "micrometer"), "y": (1.0, "micrometer")}  # x lost its unit


def test_2d_image_maps_onto_5d(tmp_path):
    write_yx(tmp_path / "plane.zarr", (70, 45), (32, 32), 2)
    [image] = read(tmp_path / "plane.zarr")
    assert image.axes == "yx" and image.shape == (1, 1, 1, 70, 45) and image.levels[0].chunks == (1, 1, 1, 32, 32)
    assert image.levels[0].dtype == "|u1" and len(image.channels) == 1


# zarr-python needs ~4 ms per chunk here, so the v2 case stops at 2,500 chunks
@pytest.mark.parametrize(("zarr_format", "side"), [(2, 500), (3, 1000)])
def test_import_cost_does_not_depend_on_chunk_count(zarr_format, side, tmp_path):
    write_yx(tmp_path / "few.zarr", (100, 100), (10, 10), zarr_format)  # 100 chunks
    write_yx(tmp_path / "many.zarr", (side, side), (10, 10), zarr_format)  # 2,500 / 10,000 chunks
    assert sum(1 for _ in (tmp_path / "many.zarr").rglob("*")) > (side // 10) ** 2
    (few,), few_cost = cost_of_import(tmp_path / "few.zarr")
    (many,), many_cost = cost_of_import(tmp_path / "many.zarr")
    assert few_cost == many_cost and many_cost["list"] == 0
    assert sum(many_cost.values()) == (3 if zarr_format == 2 else 2)
    assert many.shape == (1, 1, 1, side, side)


@pytest.mark.parametrize("with_series_list", [True, False])
@pytest.mark.parametrize("zarr_format", [2, 3])
def test_bioformats2raw_layout_gives_one_image_per_series(with_series_list, zarr_format, tmp_path):
    root = tmp_path / "b2r.zarr"
    fmt = FormatV05() if zarr_format == 3 else FormatV04()
    wrap = (lambda attrs: {"ome": {"version": "0.5", **attrs}}) if zarr_format == 3 else (lambda attrs: attrs)
    group = zarr.open_group(root, mode="w", zarr_format=zarr_format, attributes=wrap({"bioformats2raw.layout": 3}))
    for index, shape in enumerate([(40, 60), (30, 20)]):
        data = RNG.integers(0, 255, size=shape, dtype=np.uint8)
        write_image(data, group.create_group(str(index)), axes="yx", fmt=fmt, scale_factors=[])
    if with_series_list:
        group.create_group("OME", attributes=wrap({"series": ["0", "1"]}))
    images = read(root)
    assert [(i.series, i.shape) for i in images] == [(0, (1, 1, 1, 40, 60)), (1, (1, 1, 1, 30, 20))]
    assert images[1].url.endswith("b2r.zarr/1") and images[1].sources[0].url.endswith("b2r.zarr/" + (
        "zarr.json" if zarr_format == 3 else ".zattrs"))


# --- bad input ----------------------------------------------------------------------------

def _edit_json(path: Path, edit) -> None:
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))


def test_nonexistent_url_is_object_not_found(tmp_path, upload):
    with pytest.raises(ObjectNotFound, match="neither zarr.json nor .zattrs"):
        read(tmp_path / "nothing.zarr")
    (tmp_path / "x").write_text("x")
    missing = upload(tmp_path / "x", "x").rsplit("/", 1)[0] + "/missing.zarr"
    with pytest.raises(ObjectNotFound, match="neither zarr.json nor .zattrs"):
        read(missing)


@pytest.mark.parametrize("name", [".zattrs", "s0/.zarray"])
def test_v2_metadata_that_is_not_json(name, tmp_path):
    root = tmp_path / "img.zarr"
    write_v04_czyx(root)
    (root / name).write_bytes(b"\x89PNG not json{")
    with pytest.raises(FormatError, match="is not valid JSON"):
        read(root)


def test_v3_metadata_that_is_not_json_or_not_an_object(tmp_path):
    root = tmp_path / "img.zarr"
    write_v05_sharded_tczyx(root)
    (root / "zarr.json").write_text('{"zarr_format": 3,')
    with pytest.raises(FormatError, match="is not valid JSON"):
        read(root)
    (root / "zarr.json").write_text("[1, 2]")
    with pytest.raises(FormatError, match="JSON object"):
        read(root)


def test_multiscales_naming_a_missing_array(tmp_path):
    root = tmp_path / "img.zarr"
    write_v04_czyx(root)
    _edit_json(root / ".zattrs", lambda d: d["multiscales"][0]["datasets"][1].update(path="nope"))
    with pytest.raises(FormatError, match=r"img.zarr/nope, but .zarray does not exist"):
        read(root)


def test_absurd_shape_is_refused(tmp_path):
    root = tmp_path / "img.zarr"
    write_yx(root, (64, 64), (32, 32), 3)
    _edit_json(root / "0" / "zarr.json", lambda d: d.update(shape=[1_000_000, 1_000_000]))
    with pytest.raises(FormatError, match="above the limit"):
        read(root)


def test_axes_outside_tczyx_and_inconsistent_levels(tmp_path):
    root = tmp_path / "img.zarr"
    write_v04_czyx(root)
    original = (root / ".zattrs").read_text()
    _edit_json(root / ".zattrs", lambda d: d["multiscales"][0]["axes"][0].update(name="q"))
    with pytest.raises(FormatError, match="not a subset of t, c, z, y, x"):
        read(root)
    (root / ".zattrs").write_text(original)
    _edit_json(root / "s1" / ".zarray", lambda d: d.update(shape=[2, 5, 900, 100]))
    with pytest.raises(FormatError, match="inconsistent with level 0"):
        read(root)
    _edit_json(root / "s1" / ".zarray", lambda d: d.update(shape=[5, 900, 100], chunks=[2, 64, 48]))
    with pytest.raises(FormatError, match="differs from level 0"):
        read(root)


def test_unsupported_codecs_and_types(tmp_path):
    root = tmp_path / "img.zarr"
    write_v04_czyx(root)
    _edit_json(root / "s0" / ".zarray", lambda d: d.update(compressor={"id": "no-such-codec"}))
    with pytest.raises(UnsupportedFormat, match="no-such-codec"):
        read(root)
    _edit_json(root / "s0" / ".zarray", lambda d: d.update(compressor=None, dtype="<U4"))
    with pytest.raises(UnsupportedFormat, match="numeric types only"):
        read(root)

    wrapped = tmp_path / "wrapped.zarr"  # a compressor around whole shards defeats ranged reads
    group = zarr.open_group(wrapped, mode="w", zarr_format=3, attributes={"ome": {"version": "0.5", "multiscales": [
        {"axes": [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}],
         "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1, 1]}]}]}]}})
    group.create_array("0", shape=(64, 64), chunks=(16, 16), shards=(32, 32), dtype="uint8")
    _edit_json(wrapped / "0" / "zarr.json", lambda d: d["codecs"].append({"name": "gzip"}))
    with pytest.raises(UnsupportedFormat, match="sharding must be the only codec"):
        read(wrapped)


def test_not_an_image_group(tmp_path):
    root = tmp_path / "img.zarr"
    write_v05_sharded_tczyx(root)
    with pytest.raises(FormatError, match="not an OME-Zarr image group"):
        read(root / "s0")  # an array, not the image
    plain = zarr.open_group(tmp_path / "plain.zarr", mode="w", zarr_format=3)
    plain.attrs["hello"] = 1
    with pytest.raises(FormatError, match="without OME-Zarr metadata"):
        read(tmp_path / "plain.zarr")
    zarr.open_group(tmp_path / "plain2.zarr", mode="w", zarr_format=2).attrs["hello"] = 1
    with pytest.raises(FormatError, match="no multiscales"):
        read(tmp_path / "plain2.zarr")


@pytest.mark.parametrize("fmt", [FormatV04(), FormatV05()], ids=["v0.4", "v0.5"])
def test_plate_without_its_wells_is_refused(fmt, tmp_path):
    # plates are read by formats/ome_zarr_plate.py (tests/plates/); a listed well that is absent is an error
    root = tmp_path / "plate.zarr"
    group = zarr.open_group(root, mode="w", zarr_format=fmt.zarr_format)
    write_plate_metadata(group, ["A"], ["1"], ["A/1"], fmt=fmt)
    with pytest.raises(FormatError, match="no well group"):
        read(root)
