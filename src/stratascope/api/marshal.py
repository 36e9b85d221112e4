"""omero-web's `imageMarshal` (webgateway/marshal.py) for catalogue records."""

from __future__ import annotations

import numpy as np

from ..render import pipeline
from ..render.compose import split_channel_layout
from ..render.params import channel_defaults

#: omero-web's getPixelRange: float and double report the int32 range.
_PIXEL_RANGE = {
    "int8": [-128, 127], "uint8": [0, 255], "int16": [-32768, 32767], "uint16": [0, 65535],
    "int32": [-2147483648, 2147483647], "uint32": [0, 4294967295],
    "float": [-2147483648, 2147483647], "double": [-2147483648, 2147483647],
}


def pixels_type(dtype: str) -> str:
    """OMERO's pixel type names."""
    kind = np.dtype(dtype)
    if kind == np.float32:
        return "float"
    if kind == np.float64:
        return "double"
    if kind == np.bool_:
        return "bit"
    return kind.name


def physical_size_um(image, axis: str) -> float | None:
    value = image.physical_sizes.get(axis)
    if not value:
        return None
    size, unit = value
    factor = UNIT_TO_MICRON.get((unit or "micrometer").lower())
    return None if factor is None else size * factor


UNIT_TO_MICRON = {
    "micrometer": 1.0, "µm": 1.0, "um": 1.0, "micron": 1.0, "nanometer": 1e-3, "nm": 1e-3,
    "millimeter": 1e3, "mm": 1e3, "centimeter": 1e4, "cm": 1e4, "meter": 1e6, "m": 1e6,
    "picometer": 1e-6, "pm": 1e-6, "angstrom": 1e-4, "å": 1e-4,
}


def zoom_level_scaling(image) -> dict[str, float]:
    full = image.size_x
    return {str(i): level.shape[4] / full for i, level in enumerate(image.levels)}


def image_marshal(image, placement=None) -> dict:
    """`placement`: the image's catalogue.records.ImagePlacement when it is a field of a plate."""
    pixel_range = _PIXEL_RANGE.get(pixels_type(image.dtype), [0, 255])
    defaults = channel_defaults(image.channels, pipeline.dtype_range(image))
    default_z, default_t = pipeline.default_z_t(image)
    channels = []
    for spec, setting in zip(image.channels, defaults):
        channels.append({
            "emissionWave": spec.emission_wave,
            "label": spec.label,
            "color": setting.color,
            "inverted": setting.inverted,
            "reverseIntensity": setting.inverted,
            "family": setting.family,
            "coefficient": setting.coefficient,
            "window": {
                "min": spec.window_min if spec.window_min is not None else pixel_range[0],
                "max": spec.window_max if spec.window_max is not None else pixel_range[1],
                "start": setting.start,
                "end": setting.end,
            },
            "active": setting.active,
        })
    timestamp = (image.acquisition_date or image.imported_at).timestamp()
    tiled = len(image.levels) > 1 or image.size_x * image.size_y > pipeline.MAX_PLANE_PIXELS
    w, h = pipeline.tile_size(image)
    rv = {
        "id": image.id,
        "meta": {
            "imageName": image.name or "",
            "imageDescription": image.description or "",
            "imageAuthor": "",
            "projectName": image.project_name or "Multiple",
            "projectId": image.project_id,
            "projectDescription": image.project_description or "",
            "datasetName": image.dataset_name or "Multiple",
            "datasetId": image.dataset_id,
            "datasetDescription": image.dataset_description or "",
            "wellSampleId": placement.well_sample_id if placement else "",
            "wellId": placement.well_id if placement else "",
            "imageTimestamp": timestamp,
            "imageId": image.id,
            "pixelsType": pixels_type(image.dtype),
            "imageArchived": True,
        },
        "perms": {"canAnnotate": False, "canEdit": False, "canDelete": False, "canLink": False},
        "interpolate": True,
        "size": {"width": image.size_x, "height": image.size_y, "z": image.size_z, "t": image.size_t,
                 "c": image.size_c},
        "pixel_size": {axis: physical_size_um(image, axis) for axis in "xyz"},
        "pixel_range": pixel_range,
        "channels": channels,
        "split_channel": split_channel_dims(image),
        "rdefs": {"model": "color", "projection": "normal", "defaultZ": default_z, "defaultT": default_t,
                  "invertAxis": False},
        "tiles": tiled,
        "init_zoom": 0,
    }
    if tiled:
        rv["tile_size"] = {"width": w, "height": h}
        rv["levels"] = len(image.levels)
        rv["zoomLevelScaling"] = zoom_level_scaling(image)
    return rv


def split_channel_dims(image) -> dict:
    """omero-py's ImageWrapper.splitChannelDims: canvas and grid of the greyscale and colour split views."""
    return {"g": split_channel_layout(image.size_c, image.size_x, image.size_y, greyscale=True),
            "c": split_channel_layout(image.size_c, image.size_x, image.size_y, greyscale=False)}
