"""Per-channel intensity histograms, as omero-web's histogram_json returns them."""

from __future__ import annotations

import numpy as np

from stratascope.render.params import RenderParamError

MAX_BINS = 65536


def histogram(plane: np.ndarray, bins: int = 256, range: tuple[float, float] | None = None) -> list[int]:
    """Counts of `plane`'s values in `bins` equal bins over `range` (inclusive of the top edge).

    `range` defaults to the plane's own min..max (OMERO's globalRange=False); pass the
    channel's min/max over the whole image for OMERO's default global range. Values
    outside the range and NaNs are not counted.
    """
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or not 1 <= bins <= MAX_BINS:
        raise RenderParamError(f"bins must be an integer in 1..{MAX_BINS}, got {bins!r}")
    values = np.asarray(plane)
    if values.dtype.kind == "f":
        values = values[np.isfinite(values)]
    elif values.dtype.kind == "b":
        values = values.astype(np.uint8)
    if range is None:
        if values.size == 0:
            return [0] * int(bins)
        range = (float(values.min()), float(values.max()))
    lo, hi = float(range[0]), float(range[1])
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo > hi:
        raise RenderParamError(f"histogram range {lo:g}..{hi:g} is not a finite increasing interval")
    if lo == hi:  # one value: everything in it lands in the first bin
        counts = np.zeros(int(bins), dtype=np.int64)
        counts[0] = int(np.count_nonzero(values == lo))
        return counts.tolist()
    counts, _ = np.histogram(values, bins=int(bins), range=(lo, hi))
    return counts.tolist()
