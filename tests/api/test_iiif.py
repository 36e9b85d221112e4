"""IIIF Image API 3.0: the parameter grammar (pure) and the endpoints against a real OME-Zarr.

Expected pixels are computed with numpy from what ome-zarr-py wrote (the sample's
channels are red, green and blue with windows 0..max, so each output colour component
is one channel scaled to 0..255), never from our own render code.
"""

from __future__ import annotations

import io
from urllib.parse import quote

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from stratascope.api.iiif_params import (
    IiifParamError,
    Limits,
    Region,
    Size,
    parse_region,
    parse_request,
    parse_rotation,
    parse_size,
    resolve_region,
    resolve_size,
)

BIG = Limits(65500, 65500, 16_000_000)


# -- the grammar ---------------------------------------------------------------------

@pytest.mark.parametrize("text, kind, values", [
    ("full", "full", (0, 0, 0, 0)), ("square", "square", (0, 0, 0, 0)),
    ("10,20,30,40", "pixels", (10, 20, 30, 40)), ("pct:1.5,2,3.25,.5", "percent", (1.5, 2, 3.25, 0.5)),
])
def test_regions_parse(text, kind, values):
    assert parse_region(text) == Region(kind, values)


@pytest.mark.parametrize("text", ["", "Full", "1,2,3", "1,2,3,0", "-1,2,3,4", "pct:1,2,3", "pct:1e2,1,1,1",
                                  "pct:100,0,1,1", "pct:nan,1,1,1", "1.5,2,3,4", "full ", "12345678901,0,1,1"])
def test_bad_regions_are_rejected(text):
    with pytest.raises(IiifParamError):
        parse_region(text)


@pytest.mark.parametrize("text, size", [
    ("max", Size("max")), ("^max", Size("max", True)), ("100,", Size("w", width=100)),
    ("^100,", Size("w", True, width=100)), (",50", Size("h", height=50)), ("^,50", Size("h", True, height=50)),
    ("pct:50", Size("pct", percent=50.0)), ("^pct:150", Size("pct", True, percent=150.0)),
    ("10,20", Size("wh", False, 10, 20)), ("!10,20", Size("confined", False, 10, 20)),
    ("^!10,20", Size("confined", True, 10, 20)),
])
def test_sizes_parse(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["full", "", ",", "0,", ",0", "pct:0", "pct:101", "!10,", "!,10", "^", "^^max",
                                  "10,20,30", "pct:-1", "max ", "!^10,10"])
def test_bad_sizes_are_rejected(text):
    with pytest.raises(IiifParamError):
        parse_size(text)


@pytest.mark.parametrize("text, degrees, mirror", [("0", 0, False), ("90", 90, False), ("!180", 180, True),
                                                   ("270.0", 270, False), ("360", 0, False), ("!0", 0, True)])
def test_rotations_parse(text, degrees, mirror):
    rotation = parse_rotation(text)
    assert (rotation.degrees, rotation.mirror) == (degrees, mirror)


@pytest.mark.parametrize("text", ["45", "361", "-90", "!!90", "90!", "", "1e2", "nan"])
def test_unsupported_rotations_are_rejected(text):
    with pytest.raises(IiifParamError):
        parse_rotation(text)


@pytest.mark.parametrize("text", ["default", "default.", "default.gif", "grey.jpg", "colour.png", ".jpg", "default.JPG"])
def test_bad_quality_or_format_is_rejected(text):
    with pytest.raises(IiifParamError):
        parse_request("full", "max", "0", text)


@pytest.mark.parametrize("size, region, expected", [
    ("max", (500, 300), (500, 300)), ("250,", (500, 300), (250, 150)), (",150", (500, 300), (250, 150)),
    ("pct:10", (500, 300), (50, 30)), ("40,30", (500, 300), (40, 30)), ("!100,100", (500, 300), (100, 60)),
    ("^!1000,1000", (500, 300), (1000, 600)), ("^1000,", (500, 300), (1000, 600)), ("^pct:200", (500, 300), (1000, 600)),
    ("!500,300", (500, 300), (500, 300)),
])
def test_sizes_resolve(size, region, expected):
    assert resolve_size(parse_size(size), *region, BIG) == expected


@pytest.mark.parametrize("size", ["501,", ",301", "600,10", "!1000,1000"])
def test_upscaling_needs_the_caret(size):
    with pytest.raises(IiifParamError, match="upscale"):
        resolve_size(parse_size(size), 500, 300, BIG)


