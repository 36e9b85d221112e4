"""import, ls, info, export."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .. import catalogue
from ..ingest import ImportOptions, import_urls
from .root import app, fail, services

console = Console()
EXPORT_MAX_PIXELS = 64_000_000


@app.command("import")
def import_command(
    urls: Annotated[list[str], typer.Argument(
        metavar="URL", help="Image or prefix URLs: s3://, gs://, az://, https://, file:// or paths.")],
    project: Annotated[str | None, typer.Option(help="Project to file the images under.")] = None,
    dataset: Annotated[str | None, typer.Option(help="Dataset to file the images under.")] = None,
    name: Annotated[str | None, typer.Option(help="Name for the image (single-image imports only).")] = None,
    screen: Annotated[str | None, typer.Option(help="Screen to file HCS plates under.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line per image.")] = False,
    scheduler: Annotated[str | None, typer.Option(metavar="ADDRESS", help="Run on this Dask cluster (tcp://host:port).")] = None,
    workers: Annotated[int | None, typer.Option(metavar="N", help="Run on a local Dask cluster of N processes.", min=1)] = None,
) -> None:
    """Register images in place (metadata only; pixels stay where they are).

    By default this process imports (concurrently); with --workers or --scheduler one Dask task
    per image runs on a cluster that uses the same catalogue and cache tier (docs/deployment.md).
    Re-importing a registered image reports what this import changed: moved (another --project
    or --dataset), renamed (another --name) or unchanged.
    Exit status 0 when no image failed, 1 when any failed.
    """
    from ..ingest.derived import make_derived_async

    options = ImportOptions(project=project, dataset=dataset, name=name, screen=screen,
                            after_register=make_derived_async)
    show_progress = not as_json and sys.stderr.isatty()
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=Console(stderr=True), disable=not show_progress)
    task = progress.add_task("discovering", total=None)

    def on_candidates(n: int) -> None:
        progress.update(task, description="importing", total=n)

    def on_result(result) -> None:
        progress.advance(task)
        if as_json:
            print(json.dumps(result.as_dict()), flush=True)
        else:
            detail = "".join(f"  ({text})" for text in (result.detail, result.error) if text)
            ident = f"#{result.id}" if result.id is not None else "-"
            progress.console.print(f"{result.status:>9} {ident:>6} {result.name}  {result.url}{detail}",
                                   markup=False, highlight=False)

    with progress:
        if scheduler or workers:
            results = _import_on_dask(urls, options, scheduler, workers, on_candidates, on_result)
        else:
            results = asyncio.run(import_urls(services(), urls, options, on_candidates, on_result))
    failed = sum(r.status == "failed" for r in results)
    if not as_json:
        counts = {s: sum(r.status == s for r in results) for s in ("imported", "updated", "moved", "renamed", "unchanged",
                                                                 "failed")}
        typer.echo(", ".join(f"{n} {s}" for s, n in counts.items() if n) or "nothing to import", err=True)
    raise typer.Exit(1 if failed else 0)


def _import_on_dask(urls, options, scheduler, workers, on_candidates, on_result) -> list:
    from ..jobs import JobError, dask_client, import_on_cluster

    try:
        with dask_client(scheduler, workers) as client:
            return import_on_cluster(services(), urls, options, client, on_candidates, on_result)
    except JobError as exc:
        fail(str(exc))


def _size(record) -> dict:
    t, c, z, y, x = record.shape
    return {"x": x, "y": y, "z": z, "c": c, "t": t}


@app.command("ls")
def ls_command(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """List catalogued images."""
    records, _ = catalogue.list_images(services().catalogue)
    rows = [
        {"id": r.id, "name": r.name, "project": r.project_name, "dataset": r.dataset_name, "format": r.format,
         "size": _size(r), "dtype": r.dtype, "status": r.status, "source": r.url}
        for r in records
    ]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("id", "name", "project / dataset", "format", "x×y×z×c×t", "source")
    for row in rows:
        s = row["size"]
        where = " / ".join(p for p in (row["project"], row["dataset"]) if p) or "-"
        status = "" if row["status"] == "ok" else f" [{row['status']}]"
        table.add_row(str(row["id"]), row["name"] + status, where, row["format"],
                      f"{s['x']}×{s['y']}×{s['z']}×{s['c']}×{s['t']}", row["source"])
    console.print(table)


def _get(image_id: int):
    try:
        return catalogue.get_image(services().catalogue, image_id)
    except catalogue.NotFound as exc:
        fail(str(exc))


def image_info(record) -> dict:
    return {
        "id": record.id, "name": record.name, "format": record.format, "url": record.url, "series": record.series,
        "axes": record.axes, "dtype": record.dtype, "size": _size(record), "status": record.status,
        "status_message": record.status_message,
        "project": record.project_name, "dataset": record.dataset_name,
        "physical_sizes": {axis: {"value": v, "unit": u} for axis, (v, u) in record.physical_sizes.items()},
        "levels": [
            {"level": i, "shape": dict(zip("tczyx", lv.shape)), "chunks": dict(zip("tczyx", lv.chunks)), "dtype": lv.dtype}
            for i, lv in enumerate(record.levels)
        ],
        "channels": [
            {"index": i, "label": ch.label, "color": ch.color, "window": [ch.window_start, ch.window_end],
             "range": [ch.window_min, ch.window_max], "emission_wave": ch.emission_wave, "active": ch.active}
            for i, ch in enumerate(record.channels)
        ],
        "sources": [
            {"url": s.url, "size": s.size, "etag": s.etag, "version": s.version,
             "last_modified": s.last_modified.isoformat() if s.last_modified else None, "storage_class": s.storage_class}
            for s in record.sources
        ],
    }


@app.command("info")
def info_command(
    image_id: Annotated[int, typer.Argument(metavar="ID", help="Image id (see `stratascope ls`).")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Levels, axes, channels, physical sizes and source objects of one image."""
    info = image_info(_get(image_id))
    if as_json:
        print(json.dumps(info, indent=2))
        return
    s = info["size"]
    console.print(f"[bold]#{info['id']} {info['name']}[/bold]  ({info['format']}, {info['dtype']}, axes {info['axes']})")
    console.print(f"source: {info['url']}  status: {info['status']}")
    console.print(f"size: x={s['x']} y={s['y']} z={s['z']} c={s['c']} t={s['t']}")
    if info["physical_sizes"]:
        console.print("pixel size: " + ", ".join(f"{a}={p['value']:g} {p['unit'] or ''}".strip()
                                               for a, p in info["physical_sizes"].items()))
    levels = Table("level", "shape (t,c,z,y,x)", "chunks", "dtype")
    for lv in info["levels"]:
        levels.add_row(str(lv["level"]), str(tuple(lv["shape"].values())), str(tuple(lv["chunks"].values())), lv["dtype"])
    console.print(levels)
    channels = Table("channel", "label", "colour", "window", "emission")
    for ch in info["channels"]:
        channels.add_row(str(ch["index"]), ch["label"], ch["color"] or "-", str(ch["window"]), str(ch["emission_wave"] or "-"))
    console.print(channels)
    sources = Table("source object", "size", "ETag", "version", "class")
    for src in info["sources"]:
        sources.add_row(src["url"], str(src["size"]), src["etag"] or "-", src["version"] or "-", src["storage_class"] or "-")
    console.print(sources)


