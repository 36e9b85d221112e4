"""The plate grid on the home page in a real browser (Debian's Chromium via Playwright):
screen → plate → grid of field thumbnails → field switch → metadata → viewer."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from plate_samples import write_plate

from stratascope.catalogue import plates as hcs

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "plates"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
                 "--no-first-run", "--disable-component-update", "--disable-sync"]

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (scripts/install-system-deps.sh)")]


@pytest.fixture
def live_server(services):
    import uvicorn

    from stratascope.api.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
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


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="python playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def wells(services, tmp_path, import_urls_sync):
    """Imported before the browser starts (Playwright's sync API runs an event loop of its own)."""
    db = services.catalogue
    write_plate(tmp_path / "plate.zarr", "0.4", wells=["A/1", "A/3", "B/2"])
    results = import_urls_sync([str(tmp_path / "plate.zarr")], screen="Screen one")
    return {w.path: w for w in hcs.list_wells(db, plate_id=results[0].plate_id)[0]}


def test_plate_grid_in_the_browser(live_server, wells, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("response", lambda r: errors.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None)

    page.goto(f"{live_server}/")
    page.locator("#screens button", has_text="Screen one").click()
    page.locator("#datasets-title", has_text="Plates").wait_for()
    page.locator("#datasets button", has_text="Test plate").click()
    grid = page.locator("table.plate-grid")
    grid.wait_for()
    assert grid.locator("thead th").all_inner_texts() == ["", "1", "2", "3"]
    assert grid.locator("tbody th").all_inner_texts() == ["A", "B"]
    cells = grid.locator("td.well[data-image-id]")
    assert cells.count() == 3 and grid.locator("td.well.empty").count() == 3
    page.wait_for_function("() => [...document.querySelectorAll('.plate-grid img')]"
                           ".every(i => i.complete && i.naturalWidth > 0)")
    ids = sorted(int(v) for v in cells.evaluate_all("cs => cs.map(c => c.dataset.imageId)"))
    assert ids == sorted(w.samples[0].image_id for w in wells.values())
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "plate-grid.png"))

    # field 2: every well now shows its second field
    page.select_option("#plate-field", "1")
    second = wells["B/2"].samples[1].image_id
    page.locator(f'td.well[data-image-id="{second}"]').wait_for()
    assert "field=1" in page.url
    page.locator(f'td.well[data-image-id="{second}"] button.thumb').click()
    page.locator("#meta h3", has_text="Test plate [Well B2, Field 2]").wait_for()
    page.locator(f'td.well[data-image-id="{second}"] button.thumb').dblclick()
    page.wait_for_url(f"**/view/{second}**")
    page.wait_for_selector("body[data-ready=true]")
    assert not errors, errors
