"""Turn raw planes into 8-bit RGB: windows, quantization, inversion, colours / LUTs.

The model follows OMERO's renderer: every active channel is quantized to 0..255
through its window and quantization family, optionally inverted (255 - v), then
coloured (colour x alpha, or a LUT) and the channels are added with clipping. The
greyscale model shows only the first active channel, in grey.

Integer data whose value range spans at most 2**16 values goes through a per-value
table (one gather per channel instead of float arithmetic per pixel).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache

import numpy as np

from stratascope.render.luts import get_lut
from stratascope.render.params import ChannelSetting, RenderSettings

_TABLE_LIMIT = 1 << 16
_E_MINUS_1 = np.e - 1.0


def range_of_dtype(dtype) -> tuple[float, float]:
    """The values a pixel type can hold; floats are assumed normalised to 0..1."""
    dtype = np.dtype(dtype)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        return float(info.min), float(info.max)
    if dtype.kind == "b":
        return 0.0, 1.0
    return 0.0, 1.0


def quantize(values: np.ndarray, ch: ChannelSetting) -> np.ndarray:
    """Raw values -> uint8 through the channel's window, family/coefficient and inversion."""
    v = np.asarray(values, dtype=np.float64)
    width = ch.end - ch.start
    if width > 0:
        t = (v - ch.start) * (1.0 / width)
        np.clip(t, 0.0, 1.0, out=t)
    else:  # a zero-width window is a threshold
        t = (v >= ch.start).astype(np.float64)
    t[np.isnan(t)] = 0.0
    k = ch.coefficient
    if ch.family == "polynomial":
        t = t**k
    elif ch.family == "exponential":
        t = np.expm1(t**k) / _E_MINUS_1
    elif ch.family == "logarithmic":
        t = np.log1p(_E_MINUS_1 * t**k)
    q = np.rint(t * 255.0).astype(np.uint8)
    return 255 - q if ch.inverted else q


def colour_table(ch: ChannelSetting, grey: bool = False) -> np.ndarray:
    """(256, 3) uint8: the RGB contribution of each quantized value of this channel.

    A colour contributes round(v * colour * alpha / 255**2) per component, a LUT its
    entry; grey is the identity ramp.
    """
    if grey:
        return np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    if ch.lut:
        return get_lut(ch.lut)
    rgb = np.array([int(ch.color[i:i + 2], 16) for i in (0, 2, 4)], dtype=np.float64)
    return np.rint(np.arange(256, dtype=np.float64)[:, None] * rgb * (ch.alpha / 255.0**2)).astype(np.uint8)


def _table_domain(dtype: np.dtype, value_range) -> tuple[int, int] | None:
    if dtype.kind not in "uib":
        return None
    lo, hi = range_of_dtype(dtype) if value_range is None else value_range
    lo, hi = int(np.floor(lo)), int(np.ceil(hi))
    return (lo, hi) if 0 < hi - lo + 1 <= _TABLE_LIMIT else None


@lru_cache(maxsize=64)
def _value_tables(ch: ChannelSetting, lo: int, hi: int, grey: bool) -> tuple[np.ndarray | None, ...]:
    """Per component, every raw value lo..hi mapped straight to its contribution (cached)."""
    return _split(colour_table(ch, grey)[quantize(np.arange(lo, hi + 1), ch)])


def _split(table: np.ndarray) -> tuple[np.ndarray | None, ...]:
    """(n, 3) -> three contiguous (n,) tables; None for a component that is always 0."""
    return tuple(np.ascontiguousarray(table[:, k]) if table[:, k].any() else None for k in range(3))


def _contributions(plane: np.ndarray, ch: ChannelSetting, grey: bool, value_range) -> list[np.ndarray | None]:
    """One plane mapped to its R, G, B uint8 contributions (three (y, x) arrays, None = 0).

    Planar 1-D lookups: gathering 3-byte rows or writing interleaved pixels is several
    times slower in numpy than three contiguous takes.
    """
    domain = _table_domain(plane.dtype, value_range)
    if domain is not None:
        lo, hi = domain
        tables = _value_tables(ch, lo, hi, grey)
        if lo == 0 and plane.dtype in (np.uint8, np.uint16) and hi == np.iinfo(plane.dtype).max:
            idx = plane
        else:
            idx = np.clip(plane.astype(np.int64) - lo, 0, hi - lo)
    else:
        tables = _split(colour_table(ch, grey))
        idx = quantize(plane, ch)
    return [None if t is None else np.take(t, idx) for t in tables]


def _planes_by_channel(planes: np.ndarray, channels: Sequence[int] | None) -> dict[int, np.ndarray]:
    planes = np.asarray(planes)
    if planes.ndim != 3:
        raise ValueError(f"expected planes shaped (c, y, x), got {planes.shape}")
    channels = list(range(len(planes))) if channels is None else list(channels)
    if len(channels) != len(planes):
        raise ValueError(f"{len(planes)} planes but {len(channels)} channel indices")
    return dict(zip(channels, planes))


