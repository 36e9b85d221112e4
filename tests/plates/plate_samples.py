"""OME-Zarr HCS plates written by ome-zarr-py (the independent writer): plate -> wells -> fields."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import zarr
from ome_zarr.format import FormatV04, FormatV05
from ome_zarr.writer import write_image, write_plate_metadata, write_well_metadata

from support.samples import smooth_array

FORMATS = {"0.4": FormatV04, "0.5": FormatV05}
ROWS = ["A", "B"]
COLUMNS = ["1", "2", "3"]


def write_plate(path: Path, version: str = "0.4", wells=None, fields: int = 2, name: str = "Test plate",
                shape=(2, 40, 56), listed_only=()) -> dict[str, list[np.ndarray]]:
    """A plate of 2 rows x 3 columns; `wells` (default: all six) each get `fields` images.

    Every field has its own pixels (c, y, x), returned by well path as (t, c, z, y, x) arrays.
    Wells in `listed_only` are named in the plate metadata but never written.
    """
    fmt = FORMATS[version]()
    wells = list(wells or [f"{r}/{c}" for r in ROWS for c in COLUMNS])
    root = zarr.open_group(str(path), mode="w", zarr_format=fmt.zarr_format)
    acquisitions = [{"id": 7, "name": "first run", "maximumfieldcount": fields}]
    write_plate_metadata(root, ROWS, COLUMNS, wells + list(listed_only), fmt=fmt, name=name,
                         field_count=fields, acquisitions=acquisitions)
    truth: dict[str, list[np.ndarray]] = {}
    for index, well_path in enumerate(wells):
        row, column = well_path.split("/")
        well = root.require_group(row).require_group(column)
        write_well_metadata(well, [{"path": str(f), "acquisition": 7} for f in range(fields)], fmt=fmt)
        truth[well_path] = []
        for field in range(fields):
            data = smooth_array(shape, seed=100 * index + field)
            data[0, 0, 0] = index * 10 + field  # a marker that tells the fields apart for sure
            write_image(data, well.require_group(str(field)), axes="cyx", fmt=fmt, scale_factors=[2],
                        storage_options=dict(chunks=(1, 16, 16)))
            truth[well_path].append(data[np.newaxis, :, np.newaxis])
    return truth


def write_ome_tiff_plate(path: Path, wells=((0, 0), (1, 2)), fields: int = 2, shape=(2, 32, 48)) -> dict:
    """An OME-TIFF plate: tifffile writes one OME Image per field, ome-types adds the Plate
    (Wells with WellSamples naming those Images) to the OME-XML, tifffile.tiffcomment stores it.

    Returns {(row, column): [(t, c, z, y, x) array per field]}."""
    import tifffile
    from ome_types import from_xml, to_xml
    from ome_types.model import ImageRef, Plate, PlateAcquisition, Well, WellSample, WellSampleRef

    truth: dict = {}
    with tifffile.TiffWriter(path, ome=True) as tif:
        for index, position in enumerate(wells):
            truth[position] = []
            for field in range(fields):
                data = smooth_array(shape, dtype=np.uint8, seed=50 + 10 * index + field)
                data[0, 0, 0] = index * 10 + field
                tif.write(data, photometric="minisblack", metadata={"axes": "CYX", "Name": f"img{index}-{field}"})
                truth[position].append(data[np.newaxis, :, np.newaxis])
    ome = from_xml(tifffile.tiffcomment(path))
    image_ids = iter(image.id for image in ome.images)
    plate_wells, sample_ids, number = [], [], 0
    for index, (row, column) in enumerate(wells):
        samples = []
        for _ in range(fields):
            samples.append(WellSample(id=f"WellSample:{number}", index=number, image_ref=ImageRef(id=next(image_ids))))
            sample_ids.append(samples[-1].id)
            number += 1
        plate_wells.append(Well(id=f"Well:{index}", row=row, column=column, well_samples=samples))
    acquisition = PlateAcquisition(id="PlateAcquisition:3", name="run",
                                   well_sample_refs=[WellSampleRef(id=i) for i in sample_ids])
    ome.plates = [Plate(id="Plate:0", name="TIFF plate", rows=2, columns=3, row_naming_convention="letter",
                        column_naming_convention="number", wells=plate_wells, plate_acquisitions=[acquisition])]
    tifffile.tiffcomment(path, to_xml(ome).encode())
    return truth
