"""serve: the HTTP server (uvicorn)."""

from __future__ import annotations

import errno
import os
import socket
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

    problem = _cannot_listen(host, port)  # before opening anything, and before "serving on"
    if problem:
        fail(problem)
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


def _cannot_listen(host: str, port: int) -> str | None:
    """Why uvicorn could not listen on host:port (port in use, unknown address), or None.

    Binds once as uvicorn will (SO_REUSEADDR, so a port left in TIME_WAIT by a previous server
    is not "in use"), then lets go; uvicorn binds again a moment later."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"cannot listen on {host}: no such address ({exc.strerror}); pass --host with a local address"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (f"port {port} on {host} is already in use (another stratascope serve?): "
                        "stop that server or pass another --port")
            if exc.errno == errno.EACCES:
                return f"no permission to listen on port {port} (ports below 1024 need privileges): pass --port 8080"
            if exc.errno == errno.EADDRNOTAVAIL:
                return f"cannot listen on {host}: not an address of this machine; pass --host with a local address"
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
