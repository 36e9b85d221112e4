"""Rendering settings and the OMERO.web query grammar that changes them.

`parse_render_query` merges a query (`c=`, `m=`, `p=`, `q=`, `maps=`, `ia=`, `format=`)
over an image's default channel settings the way omero-web's `_get_prepared_image`
does, with one difference on purpose: where omero-web silently ignores malformed
input (a bad colour, an unparsable window, an unknown projection), we raise
`RenderParamError` so the API can answer 400 with a clear message.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from stratascope.render.errors import RenderParamError
from stratascope.render.luts import canonical_lut_name

FAMILIES = ("linear", "polynomial", "exponential", "logarithmic")
PROJECTIONS = ("normal", "intmax", "intmean", "intsum")
FORMATS = ("jpeg", "png", "tif")
DEFAULT_QUALITY = 0.9  # omero-web's default for render_image
MAX_COEFFICIENT = 100.0

_HEX = re.compile(r"[0-9a-fA-F]+")
_FORMAT_ALIASES = {"jpeg": "jpeg", "jpg": "jpeg", "png": "png", "tif": "tif", "tiff": "tif"}


@dataclass(frozen=True)
class ChannelSetting:
    index0: int
    active: bool
    start: float
    end: float
    color: str = "FFFFFF"  # "RRGGBB", or a LUT name ending in ".lut"
    inverted: bool = False
    family: str = "linear"
    coefficient: float = 1.0
    alpha: int = 255  # from an RRGGBBAA colour; scales the channel's contribution like OMERO

    @property
    def lut(self) -> str | None:
        return self.color if self.color.endswith(".lut") else None


@dataclass(frozen=True)
class RenderSettings:
    channels: tuple[ChannelSetting, ...]
    model: str = "color"  # "color" | "greyscale"
    projection: str = "normal"
    proj_start: int | None = None  # 0-based, inclusive
    proj_end: int | None = None
    quality: float = DEFAULT_QUALITY
    invert_axis: bool = False
    format: str = "jpeg"

    @property
    def active_channels(self) -> list[ChannelSetting]:
        return [ch for ch in self.channels if ch.active]

    def channels_to_read(self) -> list[int]:
        """0-based indices of the channels whose pixels the render needs (nothing else)."""
        active = [ch.index0 for ch in self.active_channels]
        return active[:1] if self.model == "greyscale" else active

    def canonical(self) -> str:
        """A short, stable string of everything that changes the rendered bytes.

        Equal settings give equal strings, so it is usable in cache keys and ETags.
        Inactive channels are left out: they do not change the output.
        """
        parts = [f"m={self.model[0]}", f"f={self.format}"]
        if self.format == "jpeg":
            parts.append(f"q={self.quality:.3g}")
        if self.projection != "normal":
            rng = "" if self.proj_start is None else f"|{self.proj_start}:{self.proj_end}"
            parts.append(f"p={self.projection}{rng}")
        if self.invert_axis:
            parts.append("ia=1")
        chans = []
        for ch in self.active_channels:
            entry = f"{ch.index0 + 1}|{ch.start!r}:{ch.end!r}${ch.color}"
            if ch.alpha != 255 and not ch.lut:
                entry += f"{ch.alpha:02X}"
            if ch.inverted:
                entry += "~i"
            if ch.family != "linear":
                entry += f"~{ch.family[:3]}{ch.coefficient!r}"
            chans.append(entry)
        parts.append("c=" + ",".join(chans))
        return ";".join(parts)


# -- defaults -----------------------------------------------------------------------

def default_color(index0: int, size_c: int, emission_wave: float | None = None) -> str:
    """OMERO-like default colour: by emission wavelength if known, else by position."""
    if emission_wave is not None and emission_wave > 0:
        if emission_wave < 500:
            return "0000FF"
        if emission_wave < 560:
            return "00FF00"
        return "FF0000"
    if size_c == 1:
        return "FFFFFF"
    return ("FF0000", "00FF00", "0000FF")[index0 % 3]


def channel_defaults(specs: Sequence, dtype_range: tuple[float, float]) -> list[ChannelSetting]:
    """Default settings from `formats.model.ChannelSpec`-like objects (duck-typed).

    Missing windows fall back to the data range if known, then to the dtype range;
    colours or coefficients that metadata got wrong fall back to our defaults.
    """
    out = []
    for i, spec in enumerate(specs):
        start = _finite_or(spec.window_start, _finite_or(spec.window_min, dtype_range[0]))
        end = _finite_or(spec.window_end, _finite_or(spec.window_max, dtype_range[1]))
        if end < start:
            start, end = end, start
        try:
            color, alpha = parse_color(spec.color) if isinstance(spec.color, str) and spec.color else (None, 255)
        except RenderParamError:
            color, alpha = None, 255
        if color is None:
            color = default_color(i, len(specs), getattr(spec, "emission_wave", None))
        coefficient = _finite_or(spec.coefficient, 1.0)
        out.append(ChannelSetting(
            index0=i, active=bool(spec.active), start=start, end=end, color=color, alpha=alpha,
            inverted=bool(spec.inverted), family=spec.family if spec.family in FAMILIES else "linear",
            coefficient=coefficient if 0 < coefficient <= MAX_COEFFICIENT else 1.0,
        ))
    return out


def _finite_or(value, fallback: float) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return float(fallback)
    return value if math.isfinite(value) else float(fallback)


# -- parsing ------------------------------------------------------------------------

def parse_color(text: str) -> tuple[str, int]:
    """`RGB`, `RGBA`, `RRGGBB`, `RRGGBBAA` (hex) -> ("RRGGBB", alpha), or a LUT -> (name, 255)."""
    text = text.strip()
    if text.lower().endswith(".lut"):
        name = canonical_lut_name(text)
        if name is None:
            raise RenderParamError(f"unknown lookup table {text!r}")
        return name, 255
    if len(text) not in (3, 4, 6, 8) or not _HEX.fullmatch(text):
        raise RenderParamError(f"bad colour {text!r}: expected hex RGB, RGBA, RRGGBB, RRGGBBAA or NAME.lut")
    if len(text) in (3, 4):
        text = "".join(ch * 2 for ch in text)
    alpha = int(text[6:8], 16) if len(text) == 8 else 255
    return text[:6].upper(), alpha


def _parse_float(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise RenderParamError(f"{what}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise RenderParamError(f"{what}: {text!r} is not a finite number")
    return value


def _parse_channel_entry(entry: str, size_c: int) -> tuple[int, bool, tuple[float, float] | None, str | None]:
    """`[-]IDX[|START:END][$COLOR]` -> (index0, active, window, colour)."""
    head, _, window_part = entry.partition("|")
    color = None
    if "$" in head:  # "1$FF0000": colour without a window
        head, color = head.split("$", 1)
    if window_part and "$" in window_part:
        window_part, color = window_part.split("$", 1)
    head = head.strip()
    try:
        number = int(head)
    except ValueError:
        raise RenderParamError(f"c: {entry!r} does not start with a channel number") from None
    active = not head.startswith("-")
    index0 = abs(number) - 1
    if not 0 <= index0 < size_c:
        raise RenderParamError(
            f"c: channel {abs(number)} does not exist (image has {size_c} channel(s), numbered from 1)")
    window = None
    if window_part.strip():
        bounds = window_part.split(":")
        if len(bounds) != 2:
            raise RenderParamError(f"c: window {window_part!r} of channel {index0 + 1} is not START:END")
        start = _parse_float(bounds[0], f"c: window start of channel {index0 + 1}")
        end = _parse_float(bounds[1], f"c: window end of channel {index0 + 1}")
        if start > end:
            raise RenderParamError(f"c: window {start:g}:{end:g} of channel {index0 + 1} has start > end")
        window = (start, end)
    return index0, active, window, color


def _parse_maps(text: str, n_entries: int) -> list:
    try:
        maps = json.loads(text)
    except (ValueError, RecursionError):
        raise RenderParamError("maps: not valid JSON") from None
    if not isinstance(maps, list):
        raise RenderParamError("maps: expected a JSON list with one entry per channel in c")
    if len(maps) > n_entries:
        raise RenderParamError(f"maps: {len(maps)} entries but only {n_entries} channel(s) are listed")
    return maps


def _enabled(value, where: str) -> bool:
    if value in (True, "true"):
        return True
    if value in (False, "false", None):
        return False
    raise RenderParamError(f"maps: {where}.enabled must be true or false")


def _apply_map(ch: dict, entry, pos: int) -> None:
    """Apply one `maps` entry to a channel's fields (a dict, edited in place)."""
    if entry is None:
        return
    if not isinstance(entry, dict):
        raise RenderParamError(f"maps[{pos}]: expected an object or null")
    # omero-web: any map entry sets the inversion; 'inverted' wins over legacy 'reverse'
    codomain = entry.get("inverted", entry.get("reverse"))
    if codomain is not None and not isinstance(codomain, dict):
        raise RenderParamError(f"maps[{pos}]: 'inverted' must be an object like {{\"enabled\": true}}")
    ch["inverted"] = _enabled(codomain.get("enabled"), f"[{pos}].inverted") if codomain else False
    quant = entry.get("quantization")
    if quant is not None:
        if not isinstance(quant, dict):
            raise RenderParamError(f"maps[{pos}]: 'quantization' must be an object")
        family = quant.get("family", ch["family"])
        if family not in FAMILIES:
            raise RenderParamError(
                f"maps[{pos}]: quantization family {family!r} is not one of {', '.join(FAMILIES)}")
        coefficient = quant.get("coefficient", 1.0)
        if isinstance(coefficient, str):
            coefficient = _parse_float(coefficient, f"maps[{pos}]: coefficient")
        is_number = isinstance(coefficient, (int, float)) and not isinstance(coefficient, bool)
        if is_number:
            coefficient = float(coefficient) if abs(coefficient) < 1e300 else math.inf  # huge JSON ints
        if not is_number or not math.isfinite(coefficient) or not 0 < coefficient <= MAX_COEFFICIENT:
            raise RenderParamError(f"maps[{pos}]: coefficient must be a number in (0, {MAX_COEFFICIENT:g}]")
        ch.update(family=family, coefficient=float(coefficient))