def render_rgb(
    planes: np.ndarray, settings: RenderSettings, dtype_range: tuple[float, float] | None = None,
    channels: Sequence[int] | None = None,
) -> np.ndarray:
    """Render (c, y, x) planes to a (y, x, 3) uint8 image.

    `channels[i]` is the 0-based channel of `planes[i]` (default: plane i is channel i);
    only the channels in `settings.channels_to_read()` must be present. `dtype_range`
    is the range pixel values can take (default: the dtype's), e.g. (0, 4095) for
    12-bit data stored in uint16; values outside it are clipped to it.
    """
    by_channel = _planes_by_channel(planes, channels)
    shape = np.asarray(planes).shape[1:]
    out = np.zeros((*shape, 3), dtype=np.uint8)
    grey = settings.model == "greyscale"
    active = settings.active_channels[:1] if grey else settings.active_channels
    missing = [ch.index0 for ch in active if ch.index0 not in by_channel]
    if missing:
        raise ValueError(f"channels {missing} are active but their planes were not given")
    if len(active) == 1:  # nothing to add up: stay in uint8
        for k, part in enumerate(_contributions(by_channel[active[0].index0], active[0], grey, dtype_range)):
            if part is not None:
                out[..., k] = part
    elif active:
        acc = np.zeros((3, *shape), dtype=np.uint16)  # 16 bits: no overflow below 257 channels
        for ch in active:
            for k, part in enumerate(_contributions(by_channel[ch.index0], ch, grey, dtype_range)):
                if part is not None:
                    acc[k] += part
        np.minimum(acc, 255, out=acc)
        for k in range(3):
            out[..., k] = acc[k]
    return out


# -- projections --------------------------------------------------------------------

def project(stack: np.ndarray, kind: str, start: int | None = None, end: int | None = None) -> np.ndarray:
    """Z-projection of (z, y, x) or (c, z, y, x) over the inclusive range start..end.

    intmax / intmean / intsum like OMERO: the result keeps the input dtype; intmean
    truncates like OMERO's cast, intsum clips to the dtype's range.
    """
    stack = np.asarray(stack)
    if stack.ndim not in (3, 4):
        raise ValueError(f"expected (z, y, x) or (c, z, y, x), got shape {stack.shape}")
    size_z = stack.shape[-3]
    start = 0 if start is None else start
    end = size_z - 1 if end is None else end
    if not 0 <= start <= end < size_z:
        raise ValueError(f"projection range {start}:{end} is outside 0:{size_z - 1}")
    sub = stack[..., start:end + 1, :, :]
    dtype = stack.dtype
    if kind == "intmax":
        return sub.max(axis=-3)
    if kind == "intmean":
        return sub.mean(axis=-3, dtype=np.float64).astype(dtype)
    if kind == "intsum":
        if dtype.kind in "uib" and dtype.itemsize <= 4:
            total = sub.sum(axis=-3, dtype=np.int64)
            info = np.iinfo(dtype) if dtype.kind != "b" else np.iinfo(np.uint8)
        else:
            total = sub.sum(axis=-3, dtype=np.float64)
            bounds = np.iinfo(dtype) if dtype.kind in "ui" else np.finfo(dtype)
            return np.clip(total, bounds.min, bounds.max).astype(dtype)
        return np.clip(total, info.min, info.max).astype(dtype)
    raise ValueError(f"unknown projection {kind!r}")


def auto_window(array: np.ndarray, percentiles: tuple[float, float] = (0.1, 99.9)) -> tuple[float, float]:
    """A starting window: min/max for integer data, percentiles (ignoring NaN) for floats."""
    array = np.asarray(array)
    if array.size == 0:
        return 0.0, 1.0
    if array.dtype.kind in "uib":
        return float(array.min()), float(array.max())
    finite = array[np.isfinite(array)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(finite, percentiles)
    return float(lo), float(hi)


# -- split channel view -------------------------------------------------------------

def _grid(n: int) -> tuple[int, int]:
    """omero-py's splitChannelDims: y = round(sqrt(n)) rows, x columns enough for n."""
    x = np.sqrt(n)
    y = int(round(x))
    return (y + 1 if x > y else y), y


def split_channel_layout(size_c: int, size_x: int, size_y: int, greyscale: bool, border: int = 2) -> dict:
    """Canvas size and grid of omero-web's render_split_channel (omero-py splitChannelDims).

    The colour layout has room for one extra (merged) panel; the greyscale layout, as
    in OMERO, is sized for the channel panels only.
    """
    gridx, gridy = _grid(size_c if greyscale else size_c + 1)
    return {
        "width": size_x * gridx + border * (gridx + 1),
        "height": size_y * gridy + border * (gridy + 1),
        "border": border, "gridx": gridx, "gridy": gridy,
    }


def render_split_channel(
    planes: np.ndarray, settings: RenderSettings, dtype_range: tuple[float, float] | None = None,
    channels: Sequence[int] | None = None, border: int = 2,
) -> np.ndarray:
    """One panel per channel (inactive ones left blank) then the merged colour panel.

    Panels follow omero-py's renderSplitChannelImage: white canvas, row-major grid,
    channel panels in the current model, merged panel in colour; a panel that falls
    outside the canvas (greyscale layout, full grid) is dropped, as PIL's paste does.
    Channel labels are not drawn. `planes` must hold every active channel (also with
    the greyscale model, unlike `render_rgb`).
    """
    by_channel = _planes_by_channel(planes, channels)
    size_y, size_x = np.asarray(planes).shape[1:]
    dims = split_channel_layout(len(settings.channels), size_x, size_y, settings.model == "greyscale", border)
    canvas = np.full((dims["height"], dims["width"], 3), 255, dtype=np.uint8)
    px = py = border
    column = 0

    def paste(img: np.ndarray) -> None:
        if py + size_y <= dims["height"] and px + size_x <= dims["width"]:
            canvas[py:py + size_y, px:px + size_x] = img

    for ch in settings.channels:
        if ch.active:
            alone = tuple(replace(c, active=c.index0 == ch.index0) for c in settings.channels)
            paste(render_rgb(planes, replace(settings, channels=alone), dtype_range, list(by_channel)))
        column += 1
        if column < dims["gridx"]:
            px += size_x + border
        else:
            column, px, py = 0, border, py + size_y + border
    paste(render_rgb(planes, replace(settings, model="color"), dtype_range, list(by_channel)))
    return canvas
