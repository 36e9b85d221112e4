"""The `stratascope` command line. Each sub-module registers its commands on `app`."""

from __future__ import annotations

import sys

import typer

from . import (
    images,  # noqa: F401  (its commands register on app when imported)
    optional_commands,
)
from .root import app, build_command, configure_logging, fail, services

__all__ = ["app", "fail", "main", "services"]


def _register() -> None:
    optional_commands.register(app)


def main() -> None:
    configure_logging(verbose="--verbose" in sys.argv[1:2] or "-v" in sys.argv[1:2])  # before any command's imports
    _register()
    try:
        build_command()(prog_name="stratascope")
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
