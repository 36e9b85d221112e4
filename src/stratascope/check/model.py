"""The checklist's result type, statuses and the small statistics every probe shares."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

PASS, WARN, FAIL = "pass", "warn", "fail"


@dataclass(frozen=True)
class CheckItem:
    """One line of the checklist: what was measured and what it means for stratascope."""

    id: str
    title: str
    status: str  # pass | warn | fail
    figure: str  # the measured figure, human readable
    meaning: str  # what this means for running stratascope on this store

    def as_dict(self) -> dict:
        return asdict(self)


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation: a small sample stays honest)."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def graded(value: float, good_below: float, fail_at: float) -> str:
    """pass below `good_below`, fail at or above `fail_at`, warn in between."""
    if value < good_below:
        return PASS
    return FAIL if value >= fail_at else WARN


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def short_error(exc: BaseException) -> str:
    """The first line of an error message (obstore errors carry long debug dumps)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class Deadline:
    """A time budget shared by the loops of one probe, so every loop is bounded in time too."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.end