def _parse_region(text: str) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise typer.BadParameter("expected X,Y,W,H (four integers)") from None
    if w <= 0 or h <= 0 or x < 0 or y < 0:
        raise typer.BadParameter("X and Y must be >= 0, W and H > 0")
    return x, y, w, h


@app.command("export")
def export_command(
    image_id: Annotated[int, typer.Argument(metavar="ID", help="Image id.")],
    output: Annotated[Path, typer.Option("-o", "--output", metavar="FILE", help="Output file: .npy, .tif/.tiff or .png.")],
    level: Annotated[int, typer.Option(metavar="N", help="Resolution level (0 = full resolution).")] = 0,
    region: Annotated[str | None, typer.Option(metavar="X,Y,W,H", help="X,Y,W,H in pixels of that level.")] = None,
    z: Annotated[int, typer.Option(metavar="Z", help="Z index (0-based).")] = 0,
    t: Annotated[int, typer.Option(metavar="T", help="T index (0-based).")] = 0,
    c: Annotated[int | None, typer.Option(metavar="C", help="Channel index (0-based); default all channels.")] = None,
) -> None:
    """Raw pixels of a region (dtype preserved) to .npy, .tif or .png."""
    suffix = output.suffix.lower()
    if suffix not in (".npy", ".tif", ".tiff", ".png"):
        raise typer.BadParameter("output must end in .npy, .tif, .tiff or .png", param_hint="--output")
    box = _parse_region(region) if region else None
    record = _get(image_id)
    from ..pixels import PixelError
    from ..storage import StorageError

    if not 0 <= level < len(record.levels):
        fail(f"level {level} does not exist (image has {len(record.levels)} levels: 0..{len(record.levels) - 1})")
    shape = record.levels[level].shape
    x, y, w, h = box or (0, 0, shape[4], shape[3])
    channels = shape[1] if c is None else 1
    if w * h * channels > EXPORT_MAX_PIXELS:
        fail(f"{w}x{h}x{channels} pixels is above the export limit of {EXPORT_MAX_PIXELS} pixels; "
             "use --region or a coarser --level")
    try:
        data = asyncio.run(services().reader.read_region(record, level, t=t, z=z, c=c, y=(y, y + h), x=(x, x + w)))
    except (PixelError, StorageError) as exc:
        fail(str(exc))
    _write(output, data)
    typer.echo(f"wrote {output} {data.shape} {data.dtype}", err=True)


def _write(output: Path, data: np.ndarray) -> None:
    suffix = output.suffix.lower()
    if suffix == ".npy":
        np.save(output, data)
    elif suffix in (".tif", ".tiff"):
        import tifffile

        tifffile.imwrite(output, data, photometric="minisblack")
    else:
        import imagecodecs

        if data.ndim == 3:
            if data.shape[0] != 1:
                fail("PNG holds one channel: pass --c, or export .npy/.tif for several channels")
            data = data[0]
        if data.dtype not in (np.uint8, np.uint16):
            fail(f"PNG cannot hold {data.dtype} pixels; export .npy or .tif instead")
        output.write_bytes(imagecodecs.png_encode(data))
