"""serve: the HTTP server (uvicorn)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from . import fail


def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=0, max=65535)] = 8080,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1, max=256)] = 1,
    read_only: Annotated[bool, typer.Option("--read-only", help="Write nothing except the cache tier.")] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
) -> None:
    """Serve the catalogue over HTTP: webgateway, JSON API, IIIF, OME-Zarr and the viewer."""
    import uvicorn

    from .. import state
    from ..catalogue.db import get_engine
    from ..config import get_settings

    if read_only:
        os.environ["STRATASCOPE_READ_ONLY"] = "1"  # inherited by worker processes
        state.reset()
    try:
        get_engine()  # migrate (or check the schema in read-only mode) once, before workers start
    except Exception as exc:
        fail(f"cannot open the catalogue {get_settings().database_url}: {exc}")
    mode = " (read-only)" if get_settings().read_only else ""
    typer.echo(f"stratascope serving on http://{host}:{port}/{mode}", err=True)
    uvicorn.run("stratascope.api.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, timeout_graceful_shutdown=5)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
