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
