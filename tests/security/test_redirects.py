"""Issue 14 #1: an HTTP source that redirects is never followed (obstore would follow it
anywhere: SSRF past the import allow-list), neither at import nor when downloading; and a
download only returns bytes matching the recorded size and ETag."""

from __future__ import annotations

import numpy as np
import pytest

from stratascope.catalogue import get_image
from support.range_http import RangeHTTPServer
from support.samples import write_tiff_pyramid


@pytest.fixture
def http_sources(tmp_path, monkeypatch):
    """(source server over a folder with img.tif, canary server that must see no request)."""
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    (tmp_path / "web").mkdir()
    (tmp_path / "canary").mkdir()
    (tmp_path / "canary" / "secret.bin").write_bytes(b"CANARY-SECRET" * 10)
    write_tiff_pyramid(tmp_path / "web" / "img.tif", np.arange(2 * 64 * 64, dtype=np.uint16).reshape(2, 64, 64),
                       levels=1, tile=(32, 32))
    with RangeHTTPServer(tmp_path / "web") as source, RangeHTTPServer(tmp_path / "canary") as canary:
        yield source, canary


def test_import_refuses_a_redirecting_source(http_sources, make_services, import_urls_sync):
    source, canary = http_sources
    services = make_services()
    source.redirects["img.tif"] = f"{canary.url}/secret.bin"
    result = import_urls_sync([f"{source.url}/img.tif"], services)[0]
    assert result.status == "failed" and "redirect" in result.error, result
    assert sum(canary.requests.values()) == 0


def test_download_refuses_a_source_that_starts_redirecting(http_sources, make_services, import_urls_sync):
    from fastapi.testclient import TestClient

    from stratascope.api.app import create_app

    source, canary = http_sources
    services = make_services()
    result = import_urls_sync([f"{source.url}/img.tif"], services)[0]
    assert result.status == "imported", result
    original = (source._server.root / "img.tif").read_bytes()
    with TestClient(create_app(services)) as client:
        path = f"/webgateway/archived_files/download/{result.id}/"
        response = client.get(path)
        assert response.status_code == 200 and response.content == original
        source.redirects["img.tif"] = f"{canary.url}/secret.bin"
        response = client.get(path)
        assert response.status_code == 502, response.text
        assert "redirect" in response.json()["message"] and b"CANARY" not in response.content
        assert sum(canary.requests.values()) == 0
        # a changed object (same URL, other bytes) is refused, not served
        del source.redirects["img.tif"]
        (source._server.root / "img.tif").write_bytes(original[:-10] + b"0123456789")
        response = client.get(path)
        assert response.status_code == 409 and "changed since import" in response.json()["message"], response.text
        assert get_image(services.catalogue, result.id).sources[0].size == len(original)
