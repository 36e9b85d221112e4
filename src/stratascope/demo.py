"""`make demo`: build sample images into a local bucket folder, import them, serve them.

The sample images are synthetic "cells" written by independent writers (ome-zarr-py for
OME-Zarr v0.4, zarr-python for v0.5 with sharding, tifffile for an OME-TIFF pyramid),
so the demo exercises the same code paths as real data.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

DEMO_ROOT = Path(os.environ.get("STRATASCOPE_DEMO_DIR", "demo-data")).resolve()


def cells(shape_zyx: tuple[int, int, int], n: int, seed: int) -> np.ndarray:
    """Gaussian blobs on a dim background: a stand-in for a fluorescence channel."""
    rng = np.random.default_rng(seed)
    z, y, x = shape_zyx
    out = np.zeros(shape_zyx, np.float32)
    yy, xx = np.mgrid[0:y, 0:x].astype(np.float32)
    for _ in range(n):
        cy, cx, cz = rng.uniform(0, y), rng.uniform(0, x), rng.uniform(0, z)
        r = rng.uniform(8, 40)
        bright = rng.uniform(0.3, 1.0)
        y0, y1 = int(max(cy - 3 * r, 0)), int(min(cy + 3 * r, y))
        x0, x1 = int(max(cx - 3 * r, 0)), int(min(cx + 3 * r, x))
        blob = bright * np.exp(-((yy[y0:y1, x0:x1] - cy) ** 2 + (xx[y0:y1, x0:x1] - cx) ** 2) / (2 * r * r))
        for k in range(z):
            out[k, y0:y1, x0:x1] += blob * np.exp(-((k - cz) ** 2) / 8.0)
    out += rng.normal(0.05, 0.01, shape_zyx).astype(np.float32)
    return np.clip(out / out.max() * 3500 + 100, 0, 65535).astype(np.uint16)


def write_zarr_v04(path: Path) -> None:
    import zarr
    from ome_zarr.format import FormatV04
    from ome_zarr.io import parse_url
    from ome_zarr.writer import write_image

    data = np.stack([cells((8, 1536, 2048), 60, seed) for seed in (1, 2, 3)])
    root = zarr.group(store=parse_url(str(path), mode="w", fmt=FormatV04()).store, zarr_format=2)
    omero = {"name": "cells-3ch", "channels": [
        {"label": label, "color": color, "active": True, "window": {"start": 100, "end": 3000, "min": 0, "max": 65535}}
        for label, color in (("DAPI", "0000FF"), ("GFP", "00FF00"), ("mCherry", "FF0000"))]}
    units = {"z": "micrometer", "y": "micrometer", "x": "micrometer"}
    write_image(data, root, axes="czyx", fmt=FormatV04(), storage_options=dict(chunks=(1, 1, 256, 256)),
                scale={"z": 0.5, "y": 0.1625, "x": 0.1625}, axes_units=units, metadata={"omero": omero})
    root.attrs["omero"] = omero


def write_tiff(path: Path) -> None:
    import tifffile

    base = cells((1, 2048, 2048), 80, 7)[0]
    pyramid = [base]
    while max(pyramid[-1].shape) > 256:
        pyramid.append(pyramid[-1][::2, ::2].copy())
    with tifffile.TiffWriter(path, ome=True) as tif:
        tif.write(base, subifds=len(pyramid) - 1, tile=(256, 256), compression="zlib", photometric="minisblack",
                  metadata={"axes": "YX", "Name": "tissue-tiff", "PhysicalSizeX": 0.325, "PhysicalSizeY": 0.325,
                            "Channel": {"Name": ["Nuclei"]}})
        for level in pyramid[1:]:
            tif.write(level, subfiletype=1, tile=(256, 256), compression="zlib", photometric="minisblack")


def write_zarr_v05_sharded(path: Path) -> None:
    import zarr

    data = np.stack([cells((1, 1024, 1024), 40, seed)[0] for seed in (11, 12)])
    root = zarr.open_group(str(path), mode="w", zarr_format=3)
    datasets = []
    level = data
    for i in range(3):
        arr = root.create_array(str(i), shape=level.shape, dtype=level.dtype, chunks=(1, 128, 128),
                                shards=(1, 512, 512) if i < 2 else None, dimension_names=["c", "y", "x"])
        arr[:] = level
        datasets.append({"path": str(i), "coordinateTransformations": [{"type": "scale", "scale": [1, 0.2 * 2**i, 0.2 * 2**i]}]})
        level = level[:, ::2, ::2]
    root.attrs["ome"] = {"version": "0.5", "multiscales": [{
        "name": "sharded-v05",
        "axes": [{"name": "c", "type": "channel"}, {"name": "y", "type": "space", "unit": "micrometer"},
                 {"name": "x", "type": "space", "unit": "micrometer"}],
        "datasets": datasets}],
        "omero": {"channels": [
            {"label": label, "color": color, "window": {"start": 100, "end": 3000, "min": 0, "max": 65535}, "active": True}
            for label, color in (("Actin", "FF00FF"), ("Tubulin", "00FFFF"))
        ]}}


def build(bucket: Path) -> list[Path]:
    bucket.mkdir(parents=True, exist_ok=True)
    made = []
    for name, writer in (("cells-v04.zarr", write_zarr_v04), ("tissue.ome.tif", write_tiff),
                         ("sharded-v05.zarr", write_zarr_v05_sharded)):
        target = bucket / name
        if not target.exists():
            print(f"writing {target}", file=sys.stderr)
            writer(target)
        made.append(target)
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description="Build, import and serve the stratascope demo.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8080)))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--no-serve", action="store_true", help="Build and import only.")
    args = parser.parse_args()
    os.environ.setdefault("STRATASCOPE_HOME", str(DEMO_ROOT / "home"))
    bucket = DEMO_ROOT / "bucket"
    build(bucket)
    exe = [sys.executable, "-m", "stratascope"]
    subprocess.run([*exe, "import", str(bucket), "--project", "Demo", "--dataset", "Samples"], check=False)
    subprocess.run([*exe, "ls"], check=True)
    if args.no_serve:
        return
    print(f"\n  stratascope demo: open http://{args.host}:{args.port}/  (Ctrl-C to stop)\n", flush=True)
    os.execv(sys.executable, [*exe, "serve", "--host", args.host, "--port", str(args.port)])


if __name__ == "__main__":
    main()
