"""Compositing against a straightforward per-channel float computation, plus hand-worked pixels."""

import math

import numpy as np
import pytest

from stratascope.render.compose import (
    auto_window,
    project,
    quantize,
    render_rgb,
    render_split_channel,
    split_channel_layout,
)
from stratascope.render.luts import get_lut
from stratascope.render.params import ChannelSetting, RenderSettings, parse_render_query


def reference_render(planes, settings: RenderSettings) -> np.ndarray:
    """The documented model written out plainly: float64 math per channel, ints added, clipped."""
    active = [ch for ch in settings.channels if ch.active]
    if settings.model == "greyscale":
        active = active[:1]
    total = np.zeros(planes.shape[1:] + (3,), dtype=np.int64)
    for ch in active:
        v = planes[ch.index0].astype(np.float64)
        if ch.end > ch.start:
            t = np.clip((v - ch.start) / (ch.end - ch.start), 0, 1)
        else:
            t = (v >= ch.start).astype(float)
        t = np.where(np.isnan(t), 0.0, t)
        if ch.family == "polynomial":
            t = t ** ch.coefficient
        elif ch.family == "exponential":
            t = (np.exp(t ** ch.coefficient) - 1) / (math.e - 1)
        elif ch.family == "logarithmic":
            t = np.log(1 + (math.e - 1) * t ** ch.coefficient)
        q = np.rint(t * 255).astype(np.int64)
        if ch.inverted:
            q = 255 - q
        if settings.model == "greyscale":
            total += q[..., None]
        elif ch.lut:
            total += get_lut(ch.lut)[q].astype(np.int64)
        else:
            rgb = np.array([int(ch.color[i:i + 2], 16) for i in (0, 2, 4)], dtype=np.float64)
            total += np.rint(q[..., None] * rgb * ch.alpha / 255.0 / 255.0).astype(np.int64)
    return np.clip(total, 0, 255).astype(np.uint8)


def settings_for(defaults, **query):
    return parse_render_query(query, defaults)


RNG = np.random.default_rng(1234)


def test_single_pixel_worked_by_hand():
    defaults = [ChannelSetting(0, True, 0.0, 100.0, "FF0000"), ChannelSetting(1, True, 0.0, 100.0, "00FF00")]
    planes = np.array([[[50, 25, 200, 0]], [[100, 25, 0, 50]]], dtype=np.uint16)
    out = render_rgb(planes, settings_for(defaults))
    # 50/100*255 = 127.5 -> 128; 25 -> 63.75 -> 64; >= end -> 255; 0 -> 0
    assert out[0].tolist() == [[128, 255, 0], [64, 64, 0], [255, 0, 0], [0, 128, 0]]


def test_two_channel_additive_blending_clips():
    defaults = [ChannelSetting(0, True, 0.0, 255.0, "FF0000"), ChannelSetting(1, True, 0.0, 255.0, "FFFF00")]
    planes = np.array([[[200, 100]], [[200, 10]]], dtype=np.uint8)
    out = render_rgb(planes, settings_for(defaults))
    assert out[0].tolist() == [[255, 200, 0], [110, 10, 0]]


def test_alpha_scales_the_colour():
    defaults = [ChannelSetting(0, True, 0.0, 255.0, "FFFFFF")]
    out = render_rgb(np.full((1, 1, 1), 255, np.uint8), settings_for(defaults, c="1$FF800080"))
    assert out[0, 0].tolist() == [128, 64, 0]  # 255*128/255 = 128; 128*128/255 = 64.25


def test_inversion_and_greyscale_model():
    defaults = [ChannelSetting(0, True, 0.0, 10.0, "FF0000"), ChannelSetting(1, True, 0.0, 10.0, "00FF00")]
    planes = np.array([[[0, 10]], [[10, 10]]], dtype=np.int16)
    s = settings_for(defaults, m="g", maps='[{"inverted": {"enabled": true}}]')
    out = render_rgb(planes, s)
    assert out[0].tolist() == [[255, 255, 255], [0, 0, 0]]  # first active channel only, in grey


