"""serve: the HTTP server (uvicorn)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from .root import fail, services


def serve_command(
    host: Annotated[str, typer.Option(metavar="ADDRESS", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="Port to listen on.", min=0, max=65535)] = 8080,
    workers: Annotated[int, typer.Option(metavar="N", help="Worker processes.", min=1, max=256)] = 1,
    read_only: Annotated[bool, typer.Option("--read-only", help="Write nothing except the cache tier.")] = False,
    log_level: Annotated[str, typer.Option(metavar="LEVEL", help="uvicorn log level.")] = "warning",
) -> None:
    """Serve the catalogue over HTTP: webgateway, JSON API, IIIF, OME-Zarr and the viewer."""
    import uvicorn

    if read_only:
        os.environ["STRATASCOPE_READ_ONLY"] = "1"  # read by every worker's create_app()
    mine = services()  # built after the variable is set, so read-only too
    try:
        mine.catalogue.engine  # noqa: B018  (migrate, or check the schema when read-only, before workers start)
    except Exception as exc:
        fail(f"cannot open the catalogue {mine.settings.database_url}: {exc}")
    mode = " (read-only)" if mine.read_only else ""
    typer.echo(f"stratascope serving on http://{host}:{port}/{mode}", err=True)
    uvicorn.run("stratascope.api.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, timeout_graceful_shutdown=5)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
