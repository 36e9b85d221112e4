"""The product around the viewer, in Debian's Chromium (Playwright): orphaned images in the
browser, the login form's error, the offline API docs, the metadata panel and the home page."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from test_viewer_browser import ARTIFACTS, PageLog, in_browser


def small_tiff(path: Path, name: str, *, channels=("DAPI", "GFP"), colors=(-16776961, 16711935), z: int = 1,
               seed: int = 0) -> str:
    """A small (1, c, z, 48, 64) uint8 OME-TIFF with named, coloured channels."""
    data = np.random.default_rng(seed).integers(0, 255, (1, len(channels), z, 48, 64), dtype=np.uint8)
    tifffile.imwrite(path, data, ome=True, photometric="minisblack",
                     metadata={"axes": "TCZYX", "Name": name,
                               "Channel": {"Name": list(channels), "Color": list(colors)}})
    return str(path)


@pytest.fixture
def catalogue(tmp_path, import_urls_sync):
    """One image in "Lab project" / "Lab dataset" (z=3), two imported without a project."""
    ids = {}
    plan = [("in-project", {"project": "Lab project", "dataset": "Lab dataset"}, 3),
            ("loose-one", {}, 1), ("loose-two", {}, 1)]
    for seed, (name, where, z) in enumerate(plan):
        (result,) = import_urls_sync([small_tiff(tmp_path / f"{name}.ome.tif", name, z=z, seed=seed)], **where)
        assert result.status == "imported", result
        ids[name] = result.id
    return ids


@in_browser
def test_orphaned_images_are_browsable(live_server, catalogue, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    log = PageLog(page)
    page.goto(f"{live_server}/")
    orphans = page.locator("#projects button", has_text="Orphaned images")
    orphans.wait_for()
    assert orphans.locator(".count").inner_text() == "2"
    orphans.click()
    cards = page.locator("#images .card")
    cards.first.wait_for()
    assert sorted(cards.locator("figcaption").all_inner_texts()) == ["loose-one", "loose-two"]
    assert page.locator("#images-title").text_content() == "Orphaned images"
    page.wait_for_function("() => [...document.querySelectorAll('#images img')]"
                           ".every(i => i.complete && i.naturalWidth > 0)")
    page.locator(f'#images .card[data-image-id="{catalogue["loose-one"]}"] button.thumb').click()
    page.locator("#meta h3", has_text="loose-one").wait_for()
    assert "project=-1" in page.url
    page.reload()  # the permalink comes back to the orphans
    page.locator("#images .card").first.wait_for()
    assert page.locator("#images .card").count() == 2
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "orphans.png"))
    assert not log.errors, log.errors


# -- /docs and /redoc offline ------------------------------------------------------------------

def _offline_page(browser, live_server):
    """A page whose requests to anything but the live server are aborted (and recorded)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    outside: list[str] = []

    def route(r):
        if r.request.url.startswith(live_server + "/") or r.request.url.startswith("data:"):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    return page, outside


@in_browser
def test_api_docs_render_offline(live_server, browser):
    page, outside = _offline_page(browser, live_server)
    log = PageLog(page)
    page.goto(f"{live_server}/docs")
    operations = page.locator(".opblock")
    operations.first.wait_for(timeout=20_000)
    assert operations.count() > 30  # webgateway, JSON API, IIIF, Zarr, viewer API, auth
    assert page.locator(".opblock-summary-path", has_text="/webgateway/imgData/{image_id}/").count() >= 1
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "docs.png"))
    page.goto(f"{live_server}/redoc")
    page.locator("h1", has_text="stratascope").wait_for(timeout=20_000)
    page.locator("[role=menuitem]", has_text="List images").first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "redoc.png"))
    assert outside == [], outside
    assert not log.errors, log.errors


# -- the login form ----------------------------------------------------------------------------

@in_browser
def test_login_form_shows_a_wrong_password_in_the_page(live_server, services, browser):
    from stratascope.catalogue import accounts

    accounts.add_user(services.catalogue, "alice", password="alice-password")
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    log = PageLog(page)
    page.goto(f"{live_server}/")
    page.fill("#login input[name=username]", "alice")
    page.fill("#login input[name=password]", "wrong")
    page.click("#login button[type=submit]")
    error = page.locator("#login-error")
    error.wait_for()
    assert error.inner_text() == "wrong user name or password"
    assert page.url == f"{live_server}/"  # still the page, not a JSON document
    assert page.locator("#projects").count() == 1 and page.locator("#login input[name=password]").input_value() == ""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "login-error.png"))
    page.fill("#login input[name=password]", "alice-password")
    page.click("#login button[type=submit]")
    page.locator(".session-user", has_text="alice").wait_for()
    assert page.locator("#login").count() == 0
    expected = ("/auth/login", "status of 401")  # the refused login itself (the response, Chromium's console line)
    assert [e for e in log.errors if not any(x in e for x in expected)] == []


# -- the viewer page ---------------------------------------------------------------------------

def _swatches(page) -> list[str]:
    return page.eval_on_selector_all("#meta .meta-channels .swatch", "s => s.map(e => getComputedStyle(e).backgroundColor)")


@in_browser
def test_viewer_channels_named_and_coloured_projection_only_for_stacks_links_once(live_server, catalogue, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    log = PageLog(page)
    page.goto(f"{live_server}/view/{catalogue['loose-one']}")  # one plane
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator(".channel .channel-label").all_inner_texts() == ["DAPI", "GFP"]
    assert page.locator("#meta .meta-channels li").all_inner_texts() == ["DAPI", "GFP"]
    assert _swatches(page) == ["rgb(255, 0, 0)", "rgb(0, 255, 0)"]  # OME Color -16776961, 16711935
    assert not page.locator("#projection").is_visible()
    for link in ("iiif", "imgdata", "json"):  # each link once: in Share, not again in the panel
        assert page.locator(f'[data-link="{link}"]').count() == 1, link
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "viewer-channels.png"))
    page.goto(f"{live_server}/view/{catalogue['in-project']}")  # three planes
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#projection").is_visible()
    assert not log.errors, log.errors