def test_lut_channel():
    defaults = [ChannelSetting(0, True, 0.0, 255.0, "fire.lut")]
    plane = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    out = render_rgb(plane, settings_for(defaults))
    assert np.array_equal(out.reshape(256, 3), get_lut("fire.lut"))


def test_no_active_channel_is_black():
    defaults = [ChannelSetting(0, True, 0.0, 255.0, "FF0000")]
    out = render_rgb(np.full((1, 3, 4), 200, np.uint8), settings_for(defaults, c="-1"))
    assert out.shape == (3, 4, 3) and not out.any()


@pytest.mark.parametrize("dtype", ["u1", "u2", "i2", "i1", "u4", "i4", "f4", "f8", "i8"])
@pytest.mark.parametrize("model", ["c", "g"])
def test_matches_reference_across_dtypes_families_and_luts(dtype, model):
    dt = np.dtype(dtype)
    if dt.kind == "f":
        planes = RNG.normal(100, 60, (3, 33, 47)).astype(dt)
        planes[0, 0, :5] = np.nan
    else:
        info = np.iinfo(dt)
        planes = RNG.integers(max(info.min, -3000), min(info.max, 3000), (3, 33, 47), endpoint=True).astype(dt)
    defaults = [
        ChannelSetting(0, True, -50.0, 700.0, "FF00FF"),
        ChannelSetting(1, True, 0.0, 120.0, "00FF80"),
        ChannelSetting(2, True, 3.0, 3.0, "ice.lut"),  # zero-width window: a threshold
    ]
    maps = ('[{"quantization": {"family": "polynomial", "coefficient": 2.5}}, '
            '{"inverted": {"enabled": true}, "quantization": {"family": "exponential", "coefficient": 0.7}}, '
            '{"quantization": {"family": "logarithmic", "coefficient": 1.3}}]')
    s = settings_for(defaults, c="1|-50:700$FF00FF80,2,3", maps=maps, m=model)
    assert np.array_equal(render_rgb(planes, s), reference_render(planes, s))
    # the order of channels in `planes` does not matter when `channels` says which is which
    order = [2, 0, 1]
    assert np.array_equal(render_rgb(planes[order], s, channels=order), reference_render(planes, s))


def test_only_the_needed_planes_are_required():
    defaults = [ChannelSetting(i, True, 0.0, 255.0, c) for i, c in enumerate(["FF0000", "00FF00", "0000FF"])]
    planes = RNG.integers(0, 255, (3, 8, 8)).astype(np.uint8)
    s = settings_for(defaults, c="3,-1,-2")
    assert s.channels_to_read() == [2]
    assert np.array_equal(render_rgb(planes[[2]], s, channels=[2]), reference_render(planes, s))
    with pytest.raises(ValueError, match="not given"):
        render_rgb(planes[[0]], s, channels=[0])


def test_dtype_range_narrows_the_table_for_wide_integer_types():
    defaults = [ChannelSetting(0, True, 0.0, 4095.0, "FFFFFF")]
    planes = RNG.integers(0, 4096, (1, 20, 20)).astype(np.uint32)
    s = settings_for(defaults)
    assert np.array_equal(render_rgb(planes, s, dtype_range=(0, 4095)), reference_render(planes, s))


def test_quantize_families_at_the_ends():
    for family in ("linear", "polynomial", "exponential", "logarithmic"):
        ch = ChannelSetting(0, True, 10.0, 20.0, "FFFFFF", family=family, coefficient=2.0)
        assert quantize(np.array([5.0, 10.0, 20.0, 30.0]), ch).tolist() == [0, 0, 255, 255]


