"""The OMERO.web rendering grammar: merging over defaults, and clear errors for bad input."""

import json
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stratascope.render.params import (
    ChannelSetting,
    RenderParamError,
    RenderSettings,
    channel_defaults,
    parse_color,
    parse_render_query,
    projection_z_range,
)

DEFAULTS = [
    ChannelSetting(0, True, 10.0, 1000.0, "FF0000"),
    ChannelSetting(1, True, 20.0, 2000.0, "00FF00", inverted=True),
    ChannelSetting(2, False, 30.0, 3000.0, "fire.lut", family="polynomial", coefficient=2.0),
]


def parse(**query) -> RenderSettings:
    return parse_render_query(query, DEFAULTS)


def test_no_query_keeps_defaults():
    s = parse()
    assert s.channels == tuple(DEFAULTS)
    assert (s.model, s.projection, s.quality, s.invert_axis, s.format) == ("color", "normal", 0.9, False, "jpeg")
    assert s.channels_to_read() == [0, 1]


def test_full_channel_entry():
    s = parse(c="1|100:505$0000FF,-2,3|620:3879$FF0000")
    ch1, ch2, ch3 = s.channels
    assert (ch1.active, ch1.start, ch1.end, ch1.color) == (True, 100.0, 505.0, "0000FF")
    assert (ch2.active, ch2.start, ch2.end, ch2.color) == (False, 20.0, 2000.0, "00FF00")
    assert (ch3.active, ch3.start, ch3.end, ch3.color) == (True, 620.0, 3879.0, "FF0000")
    assert ch3.lut is None  # a colour replaces the default LUT
    assert ch3.family == "polynomial"  # untouched by c=


def test_unlisted_channels_become_inactive_and_listed_keep_their_window():
    s = parse(c="2")
    assert [ch.active for ch in s.channels] == [False, True, False]
    assert (s.channels[1].start, s.channels[1].end, s.channels[1].color) == (20.0, 2000.0, "00FF00")
    assert s.channels[0] == replace(DEFAULTS[0], active=False)


def test_colour_without_window_and_short_forms():
    s = parse(c="1$abc,2|0:1$12345678,3$F0F8")
    assert (s.channels[0].color, s.channels[0].alpha, s.channels[0].start) == ("AABBCC", 255, 10.0)
    assert (s.channels[1].color, s.channels[1].alpha) == ("123456", 0x78)
    assert (s.channels[2].color, s.channels[2].alpha) == ("FF00FF", 0x88)


def test_lut_names_are_normalised():
    s = parse(c="1|0:10$Fire.LUT,2$viridis.lut")
    assert s.channels[0].lut == "fire.lut"
    assert s.channels[1].lut == "viridis.lut"
    assert parse_color("3-3-2 RGB.lut") == ("3-3-2_rgb.lut", 255)


def test_negative_and_fractional_windows():
    s = parse(c="1|-5.5:2.25e3")
    assert (s.channels[0].start, s.channels[0].end) == (-5.5, 2250.0)


def test_tolerates_empty_entries_and_whitespace():
    s = parse(c=" 1 ,, 3|0:5 ,")
    assert [ch.active for ch in s.channels] == [True, False, True]


def test_empty_c_turns_everything_off_like_omero():
    assert parse(c="").active_channels == []


def test_maps_inversion_and_quantization_follow_c_order():
    maps = [
        {"inverted": {"enabled": True}, "quantization": {"family": "exponential", "coefficient": 0.5}},
        {"reverse": {"enabled": "true"}},
    ]
    s = parse(c="3,1", maps=json.dumps(maps))
    assert (s.channels[2].inverted, s.channels[2].family, s.channels[2].coefficient) == (True, "exponential", 0.5)
    assert s.channels[0].inverted is True  # legacy 'reverse'


def test_maps_entry_without_inversion_clears_it_and_null_keeps_it():
    s = parse(c="1,2", maps='[null, {"quantization": {"family": "logarithmic"}}]')
    assert s.channels[1].inverted is False  # omero-web: any map entry sets inversion
    assert (s.channels[1].family, s.channels[1].coefficient) == ("logarithmic", 1.0)
    assert parse(c="1,2", maps="[null, null]").channels[1].inverted is True


