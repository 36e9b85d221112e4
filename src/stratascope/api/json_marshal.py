"""omero-marshal's JSON encoders (2016-06 schema) for catalogue records.

Each function mirrors one encoder in ome/omero-marshal `omero_marshal/encode/encoders/`:
`@type` is the OME schema URL + class, `@id` the catalogue id, and a field is left out
when its value is unknown (omero-marshal's `set_if_not_none`). Units follow
`Encoder.encode_unit`: {"@type": "TBD#LengthI", "Unit": "MICROMETER", "Symbol": "µm", "Value": v}.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from ..catalogue.records import DatasetRecord, ImageRecord, ProjectRecord
from ..render.params import RenderParamError, channel_defaults, parse_color
from ..render.pipeline import dtype_range
from .marshal import pixels_type

#: omero_marshal.OME_SCHEMA_URL for OMERO 5.3+ (the 2016-06 schema).
OME_SCHEMA_URL = "http://www.openmicroscopy.org/Schemas/OME/2016-06"

#: OMERO's UnitsLength enum (name, symbol), keyed by the spellings our sources use:
#: OME-Zarr writes UDUNITS names ("micrometer"), OME-XML writes symbols ("µm").
_LENGTH_UNITS = {
    "MICROMETER": ("µm", ("micrometer", "micron", "µm", "um", "μm")),
    "NANOMETER": ("nm", ("nanometer", "nm")),
    "PICOMETER": ("pm", ("picometer", "pm")),
    "ANGSTROM": ("Å", ("angstrom", "å", "Å")),
    "MILLIMETER": ("mm", ("millimeter", "mm")),
    "CENTIMETER": ("cm", ("centimeter", "cm")),
    "METER": ("m", ("meter", "m")),
    "KILOMETER": ("km", ("kilometer", "km")),
    "INCH": ("in", ("inch", "in")),
    "FOOT": ("ft", ("foot", "ft")),
    "PIXEL": ("pixel", ("pixel",)),
    "REFERENCEFRAME": ("reference frame", ("reference frame", "referenceframe")),
}
#: OMERO's UnitsTime enum, same idea.
_TIME_UNITS = {
    "SECOND": ("s", ("second", "s", "sec")),
    "MILLISECOND": ("ms", ("millisecond", "ms")),
    "MICROSECOND": ("µs", ("microsecond", "µs", "us", "μs")),
    "NANOSECOND": ("ns", ("nanosecond", "ns")),
    "PICOSECOND": ("ps", ("picosecond", "ps")),
    "MINUTE": ("min", ("minute", "min")),
    "HOUR": ("h", ("hour", "h", "hr")),
    "DAY": ("d", ("day", "d")),
}


def _unit_index(table: dict) -> dict[str, tuple[str, str]]:
    return {alias.lower(): (name, symbol) for name, (symbol, aliases) in table.items() for alias in aliases}


_LENGTH_BY_ALIAS = _unit_index(_LENGTH_UNITS)
_TIME_BY_ALIAS = _unit_index(_TIME_UNITS)


def unit_value(kind: str, value: float | None, unit: str | None) -> dict | None:
    """omero-marshal's encode_unit for LengthI / TimeI, or None when the unit has no OMERO name.

    A missing unit counts as micrometre / second, like imgData's pixel_size.
    """
    if value is None:
        return None
    aliases, default = (_LENGTH_BY_ALIAS, "micrometer") if kind == "LengthI" else (_TIME_BY_ALIAS, "second")
    known = aliases.get((unit or default).strip().lower())
    if known is None:
        return None
    name, symbol = known
    return {"@type": f"TBD#{kind}", "Unit": name, "Symbol": symbol, "Value": float(value)}


def rgba_to_int(red: int, green: int, blue: int, alpha: int = 255) -> int:
    """omero-marshal Encoder.rgba_to_int: RGBA packed into a signed 32-bit int."""
    value = (red << 24) + (green << 16) + (blue << 8) + alpha
    return value - 2**32 if value > 2**31 - 1 else value


def epoch_millis(when: datetime | None) -> int | None:
    """OMERO timestamps (RTime) are integer milliseconds since the epoch; naive means UTC."""
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(round(when.timestamp() * 1000))


def _put(target: dict, key: str, value) -> None:
    if value is not None:
        target[key] = value


def encode_project(project: ProjectRecord) -> dict:
    """omero-marshal Project201606Encoder (Datasets not loaded, as in /api/v0/m/projects/)."""
    out = {"@id": project.id, "@type": f"{OME_SCHEMA_URL}#Project"}
    _put(out, "Name", project.name)
    _put(out, "Description", project.description)
    return out


def encode_dataset(dataset: DatasetRecord) -> dict:
    """omero-marshal Dataset201606Encoder (Images not loaded)."""
    out = {"@id": dataset.id, "@type": f"{OME_SCHEMA_URL}#Dataset"}
    _put(out, "Name", dataset.name)
    _put(out, "Description", dataset.description)
    return out


def encode_image(image: ImageRecord, *, channels: bool) -> dict:
    """omero-marshal Image201606Encoder with Pixels loaded; Channels only for a single image
    (omero-web ImageView sets load_channels, ImagesView only load_pixels)."""
    out = {"@id": image.id, "@type": f"{OME_SCHEMA_URL}#Image"}
    _put(out, "AcquisitionDate", epoch_millis(image.acquisition_date))
    _put(out, "Description", image.description)
    _put(out, "Name", image.name)
    out["omero:series"] = image.series
    out["Pixels"] = encode_pixels(image, channels=channels)
    return out


def encode_pixels(image: ImageRecord, *, channels: bool) -> dict:
    """omero-marshal Pixels201606Encoder. An image has exactly one Pixels here, so it shares the
    image's id. Planes are logical (t, c, z, y, x): XYZCT in OME's fastest-first notation."""
    sizes = image.physical_sizes
    out = {"@id": image.id, "@type": f"{OME_SCHEMA_URL}#Pixels"}
    for axis in "XYZ":
        value, unit = sizes.get(axis.lower(), (None, None))
        _put(out, f"PhysicalSize{axis}", unit_value("LengthI", value, unit))
    _put(out, "SignificantBits", _significant_bits(image.dtype))
    out.update({"SizeX": image.size_x, "SizeY": image.size_y, "SizeZ": image.size_z,
                "SizeC": image.size_c, "SizeT": image.size_t})
    value, unit = sizes.get("t", (None, None))
    _put(out, "TimeIncrement", unit_value("TimeI", value, unit))
    out["DimensionOrder"] = {"@type": "TBD#DimensionOrder", "value": "XYZCT"}
    out["Type"] = {"@type": "TBD#PixelsType", "value": pixels_type(image.dtype)}
    if channels and image.channels:
        out["Channels"] = encode_channels(image)
    return out


def _significant_bits(dtype: str) -> int:
    kind = np.dtype(dtype)
    return 1 if kind == np.bool_ else kind.itemsize * 8


def encode_channels(image: ImageRecord) -> list[dict]:
    """omero-marshal Channel201606Encoder. Colours missing at import get the same default as
    the rendering (imgData), so both APIs agree."""
    defaults = channel_defaults(image.channels, dtype_range(image))
    ids = image.channel_ids if len(image.channel_ids) == len(image.channels) else (None,) * len(image.channels)
    out = []
    for channel_id, spec, setting in zip(ids, image.channels, defaults):
        entry: dict = {"@type": f"{OME_SCHEMA_URL}#Channel"}
        _put(entry, "@id", channel_id)
        color = setting.color
        if color.lower().endswith(".lut"):
            entry["omero:lookupTable"] = color
        else:
            try:
                rgb, alpha = parse_color(color)
                entry["Color"] = rgba_to_int(int(rgb[0:2], 16), int(rgb[2:4], 16), int(rgb[4:6], 16), alpha)
            except RenderParamError:
                pass  # an unreadable stored colour is left out, like a null one
        _put(entry, "EmissionWavelength", unit_value("LengthI", spec.emission_wave, "nanometer"))
        _put(entry, "Name", spec.label)
        out.append(entry)
    return out
