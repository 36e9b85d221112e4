"""Pixel-layer errors; api/ maps them to HTTP statuses."""


class PixelError(Exception):
    """Root of pixel-reading failures."""


class RegionOutOfRange(PixelError):
    """Level, t, c, z or the region is outside the image (a client error)."""


class RegionTooLarge(PixelError):
    """The region is above the configured size limit."""
