"""The root `stratascope` command and the one way a command fails."""

from __future__ import annotations

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