def test_limits_bound_max_and_refuse_larger_sizes():
    small = Limits(65500, 65500, 10_000)
    w, h = resolve_size(parse_size("max"), 500, 300, small)
    assert w * h <= 10_000 and abs(w / h - 500 / 300) < 0.05
    w, h = resolve_size(parse_size("^max"), 50, 30, small)
    assert w * h <= 10_000 and w > 50
    with pytest.raises(IiifParamError, match="limits"):
        resolve_size(parse_size("200,200"), 500, 300, small)


@pytest.mark.parametrize("region, expected", [
    ("full", (0, 0, 500, 300)), ("square", (100, 0, 400, 300)), ("10,20,30,40", (10, 20, 40, 60)),
    ("450,250,100,100", (450, 250, 500, 300)), ("pct:10,10,50,50", (50, 30, 300, 180)),
])
def test_regions_resolve_and_crop_at_the_edge(region, expected):
    assert resolve_region(parse_region(region), 500, 300) == expected


@pytest.mark.parametrize("region", ["500,0,10,10", "0,300,10,10", "pct:99.99,0,0.001,1"])
def test_regions_outside_the_image_are_rejected(region):
    with pytest.raises(IiifParamError):
        resolve_region(parse_region(region), 500, 300)


segment = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=24)
near_valid = st.from_regex(r"\^?!?(pct:)?[0-9.]{0,12},?[0-9.]{0,12}(,[0-9.]{0,8}){0,3}", fullmatch=True)


@given(region=st.one_of(segment, near_valid), size=st.one_of(segment, near_valid),
       rotation=st.one_of(segment, near_valid), quality=segment)
@settings(max_examples=400, deadline=None)
def test_arbitrary_strings_only_ever_give_param_errors(region, size, rotation, quality):
    try:
        req = parse_request(region, size, rotation, quality)
        box = resolve_region(req.region, 500, 300)
        w, h = resolve_size(req.size, box[2] - box[0], box[3] - box[1], BIG)
    except IiifParamError:
        return
    assert 1 <= w <= BIG.max_width and 1 <= h <= BIG.max_height and w * h <= BIG.max_area
    assert 0 <= box[0] < box[2] <= 500 and 0 <= box[1] < box[3] <= 300


# -- the endpoints -------------------------------------------------------------------

def _expected_rgb(czyx: np.ndarray, z: int) -> np.ndarray:
    """Default rendering of the sample: channel i -> colour component i, window 0..channel max."""
    out = np.zeros(czyx.shape[2:] + (3,), np.uint8)
    for i in range(3):
        end = float(czyx[i].max())
        out[..., i] = np.rint(np.clip(czyx[i, z] / end, 0, 1) * 255)
    return out


