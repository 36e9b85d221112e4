"""`stratascope catalogue export FILE` / `stratascope catalogue import FILE [--merge]`."""

from __future__ import annotations

import gzip
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from .root import fail, services

catalogue_app = typer.Typer(help="Back up and restore the catalogue (portable JSON lines).", no_args_is_help=True)


def register(app) -> None:
    app.add_typer(catalogue_app, name="catalogue")


def _open_for_writing(path: Path, compress: bool):
    return gzip.open(path, "wt", encoding="utf-8") if compress else open(path, "w", encoding="utf-8")


def _open_for_reading(path: Path):
    """Plain or gzip-compressed, whatever the name says (told apart by gzip's magic bytes)."""
    with open(path, "rb") as fh:
        compressed = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt", encoding="utf-8") if compressed else open(path, encoding="utf-8")


@catalogue_app.command("export")
def export_command(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="Output file (.jsonl, or .jsonl.gz to compress); - for stdout.")],
) -> None:
    """Write the whole catalogue (projects, datasets, images with manifests, channels, sources) to FILE.

    The file is written next to FILE and renamed into place at the end, so an interrupted
    export never leaves a partial backup under the final name.
    """
    from ..catalogue.backup import export_lines

    if str(file) == "-":
        for line in export_lines(services().catalogue):
            sys.stdout.write(line + "\n")
        return
    partial = file.with_name(file.name + ".partial")
    counts = None
    try:
        with _open_for_writing(partial, file.suffix == ".gz") as out:
            for line in export_lines(services().catalogue):
                out.write(line + "\n")
                if line.startswith('{"type": "end"'):
                    counts = json.loads(line)["counts"]
        os.replace(partial, file)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        fail(f"cannot write {file}: {exc}")
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    summary = ", ".join(f"{n} {table}" for table, n in (counts or {}).items())
    typer.echo(f"exported {summary} to {file}", err=True)


@catalogue_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="A dump written by `stratascope catalogue export` (.jsonl[.gz]).")],
    merge: Annotated[bool, typer.Option(
        "--merge", help="Add to a non-empty catalogue: skip images whose URL and series exist; new ids.")] = False,
) -> None:
    """Restore a dump. Into an empty catalogue every id is kept, so image URLs stay valid.

    All or nothing: a bad or truncated dump changes nothing. Exit status 1 on any error.
    """
    from ..catalogue import CatalogueError
    from ..catalogue.backup import import_lines

    if not file.is_file():
        fail(f"{file} does not exist", 2)
    try:
        with _open_for_reading(file) as lines:
            counts = import_lines(services().catalogue, lines, merge=merge)
    except (CatalogueError, OSError, UnicodeDecodeError, EOFError) as exc:
        fail(f"cannot import {file}: {exc}")
    skipped = counts.pop("skipped_images", 0)
    added = ", ".join(f"{n} {table}" for table, n in counts.items()) or "nothing"
    typer.echo(f"imported {added}" + (f" ({skipped} images already present, skipped)" if skipped else ""), err=True)
