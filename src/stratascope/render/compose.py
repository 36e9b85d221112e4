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


def _colour_table(ch: ChannelSetting, mode: str) -> np.ndarray:
    """(256, 3): the RGB contribution of each quantized value.

    mode "grey": uint8 grey ramp; "u8": the colour in uint8 (single plain channel);
    "f32": float32 for additive blending.
    """
    if mode == "grey":
        return np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    if ch.lut:
        table = get_lut(ch.lut)
        return table if mode == "u8" else table.astype(np.float32)
    rgb = np.array([int(ch.color[i:i + 2], 16) for i in (0, 2, 4)], dtype=np.float64)
    table = np.arange(256, dtype=np.float64)[:, None] * (rgb * (ch.alpha / 255.0) / 255.0)
    return np.rint(table).astype(np.uint8) if mode == "u8" else table.astype(np.float32)


def _table_domain(dtype: np.dtype, value_range) -> tuple[int, int] | None:
    if dtype.kind not in "uib":
        return None
    lo, hi = range_of_dtype(dtype) if value_range is None else value_range
    lo, hi = int(np.floor(lo)), int(np.ceil(hi))
    return (lo, hi) if 0 < hi - lo + 1 <= _TABLE_LIMIT else None


@lru_cache(maxsize=32)
def _value_table(ch: ChannelSetting, lo: int, hi: int, mode: str) -> np.ndarray:
    """Every raw value lo..hi mapped straight to its RGB contribution (cached per setting)."""
    table = _colour_table(ch, mode)[quantize(np.arange(lo, hi + 1), ch)]
    table.setflags(write=False)
    return table


def _lookup(plane: np.ndarray, table: np.ndarray, lo: int) -> np.ndarray:
    """table[plane - lo] for integer planes, clipping values outside the table."""
    if lo == 0 and plane.dtype in (np.uint8, np.uint16) and len(table) == np.iinfo(plane.dtype).max + 1:
        return table[plane]
    idx = np.clip(plane.astype(np.int64) - lo, 0, len(table) - 1)
    return table[idx]


def _channel_values(plane: np.ndarray, ch: ChannelSetting, mode: str, value_range) -> np.ndarray:
    """One plane mapped to its (y, x, 3) contribution for this channel."""
    domain = _table_domain(plane.dtype, value_range)
    if domain is not None:
        return _lookup(plane, _value_table(ch, *domain, mode), domain[0])
    return _colour_table(ch, mode)[quantize(plane, ch)]


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
    12-bit data stored in uint16.
    """
    by_channel = _planes_by_channel(planes, channels)
    shape = np.asarray(planes).shape[1:]
    active = settings.active_channels
    for ch in active[:1] if settings.model == "greyscale" else active:
        if ch.index0 not in by_channel:
            raise ValueError(f"channel {ch.index0} is active but its plane was not given")
    if not active:
        return np.zeros((*shape, 3), dtype=np.uint8)
    if settings.model == "greyscale":
        return _channel_values(by_channel[active[0].index0], active[0], "grey", dtype_range)
    if len(active) == 1:  # nothing to add up: stay in uint8 all the way
        return _channel_values(by_channel[active[0].index0], active[0], "u8", dtype_range)
    acc = np.zeros((*shape, 3), dtype=np.float32)
    for ch in active:
        acc += _channel_values(by_channel[ch.index0], ch, "f32", dtype_range)
    np.clip(acc, 0.0, 255.0, out=acc)
    return np.rint(acc).astype(np.uint8)


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
            info = np.iinfo(dtype) if dtype.kind in "ui" else np.finfo(dtype)
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
    Channel labels are not drawn.
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
