"""IIIF Image API 3.0 request parameters: pure parsing and geometry, no I/O.

`parse_request` turns the four path segments (region, size, rotation, quality.format)
into a `IiifRequest`; `resolve_region` / `resolve_size` turn it into pixel boxes for
one image. Every malformed or impossible request raises `IiifParamError`
(iiif.py answers it with 400), never anything else.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

QUALITIES = ("default", "color", "gray", "bitonal")
FORMATS = ("jpg", "png", "tif", "webp")
#: libjpeg refuses images above 65500 pixels on a side; we declare it as maxWidth/maxHeight.
MAX_SIDE = 65500

# Integers are bounded in length so absurd inputs fail fast instead of making huge numbers.
_INT = r"\d{1,10}"
_FLOAT = r"(?:\d{1,10}(?:\.\d{0,10})?|\.\d{1,10})"
_PIXELS = re.compile(rf"({_INT}),({_INT}),({_INT}),({_INT})")
_PERCENT = re.compile(rf"pct:({_FLOAT}),({_FLOAT}),({_FLOAT}),({_FLOAT})")
_SIZE_PCT = re.compile(rf"pct:({_FLOAT})")
_SIZE_WH = re.compile(rf"(!)?({_INT})?,({_INT})?")
_ROTATION = re.compile(rf"(!)?({_FLOAT})")


class IiifParamError(ValueError):
    """A malformed or impossible IIIF image request (HTTP 400)."""


@dataclass(frozen=True)
class Region:
    kind: str  # "full" | "square" | "pixels" | "percent"
    values: tuple[float, float, float, float] = (0, 0, 0, 0)


@dataclass(frozen=True)
class Size:
    kind: str  # "max" | "pct" | "w" | "h" | "wh" | "confined"
    upscale: bool = False
    width: int | None = None
    height: int | None = None
    percent: float | None = None


@dataclass(frozen=True)
class Rotation:
    degrees: int  # 0, 90, 180 or 270 (clockwise)
    mirror: bool = False


@dataclass(frozen=True)
class IiifRequest:
    region: Region
    size: Size
    rotation: Rotation
    quality: str
    format: str


@dataclass(frozen=True)
class Limits:
    max_width: int
    max_height: int
    max_area: int


def parse_region(text: str) -> Region:
    if text == "full":
        return Region("full")
    if text == "square":
        return Region("square")
    if match := _PIXELS.fullmatch(text):
        x, y, w, h = (int(v) for v in match.groups())
        if w == 0 or h == 0:
            raise IiifParamError(f"region {text!r}: width and height must be greater than 0")
        return Region("pixels", (x, y, w, h))
    if match := _PERCENT.fullmatch(text):
        x, y, w, h = (float(v) for v in match.groups())
        if w <= 0 or h <= 0:
            raise IiifParamError(f"region {text!r}: width and height must be greater than 0")
        if x >= 100 or y >= 100:
            raise IiifParamError(f"region {text!r} starts outside the image")
        return Region("percent", (x, y, w, h))
    raise IiifParamError(f"region {text!r} is not full, square, x,y,w,h or pct:x,y,w,h")


def parse_size(text: str) -> Size:
    upscale = text.startswith("^")
    body = text[1:] if upscale else text
    if body == "max":
        return Size("max", upscale)
    if match := _SIZE_PCT.fullmatch(body):
        percent = float(match.group(1))
        if percent <= 0:
            raise IiifParamError(f"size {text!r}: the percentage must be greater than 0")
        if percent > 100 and not upscale:
            raise IiifParamError(f"size {text!r}: above 100% needs the ^ prefix (^pct:n)")
        return Size("pct", upscale, percent=percent)
    if match := _SIZE_WH.fullmatch(body):
        confined, w, h = match.group(1) is not None, match.group(2), match.group(3)
        width, height = (int(w) if w else None), (int(h) if h else None)
        if width == 0 or height == 0:
            raise IiifParamError(f"size {text!r}: width and height must be greater than 0")
        if confined:
            if width is None or height is None:
                raise IiifParamError(f"size {text!r}: !w,h needs both a width and a height")
            return Size("confined", upscale, width, height)
        if width is not None and height is not None:
            return Size("wh", upscale, width, height)
        if width is not None:
            return Size("w", upscale, width=width)
        if height is not None:
            return Size("h", upscale, height=height)
    raise IiifParamError(f"size {text!r} is not max, w,, ,h, w,h, !w,h or pct:n (each optionally with ^)")


def parse_rotation(text: str) -> Rotation:
    match = _ROTATION.fullmatch(text)
    if not match:
        raise IiifParamError(f"rotation {text!r} is not a number of degrees, optionally prefixed by !")
    degrees = float(match.group(2))
    if degrees > 360:
        raise IiifParamError(f"rotation {text!r} is outside 0..360")
    degrees %= 360
    if degrees not in (0, 90, 180, 270):
        raise IiifParamError(f"rotation {text!r}: only multiples of 90 degrees are supported")
    return Rotation(int(degrees), match.group(1) is not None)


def parse_quality_format(text: str) -> tuple[str, str]:
    quality, dot, fmt = text.rpartition(".")
    if not dot:
        raise IiifParamError(f"{text!r} is not quality.format, e.g. default.jpg")
    if quality not in QUALITIES:
        raise IiifParamError(f"quality {quality!r} is not one of {', '.join(QUALITIES)}")
    if fmt not in FORMATS:
        raise IiifParamError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    return quality, fmt


def parse_request(region: str, size: str, rotation: str, quality_format: str) -> IiifRequest:
    quality, fmt = parse_quality_format(quality_format)
    return IiifRequest(parse_region(region), parse_size(size), parse_rotation(rotation), quality, fmt)


# -- geometry ------------------------------------------------------------------------

def resolve_region(region: Region, width: int, height: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) in full-resolution pixels, cropped at the image edges."""
    if region.kind == "full":
        return 0, 0, width, height
    if region.kind == "square":  # centred on the longer side
        side = min(width, height)
        x0, y0 = (width - side) // 2, (height - side) // 2
        return x0, y0, x0 + side, y0 + side
    x, y, w, h = region.values
    if region.kind == "percent":
        # edges rounded independently so that adjacent percent regions tile without gaps
        x0, y0 = round(x * width / 100), round(y * height / 100)
        x1, y1 = round((x + w) * width / 100), round((y + h) * height / 100)
    else:
        x0, y0, x1, y1 = int(x), int(y), int(x + w), int(y + h)
    x1, y1 = min(x1, width), min(y1, height)
    if x0 >= width or y0 >= height or x1 <= x0 or y1 <= y0:
        raise IiifParamError(f"region is outside the image ({width}x{height}) or empty")
    return x0, y0, x1, y1


