"""`stratascope restore`: bring archived (GLACIER / DEEP_ARCHIVE) source objects back.

    stratascope restore 42 [--days 7] [--tier Bulk]   request a restore of every archived object of image 42
    stratascope restore s3://bucket/prefix/          ... of every archived object under a URL
    stratascope restore --status [42 | URL] [--json]  per image: not needed / needed / in progress / restored

An image's objects are its recorded source objects plus, for OME-Zarr, every object
under its root (the chunks). Restores take hours (S3: GLACIER 3-5 h Standard, DEEP_ARCHIVE
up to 12 h); requesting again is harmless. For millions of objects use S3 Batch Operations.
"""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from .root import fail, services

CONCURRENCY = 16
#: Order of precedence when summarising an image's objects into one state.
_SUMMARY = ("failed", "needed", "requested", "in progress", "restored", "not needed")
console = Console()


def objects_of(record) -> dict[str, str | None]:
    """url -> current storage class (None when unknown) of every object holding the image's bytes."""
    # the class recorded at import may be stale (lifecycle rules move objects later): None = ask S3
    found: dict[str, str | None] = {s.url: None for s in record.sources}
    if record.format.startswith("ome-zarr"):
        found.update(services().archive.list_classes(record.url))
    return found


def _targets(target: str | None) -> list[tuple[str, dict[str, str | None]]]:
    """(label, objects) per image, or one entry for a URL target."""
    from .. import catalogue
    from ..storage import InvalidURL, parse_url

    if target is None:
        records, _ = catalogue.list_images(services().catalogue)
        return [(f"#{r.id} {r.name}", objects_of(r)) for r in records]
    if target.isdigit():
        try:
            record = catalogue.get_image(services().catalogue, int(target))
        except catalogue.NotFound as exc:
            fail(str(exc))
        return [(f"#{record.id} {record.name}", objects_of(record))]
    try:
        location = parse_url(target)
    except InvalidURL as exc:
        fail(str(exc))
    if location.scheme != "s3":
        fail(f"{target}: restores exist only for s3:// objects")
    is_prefix = location.key.endswith("/") or not location.key
    objects: dict[str, str | None] = services().archive.list_classes(location.url) if is_prefix else {}
    if not objects:
        objects = {location.url: None}  # a single object
    return [(location.url, objects)]


def _archived(objects: dict[str, str | None]) -> list[str]:
    """S3 objects that are (or may be: class unknown, one HEAD tells) in an archive class.

    Only S3 has archive classes here (storage/archive.py): local files, http(s), GCS and Azure
    objects are never "archived" and are not asked about."""
    from ..storage.archive import ARCHIVE_CLASSES

    return [url for url, cls in objects.items()
            if url.startswith("s3://") and (cls is None or cls in ARCHIVE_CLASSES)]


def _run(func, urls: list[str]) -> dict[str, str]:
    def one(url: str) -> tuple[str, str]:
        try:
            return url, func(url)
        except Exception as exc:
            return url, f"failed: {exc}"

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        return dict(pool.map(one, urls))


def _summary(states: dict[str, str]) -> str:
    kinds = {s.split(":", 1)[0] for s in states.values()}
    return next((k for k in _SUMMARY if k in kinds), "not needed")


def _report(rows: list[dict], as_json: bool, title: str) -> None:
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("image / URL", "objects", "archived", title, "detail")
    for row in rows:
        counts = Counter(s.split(":", 1)[0] for s in row["objects"].values())
        detail = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        failure = next((s for s in row["objects"].values() if s.startswith("failed")), "")
        table.add_row(row["target"], str(row["total"]), str(len(row["objects"])), row["state"],
                      (detail + (f" ({failure})" if failure else ""))[:200])
    console.print(table)


def restore_command(
    target: Annotated[str | None, typer.Argument(metavar="TARGET", help="Image id, or an s3:// object or prefix URL.")] = None,
    days: Annotated[int, typer.Option(metavar="DAYS", help="Days the restored copy stays readable.", min=1, max=3650)] = 7,
    tier: Annotated[str, typer.Option(metavar="TIER", help="Retrieval tier: Standard, Bulk or Expedited.")] = "Standard",
    status: Annotated[bool, typer.Option("--status", help="Show restore progress instead of requesting.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Request (or show the progress of) restores of archived source objects."""
    archive = services().archive
    if tier not in ("Standard", "Bulk", "Expedited"):
        raise typer.BadParameter("tier must be Standard, Bulk or Expedited", param_hint="--tier")
    if not status and target is None:
        fail("name an image id or an s3:// URL to restore (or use --status)", 2)
    if not status and services().settings.read_only:
        fail("read-only mode: restore requests change the source store's state; run without read-only mode")
    rows = []
    for label, objects in _targets(target):
        archived = _archived(objects)
        if status:
            states = _run(lambda url: archive.head_state(url).restore, archived)
        else:
            states = _run(lambda url: archive.request_restore(url, days, tier), archived)
        summary = _summary(states)
        # only objects in an archive class are listed (a HEAD may show a class unknown so far is STANDARD)
        states = {url: state for url, state in states.items() if state != "not needed"}
        rows.append({"target": label, "total": len(objects), "state": summary, "objects": states})
    _report(rows, as_json, "restore" if status else "request")
    if any(row["state"] == "failed" for row in rows):
        raise typer.Exit(1)


def register(app) -> None:
    app.command("restore")(restore_command)
