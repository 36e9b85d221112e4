"""Lookup tables (LUTs) we ship: 256 x RGB uint8 tables, addressed as `NAME.lut`.

ImageJ's built-in LUTs (the ones OMERO users know by name) are generated here from
the formulas and control points in ImageJ's `ij/plugin/LutLoader.java`, including
its `interpolate()` truncation; matplotlib's perceptually uniform maps are embedded
from matplotlib itself (see `_make_mpl_tables.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, partial

import numpy as np

from stratascope.render._mpl_tables import TABLES as _MPL_TABLES

# ImageJ LutLoader.fire() / ice(): 32 control points, stretched to 256 by interpolate()
_FIRE = (
    [0, 0, 1, 25, 49, 73, 98, 122, 146, 162, 173, 184, 195, 207, 217, 229, 240, 252] + [255] * 14,
    [0] * 13 + [14, 35, 57, 79, 101, 117, 133, 147, 161, 175, 190, 205, 219, 234, 248, 255, 255, 255, 255],
    [0, 61, 96, 130, 165, 192, 220, 227, 210, 181, 151, 122, 93, 64, 35, 5] + [0] * 11 + [35, 98, 160, 223, 255],
)
_ICE = (
    [0, 0, 0, 0, 0, 0, 19, 29, 50, 48, 79, 112, 134, 158, 186, 201, 217, 229, 242, 250, 250, 250, 250, 251, 250,
     250, 250, 250, 251, 251, 243, 230],
    [156, 165, 176, 184, 190, 196, 193, 184, 171, 162, 146, 125, 107, 93, 81, 87, 92, 97, 95, 93, 93, 90, 85, 69,
     64, 54, 47, 35, 19, 0, 4, 0],
    [140, 147, 158, 166, 170, 176, 209, 220, 234, 225, 236, 246, 250, 251, 250, 250, 245, 230, 230, 222, 202, 180,
     163, 142, 123, 114, 106, 94, 84, 64, 26, 27],
)
# ImageJ primaryColor(): bit 4 = red, 2 = green, 1 = blue
_PRIMARIES = {"grays": 7, "red": 4, "green": 2, "blue": 1, "cyan": 3, "magenta": 5, "yellow": 6}


def _interpolate(points: tuple[list[int], list[int], list[int]]) -> np.ndarray:
    """ImageJ LutLoader.interpolate(): linear between control points, truncated to int."""
    table = np.asarray(points, dtype=np.float64).T  # (n, 3)
    n = len(table)
    scale = n / 256.0
    pos = np.arange(256) * scale
    lower = pos.astype(int)
    upper = np.minimum(lower + 1, n - 1)
    frac = (pos - lower)[:, None]
    return ((1.0 - frac) * table[lower] + frac * table[upper]).astype(np.uint8)


def _primary(bits: int) -> np.ndarray:
    ramp = np.arange(256, dtype=np.uint8)
    zero = np.zeros(256, dtype=np.uint8)
    return np.stack([ramp if bits & 4 else zero, ramp if bits & 2 else zero, ramp if bits & 1 else zero], axis=1)


def _spectrum() -> np.ndarray:
    """ImageJ spectrum(): java.awt.Color.getHSBColor(i/255f, 1, 1), float32 like Java."""
    hue = np.arange(256, dtype=np.float32) / np.float32(255)
    h = (hue - np.floor(hue)) * np.float32(6)
    f = h - np.floor(h)
    one, zero = np.ones_like(f), np.zeros_like(f)
    q, t = one - f, f
    sector = h.astype(int)
    choices = {  # (r, g, b) per sector of the hue circle, with s = v = 1
        0: (one, t, zero), 1: (q, one, zero), 2: (zero, one, t),
        3: (zero, q, one), 4: (t, zero, one), 5: (one, zero, q),
    }
    rgb = np.zeros((256, 3), dtype=np.float32)
    for s, parts in choices.items():
        rgb[sector == s] = np.stack(parts, axis=1)[sector == s]
    return (rgb * np.float32(255) + np.float32(0.5)).astype(np.uint8)


def _rgb332() -> np.ndarray:
    i = np.arange(256, dtype=np.int64)
    return np.stack([i & 0xE0, (i << 3) & 0xE0, (i << 6) & 0xC0], axis=1).astype(np.uint8)


def _red_green() -> np.ndarray:
    """ImageJ redGreen(): red ramp over the lower half, green ramp over the upper half."""
    i = np.arange(256)
    out = np.zeros((256, 3), dtype=np.uint8)
    out[:128, 0] = i[:128] * 2
    out[128:, 1] = (i[128:] * 2) & 0xFF  # Java's (byte) cast wraps
    return out


def _from_hex(text) -> np.ndarray:
    return np.frombuffer(bytes.fromhex("".join(text)), dtype=np.uint8).reshape(256, 3)


def _builders() -> dict[str, Callable[[], np.ndarray]]:
    builders: dict[str, Callable[[], np.ndarray]] = {name: partial(_primary, bits) for name, bits in _PRIMARIES.items()}
    builders.update({
        "fire": lambda: _interpolate(_FIRE),
        "ice": lambda: _interpolate(_ICE),
        "spectrum": _spectrum,
        "3-3-2_rgb": _rgb332,
        "red_green": _red_green,
    })
    for name, text in _MPL_TABLES.items():
        builders[name] = partial(_from_hex, text)
    return {f"{name}.lut": build for name, build in builders.items()}


_BUILDERS = _builders()


def available_luts() -> list[str]:
    """Names accepted in `c=...$NAME.lut`, sorted."""
    return sorted(_BUILDERS)


def canonical_lut_name(name: str) -> str | None:
    """Normalise a user-supplied LUT name (case, spaces, optional `.lut`); None if unknown."""
    key = name.strip().lower().replace(" ", "_")
    if not key.endswith(".lut"):
        key += ".lut"
    return key if key in _BUILDERS else None


@cache
def get_lut(name: str) -> np.ndarray:
    """The (256, 3) uint8 table for a LUT name; KeyError if unknown. Read-only."""
    key = canonical_lut_name(name)
    if key is None:
        raise KeyError(f"unknown lookup table {name!r}")
    table = np.ascontiguousarray(_BUILDERS[key](), dtype=np.uint8)
    table.setflags(write=False)
    return table
