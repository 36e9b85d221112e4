"""Images named after their file or folder when the metadata's name is a placeholder (issue 15 #1)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from stratascope.formats.naming import image_name, is_generic


@pytest.mark.parametrize("name", ["", None, "Image0", "Image12", "image", "Series 0", "series_3", "0", " IMAGE ",
                                  "Default", "untitled"])
def test_placeholders_are_generic(name):
    assert is_generic(name)


@pytest.mark.parametrize("name", ["Kidney", "image of a kidney", "Series 0 kidney", "well A1", "2024-01-05 run"])
def test_real_names_are_kept(name):
    assert not is_generic(name) and image_name([None, name], "file.tif") == name


def _names(results) -> list[str]:
    assert all(r.status == "imported" and r.error is None for r in results), results
    return sorted(r.name for r in results)


def test_tifffile_written_files_are_named_after_their_files(tmp_path, import_urls_sync):
    plane = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
    folder = tmp_path / "run"
    folder.mkdir()
    for i in range(3):  # tifffile names every OME image "Image0"
        tifffile.imwrite(folder / f"cell-{i}.ome.tif", plane, metadata={"axes": "YX"})
    tifffile.imwrite(folder / "plain.tif", plane)  # no name at all
    tifffile.imwrite(folder / "named.ome.tif", plane, metadata={"axes": "YX", "Name": "Kidney section"})
    with tifffile.TiffWriter(folder / "two.ome.tif", ome=True) as tif:  # Image0, Image1
        tif.write(plane, metadata={"axes": "YX"})
        tif.write(plane[:32, :32], metadata={"axes": "YX"})
    assert tifffile.TiffFile(folder / "cell-0.ome.tif").series[0].name == "Image0"  # what the metadata says
    assert _names(import_urls_sync([str(folder) + "/"])) == [
        "Kidney section", "cell-0.ome.tif", "cell-1.ome.tif", "cell-2.ome.tif", "plain.tif",
        "two.ome.tif [0]", "two.ome.tif [1]"]


def test_ome_zarr_py_written_images_are_named_after_their_folders(tmp_path, import_urls_sync):
    import zarr
    from ome_zarr.writer import write_image

    data = np.arange(2 * 64 * 64, dtype=np.uint8).reshape(2, 64, 64)
    write_image(data, zarr.open_group(str(tmp_path / "liver.zarr"), mode="w"), axes="cyx",
                scale_factors=[2])  # ome-zarr-py's default name is "image"
    write_image(data, zarr.open_group(str(tmp_path / "named.zarr"), mode="w"), axes="cyx",
                scale_factors=[2], name="Liver lobe")
    assert _names(import_urls_sync([str(tmp_path / "liver.zarr"), str(tmp_path / "named.zarr")])) == [
        "Liver lobe", "liver.zarr"]


def test_bioformats2raw_series_are_named_after_the_root_folder(tmp_path, import_urls_sync):
    import json

    import zarr
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_image

    root = tmp_path / "scan.ome.zarr"
    group = zarr.open_group(str(root), mode="w", zarr_format=2)
    group.attrs["bioformats2raw.layout"] = 3
    data = np.zeros((32, 32), dtype=np.uint8)
    for series in ("0", "1"):
        write_image(data, zarr.open_group(str(root / series), mode="w", zarr_format=2), axes="yx",
                    scale_factors=[], fmt=FormatV04(), name=f"Series {series}")
    assert json.loads((root / ".zattrs").read_text())["bioformats2raw.layout"] == 3
    assert _names(import_urls_sync([str(root)])) == ["scan.ome.zarr [0]", "scan.ome.zarr [1]"]
