"""The only reader of chunk bytes: read_region(image, level, t, c, z, y, x) -> ndarray."""

from .codecs import CodecFactory, OverviewSupport
from .errors import PixelError, RegionOutOfRange, RegionTooLarge
from .fetch import CachedFetch, SourceFetch
from .reader import PixelReader, ReadLimits

__all__ = [
    "CachedFetch", "CodecFactory", "OverviewSupport", "PixelError", "PixelReader", "RegionOutOfRange", "RegionTooLarge",
    "ReadLimits", "SourceFetch",
]
