"""Sample images written by independent writers (ome-zarr-py, zarr-python, tifffile).

Each writer returns the numpy array it wrote, in (t, c, z, y, x) order, so tests can
compare what stratascope serves with the truth.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def smooth_array(shape, dtype=np.uint16, seed: int = 0) -> np.ndarray:
    """Non-trivial, compressible pixels (gradients plus noise) of any shape."""
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*[np.linspace(0, 1, n) for n in shape], indexing="ij")
    base = sum((i + 1) * g for i, g in enumerate(grids)) / len(shape)
    noisy = base + 0.05 * rng.random(shape)
    if np.dtype(dtype).kind == "f":
        return noisy.astype(dtype)
    top = min(np.iinfo(dtype).max, 4000)
    return (noisy / noisy.max() * top).astype(dtype)


def write_ome_zarr_v04(path: Path, data_czyx: np.ndarray, chunks=(1, 1, 64, 64), channel_names=None) -> np.ndarray:
    """OME-Zarr v0.4 (Zarr v2) with an omero block, via ome-zarr-py."""
    import zarr
    from ome_zarr.io import parse_url
    from ome_zarr.writer import write_image

    store = parse_url(str(path), mode="w", fmt=_fmt04()).store
    root = zarr.group(store=store, zarr_format=2)
    c = data_czyx.shape[0]
    names = channel_names or [f"ch{i}" for i in range(c)]
    colors = ["FF0000", "00FF00", "0000FF", "FFFFFF"]
    omero = {"channels": [
        {"label": names[i], "color": colors[i % 4], "active": True,
         "window": {"start": 0, "end": float(data_czyx[i].max()), "min": 0, "max": 65535}}
        for i in range(c)]}
    write_image(data_czyx, root, axes="czyx", fmt=_fmt04(), storage_options=dict(chunks=chunks),
                metadata={"omero": omero})
    root.attrs["omero"] = omero
    return data_czyx[np.newaxis]


def _fmt04():
    from ome_zarr.format import FormatV04

    return FormatV04()


def write_tiff_pyramid(path: Path, data_cyx: np.ndarray, levels: int = 3, tile=(128, 128)) -> list[np.ndarray]:
    """An OME-TIFF with a SubIFD pyramid (tifffile's documented recipe)."""
    import tifffile

    pyramid = [data_cyx]
    for _ in range(levels - 1):
        prev = pyramid[-1]
        pyramid.append(prev[:, ::2, ::2].copy())
    with tifffile.TiffWriter(path, bigtiff=False, ome=True) as tif:
        tif.write(data_cyx, subifds=levels - 1, tile=tile, compression="zlib", photometric="minisblack",
                  metadata={"axes": "CYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5})
        for level in pyramid[1:]:
            tif.write(level, subfiletype=1, tile=tile, compression="zlib", photometric="minisblack")
    return pyramid
