"""Command groups that live in their own modules (serve, cache, verify, check, ...)."""

from __future__ import annotations

import importlib

MODULES: list[str] = ["serve", "cache", "check", "verify", "catalogue_cmd", "restore", "users"]


def register(app) -> None:
    for name in MODULES:
        importlib.import_module(f"{__package__}.{name}").register(app)