def _parse_projection(text: str) -> tuple[str, int | None, int | None]:
    kind, sep, rng = text.partition("|")
    kind = kind.strip()
    if kind not in PROJECTIONS:
        raise RenderParamError(f"p: unknown projection {kind!r}; use one of {', '.join(PROJECTIONS)}")
    if not sep:
        return kind, None, None
    bounds = rng.split(":")
    if len(bounds) != 2 or not all(b.strip().isdigit() and b.strip().isascii() for b in bounds):
        raise RenderParamError(f"p: projection range {rng!r} is not START:END (0-based z indices)")
    start, end = (int(b) for b in bounds)
    if start > end:
        raise RenderParamError(f"p: projection range {start}:{end} has start > end")
    return kind, start, end


def parse_render_query(query: Mapping[str, str], defaults: Sequence[ChannelSetting]) -> RenderSettings:
    """Merge an OMERO.web rendering query over the image's default channel settings."""
    # plain dicts while merging: dataclasses.replace per change is the slow part of a parse
    fields = [{**vars(ch), "index0": i} for i, ch in enumerate(defaults)]
    size_c = len(fields)
    c_text = query.get("c")
    if c_text is not None:
        entries = [_parse_channel_entry(e, size_c) for e in c_text.split(",") if e.strip()]
        listed = [e[0] for e in entries]
        if len(set(listed)) != len(listed):
            raise RenderParamError("c: a channel is listed more than once")
        maps = _parse_maps(query["maps"], len(entries)) if "maps" in query else []
        for ch in fields:  # channels not listed in c become inactive, as in omero-web
            ch["active"] = False
        for pos, (index0, active, window, color) in enumerate(entries):
            ch = fields[index0]
            ch["active"] = active
            if window is not None:
                ch["start"], ch["end"] = window
            if color is not None:
                ch["color"], ch["alpha"] = parse_color(color)
            if pos < len(maps):
                _apply_map(ch, maps[pos], pos)
    elif "maps" in query:  # extension: without c, maps apply to the channels in order
        for i, entry in enumerate(_parse_maps(query["maps"], size_c)):
            _apply_map(fields[i], entry, i)
    channels = tuple(ChannelSetting(**ch) for ch in fields)

    model = {"c": "color", "g": "greyscale", None: "color"}.get(query.get("m"))
    if model is None:
        raise RenderParamError(f"m: rendering model {query.get('m')!r} is not 'c' (colour) or 'g' (greyscale)")
    projection, proj_start, proj_end = _parse_projection(query["p"]) if "p" in query else ("normal", None, None)
    quality = DEFAULT_QUALITY
    if "q" in query:
        quality = _parse_float(query["q"], "q")
        if not 0.0 <= quality <= 1.0:
            raise RenderParamError(f"q: JPEG quality {quality:g} is outside 0..1")
    ia = query.get("ia", "0").strip().lower()
    if ia not in ("0", "1", "true", "false"):
        raise RenderParamError(f"ia: expected 0 or 1, got {query['ia']!r}")
    fmt = _FORMAT_ALIASES.get(query.get("format", "jpeg").strip().lower())
    if fmt is None:
        raise RenderParamError(f"format: {query['format']!r} is not one of {', '.join(FORMATS)}")
    return RenderSettings(
        channels=channels, model=model, projection=projection, proj_start=proj_start,
        proj_end=proj_end, quality=quality, invert_axis=ia in ("1", "true"), format=fmt,
    )


def projection_z_range(settings: RenderSettings, size_z: int) -> tuple[int, int]:
    """The inclusive z range a projection covers, clamped to the image like OMERO does."""
    start = 0 if settings.proj_start is None else settings.proj_start
    end = size_z - 1 if settings.proj_end is None else min(settings.proj_end, size_z - 1)
    if start > end:
        raise RenderParamError(f"p: projection range starts at z={start} but the image has only {size_z} plane(s)")
    return start, end
