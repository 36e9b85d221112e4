"""Process-wide state that tests (and reloads) must be able to reset in one call."""

from __future__ import annotations

_resetters: list = []


def on_reset(func):
    """Register `func()` to run on `reset()` (caches, engines, stores)."""
    _resetters.append(func)
    return func


def reset() -> None:
    from .config import reset_settings
    from .storage.stores import forget_stores

    reset_settings()
    forget_stores()
    for func in _resetters:
        func()
