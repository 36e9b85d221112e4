"""`stratascope cache stats | drop | warm`: look at, empty and fill the cache tier."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import os
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .root import fail, services

cache_app = typer.Typer(help="The cache tier: statistics, cold-start simulation, warming.", no_args_is_help=True)
console = Console()
WARM_CONCURRENCY = 16
DROP_CACHES = "/proc/sys/vm/drop_caches"


def register(app) -> None:
    app.add_typer(cache_app, name="cache")


def _human(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _percent(ratio: float | None) -> str:
    return "-" if ratio is None else f"{100 * ratio:.1f} %"


@cache_app.command("stats")
def stats_command(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """Bytes, entries and hit ratio of the cache tier (hits and misses of every process using it)."""

    stats = services().cache.get().stats()
    if as_json:
        print(json.dumps(stats, indent=2))
        return
    console.print(f"cache: {stats['url']}")
    console.print(f"size: {_human(stats['bytes'])} of {_human(stats['max_bytes'])} in {stats['entries']} entries")
    console.print(f"hit ratio: {_percent(stats['hit_ratio'])} ({stats['hits']} hits, {stats['misses']} misses)")
    table = Table("kind", "entries", "bytes", "hits", "misses", "hit ratio")
    for kind, k in stats["kinds"].items():
        table.add_row(kind, str(k["entries"]), _human(k["bytes"]), str(k["hits"]), str(k["misses"]),
                      _percent(k["hit_ratio"]))
    if stats["kinds"]:
        console.print(table)


def drop_page_cache() -> tuple[bool, str]:
    """Ask the kernel to drop its page cache (needs root); (done, explanation)."""
    try:
        os.sync()
        with open(DROP_CACHES, "w") as fh:
            fh.write("3\n")
        return True, "dropped the OS page cache"
    except OSError as exc:
        return False, f"could not drop the OS page cache ({exc.strerror or exc}); run as root to include it"


@cache_app.command("drop")
def drop_command(
    drop_all: Annotated[bool, typer.Option("--all", help="Drop every entry (also thumbnails and overviews).")] = False,
    chunks: Annotated[
        bool, typer.Option("--chunks", help="Drop read-through chunk bytes and shard indexes (default).")
    ] = False,
) -> None:
    """Empty the cache tier to simulate a cold start; also drops the OS page cache where permitted."""

    if drop_all and chunks:
        raise typer.BadParameter("use either --all or --chunks")
    cache = services().cache.get()
    if drop_all:
        removed = cache.drop(None)
        what = "all kinds"
    else:
        removed = cache.drop("chunk/") + cache.drop("shardindex/")
        what = "chunks and shard indexes"
    typer.echo(f"removed {removed} entries ({what}) from {cache.url}")
    _, message = drop_page_cache()
    typer.echo(message)


def _parse_levels(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        levels = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise typer.BadParameter("expected level numbers separated by commas, e.g. 0,1") from None
    if not levels or levels[0] < 0:
        raise typer.BadParameter("levels are numbers >= 0")
    return levels


def _select_images(target: str) -> list:
    from .. import catalogue

    if target.isdigit():
        try:
            return [catalogue.get_image(services().catalogue, int(target))]
        except catalogue.NotFound as exc:
            fail(str(exc))
    records, _ = catalogue.list_images(services().catalogue)
    ids = [r.id for r in records if r.url.startswith(target)]
    if not ids:
        fail(f"no catalogued image has a URL starting with {target!r}")
    return [catalogue.get_image(services().catalogue, i) for i in ids]


def _chunk_indices(level) -> tuple[int, itertools.product]:
    grid = [math.ceil(s / c) for s, c in zip(level.shape, level.chunks)]
    return math.prod(grid), itertools.product(*(range(n) for n in grid))


async def _warm(reader, jobs: list, on_chunk) -> list[str]:
    """Read every chunk of every (image, level) in `jobs` through the serving reader (and so into
    the cache tier, under the reader's own keys); returns error messages."""
    errors: list[str] = []
    for record, level_no in jobs:
        _, indices = _chunk_indices(record.levels[level_no])
        errors += await reader.warm(record, level_no, indices, concurrency=WARM_CONCURRENCY, on_chunk=on_chunk)
    return errors


def _warm_on_dask(jobs: list, scheduler: str | None, workers: int | None, on_chunks) -> tuple:
    from ..jobs import JobError, dask_client, warm_on_cluster

    try:
        with dask_client(scheduler, workers) as client:
            return warm_on_cluster(services(), jobs, client, on_chunks)
    except JobError as exc:
        fail(str(exc))


@cache_app.command("warm")
def warm_command(
    target: Annotated[str, typer.Argument(metavar="TARGET", help="Image id, or a URL prefix matching catalogued images' URLs.")],
    levels: Annotated[str | None, typer.Option(
        metavar="LEVELS", help="Resolution levels to warm, e.g. 0,1 (default: all).")] = None,
    scheduler: Annotated[str | None, typer.Option(metavar="ADDRESS", help="Run on this Dask cluster (tcp://host:port).")] = None,
    workers: Annotated[int | None, typer.Option(metavar="N", help="Run on a local Dask cluster of N processes.", min=1)] = None,
) -> None:
    """Read every chunk of the given levels through the cache tier, so later reads skip the archive.

    With --workers or --scheduler the chunks are read by the workers of a Dask cluster, which
    must use the same cache tier as the servers (docs/deployment.md)."""
    from ..storage import SOURCE_REQUESTS

    wanted = _parse_levels(levels)
    records = _select_images(target)
    cache = services().cache.get()
    if not cache.enabled:
        fail("the cache tier is disabled (STRATASCOPE_CACHE_MAX_BYTES=0)")
    jobs = []
    for record in records:
        chosen = range(len(record.levels)) if wanted is None else wanted
        missing = [lv for lv in chosen if lv >= len(record.levels)]
        if missing:
            fail(f"image {record.id} has levels 0..{len(record.levels) - 1}, not {missing}")
        jobs.extend((record, lv) for lv in chosen)
    total = sum(_chunk_indices(record.levels[lv])[0] for record, lv in jobs)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=Console(stderr=True), disable=not sys.stderr.isatty())
    task = progress.add_task(f"warming {len(records)} image(s)", total=total)
    before = SOURCE_REQUESTS.snapshot()
    with progress:
        if scheduler or workers:
            errors, cost = _warm_on_dask(jobs, scheduler, workers, lambda n: progress.advance(task, n))
        else:
            errors = asyncio.run(_warm(services().reader, jobs, lambda: progress.advance(task)))
            cost = SOURCE_REQUESTS.snapshot() - before
    for message in errors[:20]:
        typer.echo(f"error: {message}", err=True)
    stats = cache.stats()
    typer.echo(f"warmed {total} chunks of {len(records)} image(s): {cost.total} source requests, "
               f"{_human(cost.bytes_read)} read; cache now {_human(stats['bytes'])} of {_human(stats['max_bytes'])}",
               err=True)
    if stats["bytes"] >= stats["max_bytes"] * 0.95:
        typer.echo("warning: the cache is (nearly) full, so early chunks may already be evicted; "
                   "raise STRATASCOPE_CACHE_MAX_BYTES or warm fewer levels", err=True)
    raise typer.Exit(1 if errors else 0)
