"""The root `stratascope` command and the one way a command fails."""

from __future__ import annotations

import typer

try:  # typer >= 0.2x runs commands in its own vendored click: its context is the one that is current
    from typer._click.globals import get_current_context
except ImportError:  # older typer runs them in click itself
    from click import get_current_context

from ..services import Services, build_services

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


def services() -> Services:
    """This command's services: built once per invocation by its root context, closed when it ends."""
    root = get_current_context().find_root()
    if not isinstance(root.obj, Services):
        root.obj = build_services()
        root.call_on_close(root.obj.close)
    return root.obj