def _fit(width: float, height: float, box_w: float, box_h: float) -> float:
    """Scale factor that makes (width, height) fit inside (box_w, box_h)."""
    return min(box_w / width, box_h / height)


def _max_size(rw: int, rh: int, limits: Limits, upscale: bool) -> tuple[int, int]:
    scale = min(_fit(rw, rh, limits.max_width, limits.max_height), math.sqrt(limits.max_area / (rw * rh)))
    if not upscale:
        scale = min(scale, 1.0)
    return max(1, math.floor(rw * scale)), max(1, math.floor(rh * scale))


def resolve_size(size: Size, rw: int, rh: int, limits: Limits) -> tuple[int, int]:
    """Output (width, height) for a region of rw x rh pixels; 400 if impossible or above the limits."""
    if size.kind == "max":
        return _max_size(rw, rh, limits, size.upscale)
    if size.kind == "pct":
        scale = size.percent / 100
        w, h = round(rw * scale), round(rh * scale)
    elif size.kind == "w":
        w, h = size.width, round(rh * size.width / rw)
    elif size.kind == "h":
        w, h = round(rw * size.height / rh), size.height
    elif size.kind == "wh":
        w, h = size.width, size.height
    else:  # confined: the largest size with the region's aspect ratio inside the box
        scale = _fit(rw, rh, size.width, size.height)
        if scale > 1 and not size.upscale:
            # The spec would answer the region size here, but the official validator
            # (size_noup) requires a 400 for !w,h boxes that would need upscaling.
            raise IiifParamError(f"size {size.width}x{size.height} box is larger than the region "
                                 f"({rw}x{rh}); use ^!w,h to upscale")
        w, h = math.floor(rw * scale + 1e-9), math.floor(rh * scale + 1e-9)
    w, h = max(1, w), max(1, h)
    if not size.upscale and (w > rw or h > rh):
        raise IiifParamError(f"size {w}x{h} is larger than the region ({rw}x{rh}); use ^ to upscale")
    if w > limits.max_width or h > limits.max_height or w * h > limits.max_area:
        raise IiifParamError(f"size {w}x{h} is above the limits (maxWidth {limits.max_width}, "
                             f"maxHeight {limits.max_height}, maxArea {limits.max_area})")
    return w, h