# -- projections --------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["u1", "u2", "i2", "f4"])
def test_projections_match_numpy(dtype):
    stack = (RNG.random((2, 7, 9, 11)) * 200).astype(dtype)
    sub = stack[:, 2:6]
    assert np.array_equal(project(stack, "intmax", 2, 5), sub.max(axis=1))
    assert np.array_equal(project(stack, "intmean", 2, 5), sub.mean(axis=1, dtype=np.float64).astype(dtype))
    expected_sum = sub.astype(np.float64).sum(axis=1)
    if np.dtype(dtype).kind in "ui":
        expected_sum = np.clip(expected_sum, np.iinfo(dtype).min, np.iinfo(dtype).max)
    assert np.array_equal(project(stack, "intsum", 2, 5), expected_sum.astype(dtype))
    assert np.array_equal(project(stack[0], "intmax"), stack[0].max(axis=0))


def test_intsum_clips_to_the_dtype_maximum():
    stack = np.full((4, 2, 2), 200, np.uint8)
    assert project(stack, "intsum").tolist() == [[255, 255], [255, 255]]
    stack16 = np.full((3, 1, 1), -20000, np.int16)
    assert project(stack16, "intsum").tolist() == [[-32768]]


def test_projection_errors():
    stack = np.zeros((3, 2, 2), np.uint8)
    with pytest.raises(ValueError, match="outside"):
        project(stack, "intmax", 1, 3)
    with pytest.raises(ValueError, match="unknown projection"):
        project(stack, "normal")
    with pytest.raises(ValueError, match="expected"):
        project(np.zeros((2, 2), np.uint8), "intmax")


def test_auto_window():
    assert auto_window(np.array([[3, 9], [4, 7]], np.uint16)) == (3.0, 9.0)
    data = np.concatenate([np.linspace(0, 1000, 10001), [np.nan, np.inf]]).astype(np.float32)
    lo, hi = auto_window(data)
    assert lo == pytest.approx(1.0, abs=0.01) and hi == pytest.approx(999.0, abs=0.01)
    assert auto_window(np.array([np.nan], np.float32)) == (0.0, 1.0)
    assert auto_window(np.zeros((0, 3), np.uint8)) == (0.0, 1.0)


# -- split channel ------------------------------------------------------------------

def test_split_channel_layout_matches_omero():
    # omero-py splitChannelDims for 3 channels of 100 x 50: colour grid 2x2, greyscale 2x2
    assert split_channel_layout(3, 100, 50, greyscale=False) == {
        "width": 206, "height": 106, "border": 2, "gridx": 2, "gridy": 2}
    assert split_channel_layout(2, 100, 50, greyscale=True)["gridx"] == 2
    assert split_channel_layout(2, 100, 50, greyscale=True)["gridy"] == 1
    assert split_channel_layout(5, 10, 10, greyscale=False)[("gridx")] == 3  # 6 panels: 3 x 2


def test_render_split_channel_panels():
    defaults = [ChannelSetting(0, True, 0.0, 255.0, "FF0000"), ChannelSetting(1, True, 0.0, 255.0, "00FF00"),
                ChannelSetting(2, True, 0.0, 255.0, "0000FF")]
    planes = RNG.integers(0, 256, (3, 5, 7)).astype(np.uint8)
    s = settings_for(defaults, c="1,-2,3")
    canvas = render_split_channel(planes, s)
    assert canvas.shape == (2 * 5 + 3 * 2, 2 * 7 + 3 * 2, 3)

    def panel(i):
        x, y = 2 + (i % 2) * (7 + 2), 2 + (i // 2) * (5 + 2)
        return canvas[y:y + 5, x:x + 7]

    only = lambda k: settings_for(defaults, c=str(k + 1))  # noqa: E731
    assert np.array_equal(panel(0), reference_render(planes, only(0)))
    assert (panel(1) == 255).all()  # inactive channel: blank (white) slot
    assert np.array_equal(panel(2), reference_render(planes, only(2)))
    assert np.array_equal(panel(3), reference_render(planes, s))  # merged
    assert (canvas[:2] == 255).all() and (canvas[:, :2] == 255).all()  # white border

    grey = render_split_channel(planes, settings_for(defaults, c="1,2,3", m="g"))
    first = grey[2:7, 2:9]
    assert np.array_equal(first[..., 0], planes[0]) and np.array_equal(first[..., 2], planes[0])
