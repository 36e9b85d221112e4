"""Rendering: OMERO.web rendering parameters, LUTs, compositing, projections, encoding.

Pure numpy: no HTTP, no I/O. Callers read the planes (`RenderSettings.channels_to_read`)
and hand them in.
"""

from stratascope.render.compose import (
    auto_window,
    project,
    range_of_dtype,
    render_rgb,
    render_split_channel,
    split_channel_layout,
)
from stratascope.render.encode import MEDIA_TYPES, encode, encode_raw_png, encode_tiff
from stratascope.render.histogram import histogram
from stratascope.render.luts import available_luts, get_lut
from stratascope.render.params import (
    ChannelSetting,
    RenderParamError,
    RenderSettings,
    channel_defaults,
    parse_render_query,
    projection_z_range,
)

__all__ = [
    "ChannelSetting", "MEDIA_TYPES", "RenderParamError", "RenderSettings", "auto_window", "available_luts",
    "channel_defaults", "encode", "encode_raw_png", "encode_tiff", "get_lut", "histogram", "parse_render_query",
    "project", "projection_z_range", "range_of_dtype", "render_rgb", "render_split_channel", "split_channel_layout",
]