def test_inverted_wins_over_reverse():
    s = parse(c="1", maps='[{"inverted": {"enabled": false}, "reverse": {"enabled": true}}]')
    assert s.channels[0].inverted is False


def test_maps_without_c_apply_in_channel_order():
    s = parse(maps='[{"inverted": {"enabled": true}}]')
    assert s.channels[0].inverted is True and s.channels[1].inverted is True  # second untouched (default)


def test_model_projection_quality_axis_format():
    s = parse(m="g", p="intmax|2:5", q="0.25", ia="1", format="png")
    assert (s.model, s.projection, s.proj_start, s.proj_end, s.quality, s.invert_axis, s.format) == (
        "greyscale", "intmax", 2, 5, 0.25, True, "png")
    assert s.channels_to_read() == [0]
    assert parse(p="intsum").proj_start is None
    assert parse(format="TIFF").format == "tif"


def test_projection_range_is_clamped_to_the_image():
    assert projection_z_range(parse(p="intmean|2:99"), 10) == (2, 9)
    assert projection_z_range(parse(p="intmean"), 10) == (0, 9)
    with pytest.raises(RenderParamError, match="only 3 plane"):
        projection_z_range(parse(p="intmax|5:8"), 3)


MALFORMED = [
    ({"c": "4"}, "does not exist"),
    ({"c": "0"}, "does not exist"),
    ({"c": "-4"}, "does not exist"),
    ({"c": "x"}, "channel number"),
    ({"c": "1|5"}, "START:END"),
    ({"c": "1|1:2:3"}, "START:END"),
    ({"c": "1|a:5"}, "not a number"),
    ({"c": "1|5:nan"}, "finite"),
    ({"c": "1|inf:5"}, "finite"),
    ({"c": "1|9:5"}, "start > end"),
    ({"c": "1$GG0000"}, "bad colour"),
    ({"c": "1$FF000"}, "bad colour"),
    ({"c": "1$"}, "bad colour"),
    ({"c": "1$nosuch.lut"}, "unknown lookup table"),
    ({"c": "1,1"}, "more than once"),
    ({"c": "1,-1"}, "more than once"),
    ({"m": "x"}, "rendering model"),
    ({"p": "intmin"}, "unknown projection"),
    ({"p": "intmax|1"}, "START:END"),
    ({"p": "intmax|a:b"}, "START:END"),
    ({"p": "intmax|-1:3"}, "START:END"),
    ({"p": "intmax|5:2"}, "start > end"),
    ({"q": "1.5"}, "outside 0..1"),
    ({"q": "-0.1"}, "outside 0..1"),
    ({"q": "high"}, "not a number"),
    ({"q": "nan"}, "finite"),
    ({"ia": "2"}, "expected 0 or 1"),
    ({"format": "gif"}, "format"),
    ({"c": "1", "maps": "{not json"}, "not valid JSON"),
    ({"c": "1", "maps": '{"inverted": true}'}, "JSON list"),
    ({"c": "1", "maps": "[{}, {}]"}, "only 1 channel"),
    ({"c": "1", "maps": "[3]"}, "object or null"),
    ({"c": "1", "maps": '[{"inverted": true}]'}, "must be an object"),
    ({"c": "1", "maps": '[{"inverted": {"enabled": "maybe"}}]'}, "true or false"),
    ({"c": "1", "maps": '[{"quantization": 1}]'}, "must be an object"),
    ({"c": "1", "maps": '[{"quantization": {"family": "cubic"}}]'}, "family"),
    ({"c": "1", "maps": '[{"quantization": {"family": "polynomial", "coefficient": 0}}]'}, "coefficient"),
    ({"c": "1", "maps": '[{"quantization": {"family": "polynomial", "coefficient": true}}]'}, "coefficient"),
    ({"c": "1", "maps": '[{"quantization": {"family": "polynomial", "coefficient": 1e9}}]'}, "coefficient"),
    ({"c": "1", "maps": '[{"quantization": {"family": "polynomial", "coefficient": [1]}}]'}, "coefficient"),
    ({"c": "1", "maps": '[{"quantization": {"family": "polynomial", "coefficient": 1%s}}]' % ("0" * 400)},
     "coefficient"),
    ({"c": "1", "maps": "[" * 100_000}, "not valid JSON"),
    ({"maps": "[{}, {}, {}, {}]"}, "only 3 channel"),
]


