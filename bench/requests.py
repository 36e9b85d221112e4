"""Requests, bytes and time per format: import, then cold and warm reads of 256² and 1024² regions.

Runs against moto's S3 server on 127.0.0.1 behind a delaying TCP proxy, so a round trip
costs what it would across a real network:

    .venv/bin/python bench/requests.py --rtt-ms 80

Writes bench/results/requests-<rtt>ms.md and prints the same table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import numpy as np  # noqa: E402

from support.moto_server import MotoServer, boto3_client, upload_tree  # noqa: E402
from support.proxy import DelayProxy  # noqa: E402


def write_samples(folder: Path) -> dict[str, Path]:
    import zarr

    from support.samples import smooth_array, write_ome_zarr_v04, write_tiff_pyramid

    data = smooth_array((1, 2048, 2048), seed=1)
    write_ome_zarr_v04(folder / "v04.zarr", data[:, np.newaxis], chunks=(1, 1, 256, 256))
    write_tiff_pyramid(folder / "pyramid.ome.tif", data, levels=4, tile=(256, 256))
    root = zarr.open_group(str(folder / "v05-sharded.zarr"), mode="w", zarr_format=3)
    arr = root.create_array("0", shape=data.shape, dtype=data.dtype, chunks=(1, 256, 256), shards=(1, 1024, 1024),
                            dimension_names=["c", "y", "x"])
    arr[:] = data
    root.attrs["ome"] = {"version": "0.5", "multiscales": [{"axes": [{"name": "c", "type": "channel"},
                         {"name": "y", "type": "space"}, {"name": "x", "type": "space"}],
                         "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1, 1, 1]}]}]}]}
    return {"OME-Zarr v0.4": folder / "v04.zarr", "OME-Zarr v0.5 sharded": folder / "v05-sharded.zarr",
            "OME-TIFF pyramid": folder / "pyramid.ome.tif"}


async def measure(url: str) -> dict:
    from stratascope import catalogue
    from stratascope.ingest import ImportOptions, import_urls
    from stratascope.pixels import PixelReader
    from stratascope.storage import SOURCE_REQUESTS

    row = {}
    before, start = SOURCE_REQUESTS.snapshot(), time.perf_counter()
    (result,) = await import_urls([url], ImportOptions())
    cost = SOURCE_REQUESTS.snapshot() - before
    row["import"] = (cost.total, cost.bytes_read, (time.perf_counter() - start) * 1000)
    record = catalogue.get_image(result.id)
    for size in (256, 1024):
        reader = PixelReader(512 * 2**20)  # a fresh reader: nothing in memory
        for state in ("cold", "warm"):
            before, start = SOURCE_REQUESTS.snapshot(), time.perf_counter()
            await reader.read_region(record, 0, c=0, y=(512, 512 + size), x=(512, 512 + size))
            cost = SOURCE_REQUESTS.snapshot() - before
            row[f"{state} {size}"] = (cost.total, cost.bytes_read, (time.perf_counter() - start) * 1000)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rtt-ms", type=float, default=80.0, help="simulated network round trip")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["STRATASCOPE_HOME"] = str(tmp / "home")
        server = MotoServer().start()
        try:
            client = boto3_client(server.endpoint)
            client.create_bucket(Bucket="bench")
            samples = write_samples(tmp)
            for path in samples.values():
                upload_tree(client, path, "bench", path.name)
            with DelayProxy("127.0.0.1", server.port, delay_ms=args.rtt_ms / 2) as proxy:
                os.environ.update(server.aws_env())
                os.environ["AWS_ENDPOINT_URL"] = proxy.endpoint
                rows = {name: asyncio.run(measure(f"s3://bench/{path.name}")) for name, path in samples.items()}
        finally:
            server.stop()
    columns = ["import", "cold 256", "warm 256", "cold 1024", "warm 1024"]
    lines = [f"Simulated round trip: {args.rtt_ms:g} ms (moto S3 behind a delaying proxy). "
             "Cells: requests / KiB / ms.", "",
             "| format | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for name, row in rows.items():
        cells = [f"{row[c][0]} / {row[c][1] / 1024:.0f} / {row[c][2]:.0f}" for c in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    out = HERE / "results" / f"requests-{args.rtt_ms:g}ms.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)


if __name__ == "__main__":
    main()
