"""`stratascope check STORE_URL`: the suitability checklist for a storage back end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .root import fail


def register(app) -> None:
    app.command("check")(check_command)


def check_command(
    store_url: Annotated[str, typer.Argument(metavar="URL", help="The prefix to check, e.g. s3://bucket/images/ or a folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the items as a JSON list.")] = False,
    report: Annotated[Path | None, typer.Option(
        "--report", metavar="FILE", help="Also write a Markdown report to this file.")] = None,
    write_probe: Annotated[str | None, typer.Option(
        "--write-probe", metavar="PREFIX",
        help="Allow write probes (consistency, a 2 MiB probe object) under this prefix only; all deleted after.",
    )] = None,
) -> None:
    """Check a storage back end before adopting it: read-only probes unless --write-probe is given.

    Exit status: 0 when no item fails, 1 when any fails, 2 on a usage error.
    """
    from ..check import FAIL, run_check
    from ..check.report import print_table, to_json, to_markdown
    from ..services import build_services
    from ..storage import InvalidURL

    services = build_services()
    try:
        items = run_check(services, store_url, write_probe)
    except InvalidURL as exc:
        fail(str(exc), 2)
    finally:
        services.close()
    if report is not None:
        try:
            report.write_text(to_markdown(items, store_url, write_probe))
        except OSError as exc:
            fail(f"cannot write report {report}: {exc}", 2)
    if as_json:
        print(to_json(items))
    else:
        print_table(items, store_url)
    raise typer.Exit(1 if any(item.status == FAIL for item in items) else 0)
