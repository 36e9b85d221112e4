"""webgateway: OMERO.web URLs, parameters and JSON shapes, rendered output checked with Pillow."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from stratascope.storage import SOURCE_REQUESTS


def decode(content: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(content)).convert("RGB")).astype(int)


def grey_expected(plane: np.ndarray, start: float, end: float) -> np.ndarray:
    scaled = np.clip((plane.astype(float) - start) / (end - start), 0, 1) * 255
    return np.floor(scaled + 0.5).astype(int)


def test_img_data_has_omero_web_shape(client, sample_zarr):
    image_id, truth = sample_zarr
    data = client.get(f"/webgateway/imgData/{image_id}/").json()
    assert set(data) >= {"id", "meta", "perms", "tiles", "interpolate", "size", "pixel_size", "init_zoom",
                         "pixel_range", "channels", "split_channel", "rdefs"}
    assert data["id"] == image_id
    assert set(data["meta"]) >= {"imageName", "imageDescription", "imageAuthor", "projectName", "projectId",
                                 "projectDescription", "datasetName", "datasetId", "datasetDescription",
                                 "wellSampleId", "wellId", "imageTimestamp", "imageId", "pixelsType",
                                 "imageArchived"}
    assert data["meta"]["projectName"] == "Demo project" and data["meta"]["datasetName"] == "Demo dataset"
    assert data["meta"]["pixelsType"] == "uint16"
    assert data["size"] == {"width": 500, "height": 300, "z": 2, "t": 1, "c": 3}
    assert data["pixel_range"] == [0, 65535]
    assert len(data["channels"]) == 3
    ch = data["channels"][0]
    assert set(ch) >= {"emissionWave", "label", "color", "inverted", "reverseIntensity", "family",
                       "coefficient", "window", "active"}
    assert ch["label"] == "ch0" and ch["color"] == "FF0000"
    assert set(ch["window"]) == {"min", "max", "start", "end"}
    assert data["rdefs"] == {"model": "color", "projection": "normal", "defaultZ": 1, "defaultT": 0,
                             "invertAxis": False}
    assert data["split_channel"]["g"]["gridx"] == 2 and data["split_channel"]["c"]["gridx"] == 2
    if data["tiles"]:
        assert data["zoomLevelScaling"]["0"] == 1.0
        assert data["levels"] >= 2 and set(data["tile_size"]) == {"width", "height"}
    assert client.get(f"/webgateway/imgData/{image_id}/size/").json()["width"] == 500
    assert client.get(f"/webgateway/imgData/{image_id}/meta.pixelsType/").json() == "uint16"
    assert client.get(f"/webgateway/imgData/{image_id}/nope/").json() is None


def test_png_tile_is_exact_for_grey_full_window(client, sample_zarr):
    image_id, truth = sample_zarr
    url = f"/webgateway/render_image_region/{image_id}/1/0/?tile=0,1,0,64,64&c=2|0:65535$FFFFFF&m=g&format=png"
    response = client.get(url)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    got = decode(response.content)
    expected = grey_expected(truth[0, 1, 1, 0:64, 64:128], 0, 65535)
    np.testing.assert_array_equal(got[..., 0], expected)
    np.testing.assert_array_equal(got[..., 1], expected)


def test_region_jpeg_within_tolerance_and_edge_clipped(client, sample_zarr):
    image_id, truth = sample_zarr
    response = client.get(f"/webgateway/render_image_region/{image_id}/0/0/?region=450,250,100,100&c=1|0:4000$FFFFFF")
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    got = decode(response.content)
    assert got.shape == (50, 50, 3)  # clipped at the image edge
    expected = grey_expected(truth[0, 0, 0, 250:300, 450:500], 0, 4000)
    assert np.abs(got[..., 0] - expected).mean() < 3


def test_two_channel_colour_blending(client, sample_zarr):
    image_id, truth = sample_zarr
    url = f"/webgateway/render_image_region/{image_id}/0/0/?region=0,0,64,64&c=1|0:4000$FF0000,2|0:4000$00FF00&format=png"
    got = decode(client.get(url).content)
    np.testing.assert_array_equal(got[..., 0], grey_expected(truth[0, 0, 0, :64, :64], 0, 4000))
    np.testing.assert_array_equal(got[..., 1], grey_expected(truth[0, 1, 0, :64, :64], 0, 4000))
    assert got[..., 2].max() == 0


def test_max_and_mean_projection_match_numpy(client, sample_zarr):
    image_id, truth = sample_zarr
    base = f"/webgateway/render_image_region/{image_id}/0/0/?region=0,0,80,60&c=3|0:65535$FFFFFF&format=png"
    got = decode(client.get(base + "&p=intmax").content)[..., 0]
    np.testing.assert_array_equal(got, grey_expected(truth[0, 2].max(axis=0)[:60, :80], 0, 65535))
    got = decode(client.get(base + "&p=intmean").content)[..., 0]
    mean = truth[0, 2].mean(axis=0).astype(np.uint16)[:60, :80]
    assert np.abs(got - grey_expected(mean, 0, 65535)).max() <= 1


def test_thumbnails_after_import_cost_no_source_requests(client, sample_zarr):
    image_id, _ = sample_zarr
    before = SOURCE_REQUESTS.snapshot()
    for url in (f"/webgateway/render_thumbnail/{image_id}/", f"/webgateway/render_thumbnail/{image_id}/256/",
                f"/webgateway/render_birds_eye_view/{image_id}/", f"/webgateway/get_thumbnails/?id={image_id}",
                f"/webgateway/get_thumbnail/{image_id}/"):
        assert client.get(url).status_code == 200, url
    assert (SOURCE_REQUESTS.snapshot() - before).total == 0
    thumb = Image.open(io.BytesIO(client.get(f"/webgateway/render_thumbnail/{image_id}/").content))
    assert thumb.size == (96, 58)  # longest side 96, aspect kept (500x300)


def test_get_thumbnails_json_and_batch_limit(client, sample_zarr):
    image_id, _ = sample_zarr
    data = client.get(f"/webgateway/get_thumbnails/?id={image_id}&id=999999").json()
    assert data[str(image_id)].startswith("data:image/jpeg;base64,") and data["999999"] is None
    Image.open(io.BytesIO(base64.b64decode(data[str(image_id)].split(",", 1)[1])))
    too_many = "&".join(f"id={i}" for i in range(101))
    response = client.get(f"/webgateway/get_thumbnails/?{too_many}")
    assert response.status_code == 400 and "at most 100" in response.json()["message"]


def test_etag_and_304(client, sample_zarr):
    image_id, _ = sample_zarr
    url = f"/webgateway/render_image_region/{image_id}/0/0/?tile=0,0,0"
    first = client.get(url)
    etag = first.headers["etag"]
    assert "max-age" in first.headers["cache-control"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    other = client.get(url + "&c=1")
    assert other.headers["etag"] != etag


@pytest.mark.parametrize("path, status", [
    ("/webgateway/imgData/424242/", 404),
    ("/webgateway/render_image_region/{id}/0/0/", 400),
    ("/webgateway/render_image_region/{id}/5/0/?tile=0,0,0", 400),
    ("/webgateway/render_image_region/{id}/0/3/?tile=0,0,0", 400),
    ("/webgateway/render_image_region/{id}/0/0/?tile=9,0,0", 400),
    ("/webgateway/render_image_region/{id}/0/0/?tile=0,99,0", 400),
    ("/webgateway/render_image_region/{id}/0/0/?tile=a,b,c", 400),
    ("/webgateway/render_image_region/{id}/0/0/?region=0,0,-5,5", 400),
    ("/webgateway/render_image_region/{id}/0/0/?tile=0,0,0&c=9", 400),
    ("/webgateway/render_image_region/{id}/0/0/?tile=0,0,0&c=1|x:y", 400),
    ("/webgateway/render_image_region/{id}/0/0/?tile=0,0,0&q=7", 400),
    ("/webgateway/render_image_region/{id}/0/0/?tile=0,0,0&maps=notjson", 400),
    ("/webgateway/render_image_region/{id}/0/0/?tile=0,0,0&format=gif", 400),
    ("/webgateway/render_image/{id}/abc/", 400),
    ("/webgateway/histogram_json/{id}/channel/7/", 400),
    ("/webgateway/render_thumbnail/{id}/0/", 400),
])
def test_bad_requests_get_json_errors(client, sample_zarr, path, status):
    image_id, _ = sample_zarr
    response = client.get(path.format(id=image_id))
    assert response.status_code == status, response.text
    assert response.json()["message"]


def test_region_above_limit_is_413(sample_zarr, monkeypatch, make_services):
    from fastapi.testclient import TestClient

    from stratascope.api.app import create_app

    image_id, _ = sample_zarr
    monkeypatch.setenv("STRATASCOPE_MAX_REGION_PIXELS", "1000")
    with TestClient(create_app(make_services())) as client:
        response = client.get(f"/webgateway/render_image_region/{image_id}/0/0/?region=0,0,100,100")
    assert response.status_code == 413 and "limit" in response.json()["message"]


def test_histogram_and_split_channel(client, sample_zarr):
    image_id, truth = sample_zarr
    hist = client.get(f"/webgateway/histogram_json/{image_id}/channel/0/?theZ=1&bins=16").json()["data"]
    assert len(hist) == 16 and sum(hist) == 300 * 500
    split = client.get(f"/webgateway/render_split_channel/{image_id}/0/0/")
    assert split.status_code == 200
    width, height = Image.open(io.BytesIO(split.content)).size
    assert (width, height) == (500 * 2 + 2 * 3, 300 * 2 + 2 * 3)  # 3 channels + merge in a 2x2 grid


def test_render_image_whole_plane_default_z(client, sample_zarr):
    image_id, truth = sample_zarr
    got = decode(client.get(f"/webgateway/render_image/{image_id}/?c=1|0:65535$FFFFFF&format=png").content)
    np.testing.assert_array_equal(got[..., 0], grey_expected(truth[0, 0, 1], 0, 65535))  # default z = 1


def test_metrics_expose_source_requests(client, sample_zarr):
    text = client.get("/metrics").text
    for name in ("stratascope_source_requests_total", "stratascope_source_bytes_total",
                 "stratascope_http_request_duration_seconds"):
        assert name in text
    assert 'op="get"' in text