@pytest.mark.parametrize(("query", "message"), MALFORMED)
def test_malformed_queries_raise_clear_errors(query, message):
    with pytest.raises(RenderParamError, match=message):
        parse_render_query(query, DEFAULTS)


def test_render_param_error_is_the_render_layers_own_error():
    from stratascope.render.errors import RenderError

    # api/errors.py maps the render root to 400; a stray ValueError must stay a 500
    assert issubclass(RenderParamError, RenderError) and not issubclass(RenderParamError, ValueError)


def test_canonical_string_reflects_only_what_changes_the_output():
    a = parse(c="1|0:255$FF0000,-2|5:6$00FF00")
    b = parse(c="1|0:255$ff0000,-2|7:8$0000FF")  # inactive channel differs, case differs
    assert a.canonical() == b.canonical()
    assert a.canonical() != parse(c="1|0:256$FF0000").canonical()
    assert parse(format="png", q="0.1").canonical() == parse(format="png", q="0.9").canonical()
    assert parse(q="0.1").canonical() != parse(q="0.9").canonical()
    assert parse(c="1", maps='[{"inverted": {"enabled": true}}]').canonical() != parse(c="1").canonical()
    assert parse(p="intmax|0:3").canonical() != parse(p="intmax|0:4").canonical()
    assert len(parse().canonical()) < 200


def test_channel_defaults_from_specs():
    from stratascope.formats.model import ChannelSpec

    specs = [
        ChannelSpec("DAPI", color=None, window_start=None, window_end=None, window_min=5, window_max=900,
                     emission_wave=461),
        ChannelSpec("GFP", color="00ff00", window_start=100, window_end=50),
        ChannelSpec("x", color="magenta.lut", active=False, inverted=True, family="bogus"),
        ChannelSpec("bad", color="reddish", window_start=float("nan"), coefficient=-2.0),
    ]
    d = channel_defaults(specs, (0, 65535))
    assert (d[0].start, d[0].end, d[0].color) == (5.0, 900.0, "0000FF")
    assert (d[1].start, d[1].end, d[1].color) == (50.0, 100.0, "00FF00")
    assert (d[2].start, d[2].end, d[2].color, d[2].active, d[2].inverted, d[2].family) == (
        0.0, 65535.0, "magenta.lut", False, True, "linear")
    assert (d[3].start, d[3].color, d[3].coefficient) == (0.0, "FF0000", 1.0)  # by position: red, green, blue, red


# -- property: arbitrary input never raises anything but RenderParamError -----------

KEYS = st.sampled_from(["c", "m", "p", "q", "maps", "ia", "format", "z", "region"])
GRAMMAR_TEXT = st.text(alphabet="0123456789-|:$,.eE+ abcdefABCDEFxlut[]{}\"", max_size=40)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=10)
    | st.sampled_from(["inverted", "reverse", "enabled", "quantization", "family", "linear", "polynomial"]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["inverted", "reverse", "enabled", "quantization", "family", "coefficient"]),
                      children, max_size=3),
    max_leaves=12,
)


def _check(query):
    try:
        result = parse_render_query(query, DEFAULTS)
    except RenderParamError as exc:
        assert str(exc)
    else:
        assert isinstance(result, RenderSettings)
        assert len(result.channels) == len(DEFAULTS)
        result.canonical()


@settings(max_examples=250, deadline=None)
@given(st.dictionaries(KEYS, st.text(max_size=40), max_size=5))
def test_arbitrary_strings_only_raise_render_param_error(query):
    _check(query)


@settings(max_examples=250, deadline=None)
@given(st.dictionaries(KEYS, GRAMMAR_TEXT, max_size=5))
def test_grammar_like_strings_only_raise_render_param_error(query):
    _check(query)


@settings(max_examples=250, deadline=None)
@given(GRAMMAR_TEXT, JSON_VALUES)
def test_arbitrary_maps_json_only_raises_render_param_error(c, maps):
    _check({"c": c, "maps": json.dumps(maps)})
