"""Render-layer errors; api/errors.py maps them to HTTP statuses."""


class RenderError(Exception):
    """Root of rendering failures."""


class RenderParamError(RenderError):
    """A rendering query parameter is malformed or out of range (a client error)."""
