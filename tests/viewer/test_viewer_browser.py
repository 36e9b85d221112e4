"""The web viewer in a real browser: Debian's Chromium driven by Playwright against a live server.

Browses project → dataset → image, opens the deep-zoom view of a 4-level pyramid, zooms in,
toggles a channel, moves the z slider, reloads the permalink; checks after each step that new
tiles were requested (with the right level, channels and plane) and that the canvas shows
pixels, and that the page logged no errors. Screenshots go to test-artifacts/viewer/.
"""

from __future__ import annotations

import io
import re
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "viewer"
OSD_JS = (Path(__file__).resolve().parents[2] / "src/stratascope/api/static/vendor/openseadragon/openseadragon.min.js")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
                 "--no-first-run", "--disable-component-update", "--disable-sync"]



def in_browser(test):
    """Marks a test that needs Chromium and the vendored OpenSeadragon (skips with the reason)."""
    marks = [pytest.mark.browser,
             pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="no /usr/bin/chromium (scripts/install-system-deps.sh installs it)"),
             pytest.mark.skipif(not OSD_JS.exists(),
                                reason="OpenSeadragon is not vendored (run scripts/install-node-deps.sh)")]
    for mark in marks:
        test = mark(test)
    return test


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_server(services):
    """uvicorn serving create_app(services) on a free loopback port, in a thread of this process."""
    import uvicorn

    from stratascope.api.app import create_app

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(services), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def write_pyramid(path: Path, size: int = 2048, levels: int = 4) -> np.ndarray:
    """A (c=2, z=2, y, x) uint16 OME-Zarr v0.4 pyramid written with zarr-python alone (seconds,
    where ome-zarr-py's resampling takes a minute): rings and noise, so every tile differs."""
    import zarr

    yy, xx = (axis.astype(np.float32) for axis in np.ogrid[0:size, 0:size])
    rng = np.random.default_rng(7)
    planes = []
    for c in range(2):
        for z in range(2):
            r = np.hypot(yy - size * (0.3 + 0.4 * c), xx - size * (0.4 + 0.2 * z))
            wave = 0.5 + 0.5 * np.sin(r / (9 + 6 * c)) * np.exp(-r / size)
            planes.append(wave * 3000 + rng.integers(0, 400, (size, size)))
    data = np.stack(planes).reshape(2, 2, size, size).astype(np.uint16)
    root = zarr.open_group(str(path), mode="w", zarr_format=2)
    datasets, level = [], data
    for i in range(levels):
        root.create_array(str(i), data=level, chunks=(1, 1, 256, 256))
        datasets.append({"path": str(i), "coordinateTransformations": [
            {"type": "scale", "scale": [1.0, 2.0, 0.325 * 2**i, 0.325 * 2**i]}]})
        level = level[:, :, ::2, ::2]
    axes = [{"name": "c", "type": "channel"}] + [{"name": a, "type": "space", "unit": "micrometer"} for a in "zyx"]
    root.attrs["multiscales"] = [{"version": "0.4", "name": "pyramid", "axes": axes, "datasets": datasets}]
    root.attrs["omero"] = {"channels": [
        {"label": label, "color": color, "active": True, "window": {"start": 0, "end": 3400, "min": 0, "max": 65535}}
        for label, color in (("Nuclei", "00FFFF"), ("Membrane", "FF00FF"))]}
    return data


@pytest.fixture
def images(tmp_path, sample_zarr, import_urls_sync):
    """The sample OME-Zarr (3 channels, 2 z) plus a 2048x2048 pyramid (2 channels, 2 z, 4 levels)."""
    write_pyramid(tmp_path / "pyramid.zarr")
    results = import_urls_sync([str(tmp_path / "pyramid.zarr")], project="Demo project", dataset="Demo dataset",
                               name="pyramid")
    assert results[0].status == "imported", results
    return {"sample": sample_zarr[0], "pyramid": results[0].id}


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="python playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class PageLog:
    """Everything the page did that a test may assert on: tile requests, errors, failed responses."""

    def __init__(self, page):
        self.tiles: list[str] = []
        self.errors: list[str] = []
        page.on("request", self._request)
        page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        page.on("response", lambda r: self.errors.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None)
        page.on("requestfailed", lambda r: self.errors.append(f"failed: {r.url} {r.failure}"))

    def _request(self, request):
        if "/webgateway/render_image_region/" in request.url:
            self.tiles.append(request.url)

    def mark(self) -> int:
        return len(self.tiles)

    def since(self, mark: int) -> list[str]:
        return self.tiles[mark:]


