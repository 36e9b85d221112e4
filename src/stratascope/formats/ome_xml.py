"""OME-XML (from an OME-TIFF ImageDescription) -> per-Image metadata, via ome-types.

tifffile finds the pixels (which IFDs hold which planes); this module supplies what a
viewer needs besides: names, channel names / colours / wavelengths, physical sizes
with units, description and acquisition date.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from .model import ChannelSpec

log = logging.getLogger(__name__)

RGB_COLORS = ("FF0000", "00FF00", "0000FF", "FFFFFF")
RGB_NAMES = ("red", "green", "blue", "alpha")


@dataclass
class OmeImage:
    name: str
    sizes: dict[str, int]  # "t", "c", "z", "y", "x" as declared in Pixels
    dimension_order: str
    channels: list[ChannelSpec]
    samples_per_pixel: int = 1
    physical_sizes: dict[str, tuple[float, str]] = field(default_factory=dict)
    description: str | None = None
    acquisition_date: datetime | None = None
    file_names: set[str] = field(default_factory=set)  # TiffData UUID FileName values


def color_hex(value: int) -> str:
    """OME Color (signed int32 RGBA) -> "RRGGBB"."""
    return f"{(int(value) & 0xFFFFFFFF) >> 8:06X}"


def parse_ome_xml(xml: str) -> list[OmeImage]:
    """Every Image element in document order; [] if the XML is not usable (logged)."""
    import ome_types

    try:
        ome = ome_types.from_xml(xml, validate=False)
    except Exception as exc:  # ome-types raises many types on odd XML
        log.warning("ignoring OME-XML that ome-types cannot read: %s", str(exc).splitlines()[0][:200])
        return []
    return [_image(image) for image in ome.images]


def _image(image) -> OmeImage:
    pixels = image.pixels
    sizes = {"t": pixels.size_t, "c": pixels.size_c, "z": pixels.size_z, "y": pixels.size_y, "x": pixels.size_x}
    channels = []
    spp = 1
    for i, channel in enumerate(pixels.channels):
        spp = channel.samples_per_pixel or 1 if i == 0 else spp
        color = color_hex(channel.color.as_int32()) if "color" in channel.model_fields_set else None
        channels.append(ChannelSpec(
            label=channel.name or f"Channel {i + 1}",
            color=color,
            emission_wave=_float(channel.emission_wavelength),
        ))
    physical: dict[str, tuple[float, str]] = {}
    for axis in "xyz":
        value = getattr(pixels, f"physical_size_{axis}")
        unit = getattr(pixels, f"physical_size_{axis}_unit")
        if value is not None:
            physical[axis] = (float(value), _unit(unit))
    if pixels.time_increment is not None:
        physical["t"] = (float(pixels.time_increment), _unit(pixels.time_increment_unit))
    file_names = {
        block.uuid.file_name for block in pixels.tiff_data_blocks
        if block.uuid is not None and block.uuid.file_name
    }
    return OmeImage(
        name=image.name or image.id,
        sizes=sizes,
        dimension_order=str(getattr(pixels.dimension_order, "value", pixels.dimension_order)),
        channels=channels,
        samples_per_pixel=spp,
        physical_sizes=physical,
        description=image.description or None,
        acquisition_date=image.acquisition_date,
        file_names=file_names,
    )


def expand_channels(declared: list[ChannelSpec], planes_c: int, samples: int) -> list[ChannelSpec] | None:
    """Map OME Channels onto the logical channels (planes_c x samples); None if they do not fit."""
    total = planes_c * samples
    if len(declared) == total:
        return declared
    if samples > 1 and len(declared) == planes_c:
        expanded = []
        for channel in declared:
            for s in range(samples):
                expanded.append(ChannelSpec(
                    label=f"{channel.label} ({RGB_NAMES[s] if s < 4 else s})",
                    color=RGB_COLORS[s] if s < 4 else None,
                    emission_wave=channel.emission_wave,
                ))
        return expanded
    return None


def _unit(unit) -> str:
    return str(getattr(unit, "value", unit)) if unit is not None else "µm"


def _float(value) -> float | None:
    return None if value is None else float(value)