def _decode(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    return np.asarray(Image.open(io.BytesIO(response.content)))


def _close(got: np.ndarray, expected: np.ndarray) -> bool:
    """Equal up to the rounding of exact halves (x * (1 / w) vs x / w)."""
    return got.shape == expected.shape and int(np.abs(got.astype(int) - expected).max()) <= 1


def _source_path(services, image_id: int) -> str:
    """The imported source folder of an image (its file:// URL in the catalogue)."""
    from stratascope import catalogue

    return catalogue.get_image(services.catalogue, image_id, full=False).url.removeprefix("file://")


@pytest.fixture
def sample(sample_zarr, client):
    """(image id, truth czyx, the served full image) after checking the latter against numpy."""
    image_id, truth = sample_zarr
    full = _decode(client.get(f"/iiif/3/{image_id}/full/max/0/default.png"))
    assert _close(full, _expected_rgb(truth[0], z=truth.shape[2] // 2))
    return image_id, truth[0], full


def test_info_json(client, sample, services):
    import zarr

    image_id, czyx, _ = sample
    response = client.get(f"/iiif/3/{image_id}/info.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["access-control-allow-origin"] == "*"  # even without an Origin header
    info = response.json()
    assert info["@context"] == "http://iiif.io/api/image/3/context.json"
    assert info["id"] == f"http://testserver/iiif/3/{image_id}"
    assert (info["type"], info["protocol"], info["profile"]) == ("ImageService3", "http://iiif.io/api/image", "level2")
    assert (info["width"], info["height"]) == (czyx.shape[-1], czyx.shape[-2])
    group = zarr.open_group(_source_path(services, image_id), mode="r")
    level_shapes = [group[d["path"]].shape for d in group.attrs["multiscales"][0]["datasets"]]
    assert info["sizes"] == sorted(({"width": s[-1], "height": s[-2]} for s in level_shapes), key=lambda d: d["width"])
    assert info["tiles"] == [{"width": 64, "height": 64, "scaleFactors": [2**i for i in range(len(level_shapes))]}]
    assert info["maxArea"] == 16_000_000 and info["maxWidth"] == info["maxHeight"] == 65500
    assert set(info["extraQualities"]) == {"color", "gray", "bitonal"}
    assert set(info["extraFormats"]) == {"tif", "webp"}
    assert {"mirroring", "regionByPct", "regionSquare", "rotationBy90s", "sizeUpscaling"} <= set(info["extraFeatures"])
    assert "rotationArbitrary" not in info["extraFeatures"]

    ld = client.get(f"/iiif/3/{image_id}/info.json", headers={"Accept": "application/ld+json"})
    assert ld.headers["content-type"] == 'application/ld+json;profile="http://iiif.io/api/image/3/context.json"'
    assert ld.json() == info
    cors = client.get(f"/iiif/3/{image_id}/info.json", headers={"Origin": "https://viewer.example"})
    assert cors.headers["access-control-allow-origin"] == "*"
    assert client.get(f"/iiif/3/{image_id}/info.json", headers={"If-None-Match": response.headers["etag"]}).status_code == 304


def test_server_limit_is_declared_and_enforced(sample, monkeypatch, make_services):
    from fastapi.testclient import TestClient

    from stratascope.api.app import create_app

    image_id, _, _ = sample
    monkeypatch.setenv("STRATASCOPE_MAX_REGION_PIXELS", "20000")
    with TestClient(create_app(make_services())) as client:
        assert client.get(f"/iiif/3/{image_id}/info.json").json()["maxArea"] == 20000
        w, h = _decode(client.get(f"/iiif/3/{image_id}/full/max/0/default.png")).shape[1::-1]
        assert w * h <= 20000 and w > 100
        assert client.get(f"/iiif/3/{image_id}/full/200,200/0/default.png").status_code == 400


def test_base_uri_redirects_to_info(client, sample):
    image_id, _, _ = sample
    response = client.get(f"/iiif/3/{image_id}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"http://testserver/iiif/3/{image_id}/info.json"


def test_identifier_may_be_the_image_name(client, sample, services):
    from stratascope import catalogue

    image_id, _, expected = sample
    name = catalogue.get_image(services.catalogue, image_id).name
    info = client.get(f"/iiif/3/{quote(name, safe='')}/info.json").json()
    assert info["id"] == f"http://testserver/iiif/3/{quote(name, safe='')}" and info["width"] == expected.shape[1]
    assert np.array_equal(_decode(client.get(f"/iiif/3/{quote(name, safe='')}/full/max/0/default.png")), expected)
    for missing in (name[:-1], name + "x", "%", "_" + name[1:], str(image_id + 1000)):
        assert client.get(f"/iiif/3/{quote(missing, safe='')}/info.json").status_code == 404, missing


def test_rgb_tiff_is_served_exactly_and_by_name_without_extension(client, tmp_path, import_urls_sync, services):
    """8-bit RGB pictures keep their colours (no stretching to the data range)."""
    import tifffile

    rng = np.random.default_rng(3)
    rgb = rng.integers(20, 200, size=(90, 130, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "rgb_slide.tif", rgb, photometric="rgb", tile=(64, 64))
    result = import_urls_sync([str(tmp_path / "rgb_slide.tif")])[0]
    assert result.status == "imported", result
    for identifier in (str(result.id), "rgb_slide.tif", "rgb_slide"):
        assert np.array_equal(_decode(client.get(f"/iiif/3/{identifier}/full/max/0/default.png")), rgb)
    assert client.get("/iiif/3/rgb_slid/info.json").status_code == 404
    # two images answering to one name: the numeric id is needed
    (tmp_path / "other").mkdir()
    tifffile.imwrite(tmp_path / "other" / "rgb_slide.tiff", rgb, photometric="rgb")
    assert import_urls_sync([str(tmp_path / "other" / "rgb_slide.tiff")])[0].status == "imported"
    services.forget_memory()  # forget names and records cached for a few seconds
    ambiguous = client.get("/iiif/3/rgb_slide/info.json")
    assert ambiguous.status_code == 409 and "numeric" in ambiguous.json()["message"]


def test_full_image_is_the_default_rendering(client, sample):
    image_id, _, expected = sample
    assert np.array_equal(_decode(client.get(f"/iiif/3/{image_id}/full/max/0/default.tif")), expected)
    assert np.array_equal(_decode(client.get(f"/iiif/3/{image_id}/full/max/0/color.png")), expected)
    jpeg = _decode(client.get(f"/iiif/3/{image_id}/full/max/0/default.jpg"))
    assert np.abs(jpeg.astype(int) - expected).mean() < 3
    webp = client.get(f"/iiif/3/{image_id}/full/max/0/default.webp")
    assert webp.headers["content-type"] == "image/webp" and webp.content[8:12] == b"WEBP"
    assert np.abs(_decode(webp).astype(int) - expected).mean() < 4


# (The endpoint cases are loops over tables rather than parametrized tests: each test
# imports the sample, which costs far more than the requests.)
CROPS = {"10,20,100,50": (10, 20, 110, 70), "450,250,100,100": (450, 250, 500, 300),
         "pct:10,20,30,40": (50, 60, 200, 180), "square": (100, 0, 400, 300)}
ROTATIONS = {
    "90": lambda a: np.rot90(a, -1), "180": lambda a: a[::-1, ::-1], "270": lambda a: np.rot90(a, 1),
    "!0": lambda a: a[:, ::-1], "!90": lambda a: np.rot90(a[:, ::-1], -1), "!180": lambda a: a[::-1],
    "!270": lambda a: np.rot90(a[:, ::-1], 1),
}
SIZES = {
    "250,": (250, 150), ",60": (100, 60), "pct:20": (100, 60), "40,70": (40, 70), "!100,100": (100, 60),
    "^1000,": (1000, 600), "^,600": (1000, 600), "^pct:150": (750, 450), "^700,700": (700, 700),
    "^!1000,1000": (1000, 600), "^!100,100": (100, 60), "^500,300": (500, 300),
}
NEED_CARET = ("501,", ",301", "600,300", "pct:101", "!600,600", "full", "0,")
MALFORMED = ("full/max/0/default.gif", "full/max/45/default.jpg", "full/max/0/grey.jpg", "500,0,10,10/max/0/default.jpg",
             "0,0,0,10/max/0/default.jpg", "nonsense/max/0/default.jpg", "full/max/0/default",
             "full/99999,/0/default.webp", "full/max/0/default.jpg?q=2", "full/max/0/default.jpg?c=1|5:1")


def test_regions_are_exact_crops(client, sample):
    image_id, _, expected = sample
    for region, (x0, y0, x1, y1) in CROPS.items():
        got = _decode(client.get(f"/iiif/3/{image_id}/{region}/max/0/default.png"))
        assert np.array_equal(got, expected[y0:y1, x0:x1]), region


def test_rotation_and_mirroring(client, sample):
    image_id, _, expected = sample
    for rotation, transform in ROTATIONS.items():
        got = _decode(client.get(f"/iiif/3/{image_id}/10,20,100,50/max/{rotation}/default.png"))
        assert np.array_equal(got, transform(expected[20:70, 10:110])), rotation


def test_sizes(client, sample):
    image_id, _, expected = sample
    for size, dims in SIZES.items():
        got = _decode(client.get(f"/iiif/3/{image_id}/full/{size}/0/default.png"))
        assert got.shape == (dims[1], dims[0], 3), size
        # resampled pixels stay close to the exact image resampled by Pillow
        reference = np.asarray(Image.fromarray(expected).resize(dims, Image.Resampling.BILINEAR))
        assert np.abs(got.astype(int) - reference).mean() < 6, size


def test_sizes_beyond_the_region_need_the_caret(client, sample):
    image_id, _, _ = sample
    for size in NEED_CARET:
        response = client.get(f"/iiif/3/{image_id}/full/{size}/0/default.png")
        assert response.status_code == 400 and response.json()["message"], size


def test_pyramid_level_sizes_are_served_from_their_level(client, sample, services):
    """Asking for a level's size gives that level's pixels exactly (no read of full resolution)."""
    import zarr

    from stratascope.storage import SOURCE_REQUESTS

    image_id, czyx, _ = sample
    group = zarr.open_group(_source_path(services, image_id), mode="r")
    level = group[group.attrs["multiscales"][0]["datasets"][2]["path"]][:]
    out = np.zeros(level.shape[2:] + (3,), np.uint8)
    for i in range(3):
        out[..., i] = np.rint(np.clip(level[i, czyx.shape[1] // 2] / float(czyx[i].max()), 0, 1) * 255)
    before = SOURCE_REQUESTS.snapshot()
    got = _decode(client.get(f"/iiif/3/{image_id}/full/{level.shape[-1]},/0/default.png"))
    cost = SOURCE_REQUESTS.snapshot() - before
    assert _close(got, out)
    assert cost.bytes_read < czyx[:, 0].nbytes / 4  # far less than one full-resolution plane


def test_tiles_at_declared_scale_factors(client, sample):
    image_id, _, expected = sample
    # scale factor 2 tile (64 px) at column 1, row 0: region 128,0,128,128 at size 64,64
    got = _decode(client.get(f"/iiif/3/{image_id}/128,0,128,128/64,/0/default.png"))
    assert got.shape == (64, 64, 3)
    reference = expected[0:128, 128:256].reshape(64, 2, 64, 2, 3).mean(axis=(1, 3))
    assert np.abs(got.astype(int) - reference).mean() < 6
    edge = _decode(client.get(f"/iiif/3/{image_id}/384,256,128,128/58,22/0/default.png"))
    assert edge.shape == (22, 58, 3)


def test_gray_and_bitonal(client, sample):
    image_id, _, expected = sample
    gray = _decode(client.get(f"/iiif/3/{image_id}/full/max/0/gray.png"))
    luma = expected.astype(float) @ [0.299, 0.587, 0.114]
    assert gray.ndim == 2 and np.abs(gray - luma).max() <= 1
    bitonal = _decode(client.get(f"/iiif/3/{image_id}/full/max/0/bitonal.png"))
    assert set(np.unique(bitonal)) <= {0, 255}
    assert np.array_equal(bitonal == 255, gray >= 128)


def test_channel_and_plane_extensions(client, sample):
    image_id, czyx, _ = sample
    red_only = _decode(client.get(f"/iiif/3/{image_id}/full/max/0/default.png?c=1|0:1000$FF0000"))
    assert not red_only[..., 1:].any()
    assert _close(red_only[..., 0], np.rint(np.clip(czyx[0, 1] / 1000, 0, 1) * 255).astype(np.uint8))
    z0 = _decode(client.get(f"/iiif/3/{image_id}/full/max/0/default.png?z=0"))
    assert _close(z0, _expected_rgb(czyx, z=0))
    for bad in ("c=9", "c=x", "z=2", "z=-1", "t=1", "m=q"):
        response = client.get(f"/iiif/3/{image_id}/full/max/0/default.png?{bad}")
        assert response.status_code == 400, bad


def test_image_responses_carry_cors_link_and_etag(client, sample):
    image_id, _, _ = sample
    response = client.get(f"/iiif/3/{image_id}/pct:0,0,50,50/125,/!90/gray.jpg")
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["content-type"] == "image/jpeg"
    assert f'<http://testserver/iiif/3/{image_id}/0,0,250,150/125,75/!90/gray.jpg>;rel="canonical"' \
        in response.headers["link"]
    assert '<http://iiif.io/api/image/3/level2.json>;rel="profile"' in response.headers["link"]
    again = client.get(f"/iiif/3/{image_id}/pct:0,0,50,50/125,/!90/gray.jpg",
                       headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304


def test_malformed_requests_are_400_json(client, sample):
    image_id, _, _ = sample
    for path in MALFORMED:
        response = client.get(f"/iiif/3/{image_id}/{path}")
        assert response.status_code == 400, path
        assert response.headers["content-type"] == "application/json" and response.json()["message"], path


def test_unknown_images_are_404(client, sample):
    assert client.get("/iiif/3/987654/info.json").status_code == 404
    assert client.get("/iiif/3/987654/full/max/0/default.jpg").status_code == 404
    assert client.get("/iiif/3/a/b/full/max/0/default.jpg").status_code == 404
    assert client.get("/iiif/3/99999999999999999999999/info.json").status_code == 404


@given(region=segment, size=segment, rotation=segment, quality=segment)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_arbitrary_requests_never_fail_on_the_server(client, sample, region, size, rotation, quality):
    image_id, _, _ = sample
    parts = [quote(p, safe="") or "x" for p in (region, size, rotation, quality)]
    response = client.get(f"/iiif/3/{image_id}/" + "/".join(parts))
    assert response.status_code in (200, 400, 404), (parts, response.text)