def _settled(page, timeout=30_000) -> None:
    """Waits until every layer asked for so far has all the tiles of the current view."""
    page.wait_for_function("() => { const l = window.stratascope && window.stratascope.layers;"
                           " return l && l.requested > 0 && l.settled === l.requested; }", timeout=timeout)
    page.wait_for_timeout(300)  # let the drawer paint the last tiles


def _canvas_stats(page, name: str) -> tuple[float, float]:
    from PIL import Image

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    png = page.locator("#osd").screenshot(path=str(ARTIFACTS / f"{name}.png"))
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float64)
    return float(pixels.mean()), float(pixels.std())


def _tile_level(url: str) -> int:
    return int(re.search(r"tile=(\d+),", url).group(1))


@in_browser
def test_browse_and_deep_zoom(live_server, images, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    log = PageLog(page)
    pyramid = images["pyramid"]

    # home page: project → dataset → image, with thumbnails and metadata
    page.goto(f"{live_server}/")
    page.locator("#projects button", has_text="Demo project").click()
    page.locator("#datasets button", has_text="Demo dataset").click()
    cards = page.locator("#images .card")
    cards.first.wait_for()
    assert cards.count() == 2
    page.wait_for_function("() => [...document.querySelectorAll('#images img')]"
                           ".every(i => i.complete && i.naturalWidth > 0)")
    card = page.locator(f'#images .card[data-image-id="{pyramid}"]')
    card.locator("button.thumb").click()
    meta = page.locator("#meta")
    meta.locator("h3", has_text="pyramid").wait_for()
    assert "2048 × 2048" in meta.inner_text()
    assert "Nuclei" in meta.inner_text() and "Membrane" in meta.inner_text()
    assert "#project=" in page.url and f"image={pyramid}" in page.url
    page.screenshot(path=str(ARTIFACTS / "home.png"))

    # search by name finds the pyramid and not the sample
    page.fill("#search-input", "pyra")
    page.locator("#images-title", has_text="pyra").wait_for()
    page.wait_for_function("() => document.querySelectorAll('#images .card').length === 1")
    assert page.locator(f'#images .card[data-image-id="{pyramid}"]').count() == 1
    page.go_back()
    page.locator(f'#images .card[data-image-id="{pyramid}"]').wait_for()

    # the viewer: whole image first, at the coarsest levels
    meta.locator("a.link-open-viewer").click()
    page.wait_for_url(f"**/view/{pyramid}**")
    page.wait_for_selector("body[data-ready=true]")
    _settled(page)
    first = log.since(0)
    assert first, "no tiles were requested"
    z0 = page.evaluate("() => window.stratascope.img.rdefs.defaultZ")
    assert all(f"/render_image_region/{pyramid}/{z0}/0/" in u for u in first)
    assert max(_tile_level(u) for u in first) == 3  # level 3 is 256x256: one tile
    mean, std = _canvas_stats(page, "1-home")
    assert std > 10, f"canvas looks blank (mean {mean:.1f}, std {std:.1f})"
    assert page.locator("#links a.link-imgdata").count() == 1

    # zoom in with the mouse wheel: full-resolution tiles (level 0) are requested
    mark = log.mark()
    box = page.locator("#osd").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    home_zoom = page.evaluate("() => window.stratascope.viewer.viewport.getZoom(true)")
    for _ in range(12):
        page.mouse.wheel(0, -400)
        page.wait_for_timeout(100)
    page.wait_for_function(f"() => window.stratascope.viewer.viewport.getZoom(true) > {4 * home_zoom}")
    _settled(page)
    zoomed = log.since(mark)
    assert any(_tile_level(u) == 0 for u in zoomed), zoomed
    mean, std = _canvas_stats(page, "2-zoomed")
    assert std > 1, f"zoomed canvas looks blank (mean {mean:.1f}, std {std:.1f})"

    # channel 2 off: new tiles with channel 2 inactive
    mark = log.mark()
    page.locator('.channel[data-channel="1"] input.active').click()
    _settled(page)
    toggled = log.since(mark)
    assert toggled and all("-2|" in u and "c=1|" in u for u in toggled), toggled
    _, std = _canvas_stats(page, "3-channel-off")
    assert std > 1

    # z slider one step (the default plane is the middle one): tiles of the other plane
    mark = log.mark()
    z1 = 1 - z0
    page.locator("#z-slider").focus()
    page.keyboard.press("ArrowRight" if z1 > z0 else "ArrowLeft")
    _settled(page)
    moved = log.since(mark)
    assert moved and all(f"/render_image_region/{pyramid}/{z1}/0/" in u for u in moved), moved
    assert page.locator("#z-value").inner_text() == f"{z1 + 1}/2"
    _, std = _canvas_stats(page, "4-z1")
    assert std > 1

    # the permalink restores plane, channels and zoom in a fresh page
    page.wait_for_function(f"() => location.search.includes('z={z1}') && location.search.includes('-2|')")
    permalink = page.url
    zoom = float(re.search(r"[?&]zoom=([\d.]+)", permalink).group(1))
    assert zoom > 4 * home_zoom
    fresh = browser.new_page(viewport={"width": 1280, "height": 800})
    fresh_log = PageLog(fresh)
    fresh.goto(permalink)
    fresh.wait_for_selector("body[data-ready=true]")
    _settled(fresh)
    assert fresh.locator("#z-slider").input_value() == str(z1)
    assert not fresh.locator('.channel[data-channel="1"] input.active').is_checked()
    assert fresh.locator('.channel[data-channel="0"] input.active').is_checked()
    restored = fresh.evaluate("() => window.stratascope.viewer.viewport.getZoom(true)")
    assert restored == pytest.approx(zoom, rel=0.01)
    centre = [float(re.search(rf"[?&]{k}=(-?[\d.]+)", permalink).group(1)) for k in "xy"]
    restored_centre = fresh.evaluate("() => { const c = window.stratascope.viewer.viewport.getCenter(true);"
                                     " return [c.x * 2048, c.y * 2048]; }")
    assert restored_centre == pytest.approx(centre, abs=2)
    assert any(_tile_level(u) == 0 and f"/{pyramid}/{z1}/0/" in u for u in fresh_log.tiles)
    assert not fresh_log.errors, fresh_log.errors
    assert not log.errors, log.errors

    # one live server for both images: importing the samples is the slow part of this test
    _projection_scale_bar_and_keys(browser, live_server, images["sample"])


def _projection_scale_bar_and_keys(browser, live_server, sample):
    page = browser.new_page(viewport={"width": 1100, "height": 700})
    log = PageLog(page)
    page.goto(f"{live_server}/view/{sample}")
    page.wait_for_selector("body[data-ready=true]")
    _settled(page)
    img = page.evaluate("() => window.stratascope.img")
    assert img["size"]["width"] == 500 and img["size"]["c"] == 3

    if img["pixel_size"]["x"]:  # the scale bar is drawn from the physical pixel size
        assert page.locator("#scalebar").is_visible()
        assert re.fullmatch(r"[\d.]+ (nm|µm|mm)", page.locator("#scalebar .label").inner_text())

    mark = log.mark()
    page.select_option("#projection", "intmax")
    _settled(page)
    assert log.since(mark) and all("p=intmax" in u for u in log.since(mark))
    assert page.locator("#z-slider").is_disabled()
    _, std = _canvas_stats(page, "5-intmax")
    assert std > 10

    mark = log.mark()
    page.locator("#osd").click()
    page.keyboard.press("3")  # channel 3 off
    _settled(page)
    assert log.since(mark) and all("-3|" in u for u in log.since(mark))

    # a hand-written permalink with a colour and window is honoured
    page.goto(f"{live_server}/view/{sample}?z=1&c=1|0:2000$FFFF00,-2,-3&p=normal")
    page.wait_for_selector("body[data-ready=true]")
    _settled(page)
    assert page.locator('.channel[data-channel="0"] input.colour').input_value() == "#ffff00"
    assert page.locator('.channel[data-channel="0"] input.window-end').input_value() == "2000"
    last = log.tiles[-1]
    assert f"/{sample}/1/0/" in last and "c=1|0:2000$FFFF00,-2|" in last.replace("%24", "$").replace("%7C", "|")
    mean, std = _canvas_stats(page, "6-yellow")
    assert std > 5

    assert not log.errors, log.errors


@in_browser
def test_unknown_image_shows_an_error(live_server, browser):
    page = browser.new_page()
    page.goto(f"{live_server}/view/999999")
    page.wait_for_selector("body[data-ready=error]")
    assert "999999" in page.locator("#status").inner_text()


# -- the server side of the viewer, without a browser ------------------------------------------

def test_pages_static_files_and_viewer_api(client, sample_zarr):
    image_id, truth = sample_zarr
    home = client.get("/")
    assert home.status_code == 200 and home.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/static/js/browse.js">' in home.text
    view = client.get(f"/view/{image_id}")
    assert view.status_code == 200 and "/static/vendor/openseadragon/openseadragon.min.js" in view.text
    assert client.get("/view/abc").status_code in (400, 422)
    module = client.get("/static/js/viewer.js")
    assert module.status_code == 200 and "javascript" in module.headers["content-type"]
    assert client.get("/static/js/missing.js").status_code == 404
    assert client.get("/static/../viewer.py").status_code == 404
    assert client.get("/static/%2e%2e/viewer.py").status_code == 404
    # no page or module refers to anything outside this server
    static = Path(__file__).resolve().parents[2] / "src/stratascope/api/static"
    for path in [*static.glob("*.html"), *static.glob("js/*.js"), *static.glob("css/*.css")]:
        assert not re.search(r"(src|href)=[\"']?(https?:)?//", path.read_text()), path

    details = client.get(f"/viewer-api/images/{image_id}/").json()
    t, c, z, y, x = truth.shape
    assert details["size"] == {"t": t, "c": c, "z": z, "y": y, "x": x}
    assert details["url"].endswith("sample.zarr") and details["format"].startswith("ome-zarr")
    assert details["sources"] and all(s["size"] > 0 for s in details["sources"])
    assert details["levels"][0]["shape"] == [t, c, z, y, x] and len(details["levels"]) > 1
    assert [ch["label"] for ch in details["channels"]] == ["ch0", "ch1", "ch2"]
    assert details["dataset"]["name"] == "Demo dataset" and details["project"]["name"] == "Demo project"
    assert details["links"]["imgData"].endswith(f"/webgateway/imgData/{image_id}/")
    assert "download" not in details["links"]  # a Zarr store is many objects; its URL is shown instead
    for key, link in details["links"].items():  # every link the panel shows answers
        path = "/" + link.split("://", 1)[1].split("/", 1)[1]
        path += {"zarr": ".zattrs", "zarr_v3": "zarr.json"}.get(key, "")
        assert client.get(path).status_code == 200, link
    assert client.get("/viewer-api/images/999999/").status_code == 404

    found = client.get("/viewer-api/images/", params={"name": details["name"][1:3].upper()}).json()
    assert [i["id"] for i in found["data"]] == [image_id] and found["meta"]["totalCount"] == 1
    assert client.get("/viewer-api/images/", params={"name": "no-such-image"}).json()["data"] == []
    assert client.get("/viewer-api/images/", params={"limit": 0}).status_code in (400, 422)
