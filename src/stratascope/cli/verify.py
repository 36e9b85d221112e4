"""`stratascope verify [ID ...|--all] [--json] [--unregistered] [--no-mark]`."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from .root import fail, services

console = Console()
STYLE = {"ok": "green", "missing": "red", "changed": "yellow", "unregistered": "magenta", "error": "red"}


def verify_command(
    ids: Annotated[list[int] | None, typer.Argument(
        metavar="ID", help="Image ids (see `stratascope ls`).", show_default=False)] = None,
    all_images: Annotated[bool, typer.Option("--all", help="Verify every image in the catalogue.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document with every image and object.")] = False,
    find_unregistered: Annotated[bool, typer.Option(
        "--unregistered",
        help="List every image prefix completely to find unregistered objects, even where HEADs are cheaper "
             "(one LIST request per 1000 objects: a Zarr prefix can hold millions of chunks).")] = False,
    no_mark: Annotated[bool, typer.Option("--no-mark", help="Report only; do not mark images in the catalogue.")] = False,
) -> None:
    """Check that every source object recorded at import still exists unchanged (size, ETag, version).

    Marks images missing / changed in the catalogue (the server then answers 410 / 409 for
    them) and ok again when they verify ok; `stratascope import URL` repairs a marked image.

    Exit status 0 when everything is ok, 1 when anything is not, 2 on bad usage.
    """
    from .. import catalogue, integrity

    if bool(ids) == all_images:
        fail("give image ids or --all (not both)", 2)
    update = not no_mark and not services().settings.read_only
    try:
        report = integrity.verify(services().catalogue, services().source, None if all_images else list(ids),
                                  find_unregistered=find_unregistered, update_catalogue=update)
    except catalogue.NotFound as exc:
        fail(str(exc), 2)
    if as_json:
        print(json.dumps(report.as_dict(), indent=2, default=str))
    else:
        _print(report, update)
    raise typer.Exit(0 if report.ok else 1)


def _print(report, marked: bool) -> None:
    images = Table("id", "name", "status", "objects", "not ok", "was", title="verify")
    for image in report.images:
        counts = {}
        for obj in image.objects:
            counts[obj.status] = counts.get(obj.status, 0) + 1
        bad = ", ".join(f"{n} {s}" for s, n in counts.items() if s != "ok") or "-"
        style = STYLE.get(image.status, "")
        status = image.status + (" (pinned)" if image.pinned and image.status == "changed" else "")
        images.add_row(str(image.id), image.name, f"[{style}]{status}[/{style}]", str(len(image.objects)), bad,
                       image.previous_status)
    console.print(images)
    problems = [(image.id, obj) for image in report.images for obj in image.objects if obj.status != "ok"]
    problems += [(None, obj) for obj in report.unregistered]
    if problems:
        table = Table("image", "status", "via", "object", "detail")
        table.columns[3].overflow = table.columns[4].overflow = "fold"  # never cut a URL short
        for image_id, obj in problems:
            style = STYLE.get(obj.status, "")
            table.add_row("-" if image_id is None else str(image_id), f"[{style}]{obj.status}[/{style}]", obj.via,
                          obj.url, obj.detail)
        console.print(table)
    spent = ", ".join(f"{n} {op}" for op, n in report.requests.items()) or "none"
    console.print(f"requests: {spent}; prefixes listed completely: {len(report.listed_prefixes)}")
    if not marked:
        console.print("catalogue not updated (--no-mark or read-only mode)")
    if not report.ok:
        console.print("[bold]not ok[/bold]: re-import affected images with `stratascope import URL` "
                      "once the data is where it should be")


def register(app) -> None:
    app.command("verify")(verify_command)
