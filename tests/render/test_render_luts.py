"""LUT tables: ImageJ formulas, and the embedded matplotlib tables against matplotlib itself."""

import colorsys

import numpy as np
import pytest

from stratascope.render.luts import available_luts, canonical_lut_name, get_lut


def test_every_lut_is_256_rgb_bytes_and_read_only():
    names = available_luts()
    assert {"grays.lut", "fire.lut", "ice.lut", "viridis.lut", "red.lut", "cyan.lut"} <= set(names)
    for name in names:
        table = get_lut(name)
        assert table.shape == (256, 3) and table.dtype == np.uint8
        with pytest.raises(ValueError):
            table[0, 0] = 1


def test_ramps():
    ramp = np.arange(256)
    assert np.array_equal(get_lut("grays.lut"), np.stack([ramp] * 3, axis=1))
    assert np.array_equal(get_lut("yellow.lut"), np.stack([ramp, ramp, 0 * ramp], axis=1))
    assert np.array_equal(get_lut("cyan.lut"), np.stack([0 * ramp, ramp, ramp], axis=1))
    assert np.array_equal(get_lut("magenta.lut")[:, 1], 0 * ramp)


def test_fire_passes_through_its_control_points():
    # ImageJ interpolates 32 control points over 256 entries: entry 8*i is control point i
    fire = get_lut("fire.lut")
    assert fire[0].tolist() == [0, 0, 0]
    assert fire[8 * 4].tolist() == [49, 0, 165]
    assert fire[8 * 13].tolist() == [207, 14, 64]
    assert fire[255].tolist() == [255, 255, 255]  # last control point held at the end
    assert fire[4].tolist() == [0, 0, 30]  # halfway between 0 and 61, truncated


def test_ice_starts_and_ends_like_imagej():
    ice = get_lut("ice.lut")
    assert ice[0].tolist() == [0, 156, 140]
    assert ice[8 * 31].tolist() == [230, 0, 27]


def test_spectrum_is_the_hsb_hue_circle():
    spectrum = get_lut("spectrum.lut").astype(int)
    for i in (0, 42, 85, 128, 170, 213, 255):
        expected = [round(c * 255) for c in colorsys.hsv_to_rgb(i / 255, 1, 1)]
        assert np.abs(spectrum[i] - expected).max() <= 1


def test_names_are_case_and_suffix_insensitive():
    assert canonical_lut_name("Fire") == "fire.lut"
    assert canonical_lut_name("3-3-2 RGB.lut") == "3-3-2_rgb.lut"
    assert canonical_lut_name("nope") is None
    with pytest.raises(KeyError):
        get_lut("nope.lut")


@pytest.mark.parametrize("name", ["viridis", "magma", "inferno", "plasma", "cividis"])
def test_embedded_matplotlib_tables_match_matplotlib(name):
    matplotlib = pytest.importorskip("matplotlib")
    expected = matplotlib.colormaps[name](np.arange(256), bytes=True)[:, :3]
    assert np.array_equal(get_lut(f"{name}.lut"), expected)
