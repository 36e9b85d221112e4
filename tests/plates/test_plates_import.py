"""Import of OME-Zarr HCS plates (written by ome-zarr-py) from a local folder and from moto S3:
screen -> plate -> wells -> fields -> images, pixels, re-import, and refusal of broken plates."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from plate_samples import write_plate

from stratascope import catalogue
from stratascope.catalogue import plates as hcs
from stratascope.formats.model import PlateSpec, UnsupportedFormat
from stratascope.formats.ome_zarr import read_ome_zarr


def _run(coro):
    return asyncio.run(coro)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_read_plate_metadata(services, version, tmp_path):
    write_plate(tmp_path / "plate.zarr", version, wells=["A/1", "B/3"])
    plate = _run(read_ome_zarr(str(tmp_path / "plate.zarr"), services.source))
    assert isinstance(plate, PlateSpec)
    assert (plate.name, plate.rows, plate.columns) == ("Test plate", ["A", "B"], ["1", "2", "3"])
    assert [(w.row, w.column, w.path) for w in plate.wells] == [(0, 0, "A/1"), (1, 2, "B/3")]
    assert plate.field_count == 2 and len(plate.images) == 4
    assert [s.image for w in plate.wells for s in w.samples] == [0, 1, 2, 3]
    assert {s.acquisition for w in plate.wells for s in w.samples} == {7}
    assert plate.acquisitions[0].id == 7 and plate.acquisitions[0].name == "first run"
    assert plate.images[3].url.endswith("/plate.zarr/B/3/1")
    assert plate.images[3].name == "Test plate [Well B3, Field 2]"
    assert plate.images[0].shape == (1, 2, 1, 40, 56) and len(plate.images[0].levels) == 2


def test_a_lone_well_is_refused_with_a_pointer_to_its_plate(services, tmp_path):
    write_plate(tmp_path / "plate.zarr", wells=["A/1"], fields=1)
    with pytest.raises(UnsupportedFormat, match="import the plate"):
        _run(read_ome_zarr(str(tmp_path / "plate.zarr" / "A" / "1"), services.source))


def _check_registered(services, results, truth, screen: str | None):
    db = services.catalogue
    assert all(r.status == "imported" for r in results), results
    assert len(results) == sum(len(f) for f in truth.values())
    plate_ids = {r.plate_id for r in results}
    assert len(plate_ids) == 1
    plate = hcs.get_plate(db, plate_ids.pop())
    assert plate.screen_name == screen
    assert (plate.row_names, plate.column_names, plate.field_count) == (("A", "B"), ("1", "2", "3"), 2)
    wells, total = hcs.list_wells(db, plate_id=plate.id)
    assert total == len(truth)
    reader = services.reader
    for well in wells:
        path = f"{'AB'[well.row]}/{well.column + 1}"
        assert well.path == path
        assert [s.field_index for s in well.samples] == [0, 1]
        for sample in well.samples:
            image = catalogue.get_image(db, sample.image_id)
            expected = truth[path][sample.field_index]
            got = _run(reader.read_region(image, 0, c=None))
            np.testing.assert_array_equal(got, expected[0, :, 0])
            placement = hcs.image_placement(db, image.id)
            assert (placement.well_id, placement.plate_id, placement.field_index) == (well.id, plate.id,
                                                                                     sample.field_index)
    return plate


def test_import_plate_from_local_folder(services, tmp_path, import_urls_sync):
    db = services.catalogue
    truth = write_plate(tmp_path / "plate.zarr", "0.4")
    results = import_urls_sync([str(tmp_path / "plate.zarr")], screen="Screen one")
    plate = _check_registered(services, results, truth, "Screen one")
    screens, total = hcs.list_screens(db)
    assert total == 1 and screens[0].plate_count == 1
    assert hcs.list_plates(db, screen_id=screens[0].id)[1] == 1
    assert plate.field_range == (0, 1) and plate.well_count == 6


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_import_plate_from_s3_prefix(services, version, tmp_path, upload, import_urls_sync):
    truth = write_plate(tmp_path / "plate.zarr", version, wells=["A/1", "A/3", "B/2"])
    url = upload(tmp_path / "plate.zarr", "hcs/plate.zarr")
    prefix = url.rsplit("/", 1)[0]
    results = import_urls_sync([prefix])  # found by listing: the plate is one candidate
    _check_registered(services, results, truth, None)


def test_reimport_is_unchanged_and_keeps_ids(services, tmp_path, import_urls_sync):
    db = services.catalogue
    write_plate(tmp_path / "plate.zarr", wells=["A/1", "B/2"])
    first = import_urls_sync([str(tmp_path / "plate.zarr")], screen="S")
    wells_before, _ = hcs.list_wells(db, plate_id=first[0].plate_id)
    again = import_urls_sync([str(tmp_path / "plate.zarr")], screen="S")
    assert [r.status for r in again] == ["unchanged"] * 4
    assert [(r.id, r.plate_id) for r in again] == [(r.id, r.plate_id) for r in first]
    assert hcs.list_wells(db, plate_id=first[0].plate_id)[0] == wells_before


def test_reimport_after_a_well_was_removed_drops_its_fields(services, tmp_path, import_urls_sync):
    db = services.catalogue
    write_plate(tmp_path / "plate.zarr", wells=["A/1", "B/2"])
    first = import_urls_sync([str(tmp_path / "plate.zarr")])
    write_plate(tmp_path / "plate.zarr", wells=["A/1"])
    again = import_urls_sync([str(tmp_path / "plate.zarr")])
    assert len(again) == 2 and {r.plate_id for r in again} == {first[0].plate_id}
    wells, total = hcs.list_wells(db, plate_id=first[0].plate_id)
    assert total == 1 and wells[0].path == "A/1"
    _, images = catalogue.list_images(db)
    assert images == 2  # the removed well's fields are not left behind


def test_missing_well_is_a_clear_error_and_registers_nothing(services, tmp_path, import_urls_sync):
    db = services.catalogue
    write_plate(tmp_path / "plate.zarr", wells=["A/1", "A/2"], listed_only=["B/3"])
    results = import_urls_sync([str(tmp_path / "plate.zarr")], screen="Broken")
    assert [r.status for r in results] == ["failed"]
    assert "well 'B/3'" in results[0].error and "no well group" in results[0].error
    assert catalogue.list_images(db)[1] == 0
    assert hcs.list_plates(db)[1] == 0 and hcs.list_wells(db)[1] == 0


def test_missing_field_is_a_clear_error_and_registers_nothing(services, tmp_path, import_urls_sync):
    db = services.catalogue
    import shutil

    write_plate(tmp_path / "plate.zarr", wells=["A/1", "B/1"])
    shutil.rmtree(tmp_path / "plate.zarr" / "B" / "1" / "1")
    results = import_urls_sync([str(tmp_path / "plate.zarr")])
    assert [r.status for r in results] == ["failed"]
    assert "field '1'" in results[0].error
    assert catalogue.list_images(db)[1] == 0 and hcs.list_plates(db)[1] == 0


@pytest.mark.parametrize("attrs, message", [
    ({"plate": {"rows": [{"name": "A"}], "columns": [{"name": "1"}], "wells": [{"path": "A/1", "rowIndex": 4,
                                                                               "columnIndex": 0}]}}, "rowIndex 4"),
    ({"plate": {"rows": [{"name": "A"}], "columns": [{"name": "1"}], "wells": [{"path": "../x"}]}}, "not 'ROW/COLUMN'"),
    ({"plate": {"rows": [], "columns": [{"name": "1"}], "wells": []}}, "plate rows must be"),
    ({"plate": {"rows": [{"name": "A"}], "columns": [{"name": "1"}],
                "wells": [{"path": "A/1", "rowIndex": 0, "columnIndex": 0}] * 2}}, "two wells"),
    ({"plate": "nonsense"}, "must be an object"),
])
def test_bad_plate_metadata_is_refused(services, attrs, message, tmp_path, import_urls_sync):
    db = services.catalogue
    import zarr

    group = zarr.open_group(str(tmp_path / "bad.zarr"), mode="w", zarr_format=2)
    group.attrs.update(attrs)
    results = import_urls_sync([str(tmp_path / "bad.zarr")])
    assert results[0].status == "failed" and message in results[0].error, results
    assert hcs.list_plates(db)[1] == 0


def test_import_ome_tiff_plate_from_s3(services, tmp_path, upload, import_urls_sync):
    db = services.catalogue
    from plate_samples import write_ome_tiff_plate

    truth = write_ome_tiff_plate(tmp_path / "plate.ome.tif")
    url = upload(tmp_path / "plate.ome.tif", "tiff/plate.ome.tif")
    results = import_urls_sync([url], screen="TIFF screen")
    assert [r.status for r in results] == ["imported"] * 4, results
    plate = hcs.get_plate(db, results[0].plate_id)
    assert (plate.name, plate.row_names, plate.column_names) == ("TIFF plate", ("A", "B"), ("1", "2", "3"))
    assert plate.acquisitions[0]["id"] == 3 and plate.screen_name == "TIFF screen"
    wells, total = hcs.list_wells(db, plate_id=plate.id)
    assert total == 2
    reader = services.reader
    for well in wells:
        for sample in well.samples:
            assert sample.acquisition == 3
            image = catalogue.get_image(db, sample.image_id)
            assert image.url == url and image.format == "ome-tiff"
            got = _run(reader.read_region(image, 0, c=None))
            np.testing.assert_array_equal(got, truth[(well.row, well.column)][sample.field_index][0, :, 0])


def test_ome_tiff_plate_naming_a_missing_image_is_refused(services, tmp_path, import_urls_sync):
    db = services.catalogue
    import tifffile
    from ome_types import from_xml, to_xml
    from plate_samples import write_ome_tiff_plate

    path = tmp_path / "plate.ome.tif"
    write_ome_tiff_plate(path, wells=((0, 0),), fields=1)
    ome = from_xml(tifffile.tiffcomment(path))
    ome.plates[0].wells[0].well_samples[0].image_ref.id = "Image:99"
    tifffile.tiffcomment(path, to_xml(ome).encode())
    results = import_urls_sync([str(path)])
    assert results[0].status == "failed" and "Image:99" in results[0].error, results
    assert catalogue.list_images(db)[1] == 0 and hcs.list_plates(db)[1] == 0
