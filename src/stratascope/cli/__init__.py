"""The `stratascope` command line. Each sub-module registers its commands on `app`."""

from __future__ import annotations

import logging
import sys

import typer

from . import (
    images,  # noqa: F401  (its commands register on app when imported)
    optional_commands,
)
from .root import app, fail, services

__all__ = ["app", "fail", "main", "services"]


def _register() -> None:
    optional_commands.register(app)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _register()
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
