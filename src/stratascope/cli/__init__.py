"""The `stratascope` command line. Each sub-module registers its commands on `app`."""

from __future__ import annotations

import logging
import sys

import typer

app = typer.Typer(
    name="stratascope",
    help="An image server for microscopy that reads pixels straight from object storage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def fail(message: str, code: int = 1) -> None:
    """Print one clear line to stderr and exit (1 = failure, 2 = usage error)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _register() -> None:
    from . import (
        images,  # noqa: F401  (registers commands)
        optional_commands,
    )

    optional_commands.register(app)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _register()
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
