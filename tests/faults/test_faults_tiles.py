"""Every tile through a faulty network: correct pixels or a clean 502/504, never a 500 or
garbage; nothing truncated is ever cached; a dead store fails in bounded time.

The faults are real: a TCP proxy on 127.0.0.1 (tests/support/proxy.py) in front of moto's
S3 server answers 503 SlowDown, resets connections mid-body, closes them after half a
body, or stalls. stratascope talks to the proxy exactly as it would to S3.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import timedelta

import imagecodecs
import numpy as np
import pytest

from stratascope import catalogue
from stratascope.pixels import CodecFactory, PixelReader, SourceFetch
from stratascope.pixels.fetch import CachedFetch
from stratascope.render.pipeline import tile_size
from stratascope.storage import RetryPolicy
from support.moto_server import free_port
from support.proxy import DelayProxy
from support.samples import smooth_array, write_ome_zarr_v04, write_tiff_pyramid

#: An upper bound for a dead store on a loaded 2-core machine; the measured figure with
#: the shipped retry/timeout policy is ~1.5 s (refused) and ~30 s (never answers).
DEAD_STORE_BOUND_S = 90

#: for the stalled-store case: the shipped policy's shape (a timeout per attempt, retried while
#: under retry_timeout, so about two attempts), scaled down from 15 s / 20 s to 2 s / 3 s
SHORT_RETRY = RetryPolicy(timeout=timedelta(seconds=2), connect_timeout=timedelta(seconds=1),
                          retry_timeout=timedelta(seconds=3), init_backoff=timedelta(milliseconds=50),
                          max_backoff=timedelta(milliseconds=500))

FAULT_MODES = {
    "503-slowdown": dict(fault_rate_503=0.1),
    "reset-mid-body": dict(reset_mid_body_rate=0.3),
    "truncated-body": dict(truncate_rate=0.3),
    "2s-stalls": dict(stall_seconds=2, stall_rate=0.04),
    # so many faults that some reads fail even after 4 retries: exercises the 502 path
    "storm": dict(fault_rate_503=0.3, reset_mid_body_rate=0.3, truncate_rate=0.3),
}


@pytest.fixture(params=["zarr", "tiff"])
def imported(request, tmp_path, upload, import_urls_sync, services):
    """An image imported from moto while the network is healthy: (image id, tile URLs)."""
    if request.param == "zarr":
        write_ome_zarr_v04(tmp_path / "img.zarr", smooth_array((2, 1, 200, 300), seed=5))
        url = upload(tmp_path / "img.zarr", "faults/img.zarr")
    else:
        write_tiff_pyramid(tmp_path / "img.ome.tif", smooth_array((2, 256, 384), seed=6), levels=2, tile=(64, 64))
        url = upload(tmp_path / "img.ome.tif", "faults/img.ome.tif")
    (result,) = import_urls_sync([url])
    assert result.status == "imported", result
    return result.id, _tile_urls(services, result.id)


def _tile_urls(services, image_id: int) -> list[str]:

    image = catalogue.get_image(services.catalogue, image_id)
    w, h = tile_size(image)
    urls = []
    for level, spec in enumerate(image.levels):
        rows, cols = -(-spec.shape[3] // h), -(-spec.shape[4] // w)
        urls += [
            f"/webgateway/render_image_region/{image_id}/0/0/?tile={level},{col},{row}&format=png"
            for row in range(rows) for col in range(cols)
        ]
    return urls


def _point_at(monkeypatch, services, endpoint: str) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    services.forget_memory()  # new stores (new endpoint), empty chunk LRU
    for kind in ("chunk/", "shardindex/"):  # source bytes cached so far: read them again, through `endpoint`
        services.cache.get().drop(kind)


def _render_all(client, urls: list[str]) -> dict[str, np.ndarray | int]:
    """url -> decoded pixels (200) or the status of a clean JSON error (502/504)."""
    out: dict[str, np.ndarray | int] = {}
    for url in urls:
        response = client.get(url)
        if response.status_code == 200:
            assert response.headers["content-type"] == "image/png"
            out[url] = imagecodecs.png_decode(response.content)
            continue
        assert response.status_code in (502, 504), (url, response.status_code, response.text)
        assert response.headers["content-type"] == "application/json"
        assert response.json()["message"].startswith("cannot read s3://"), response.text
        assert response.headers["cache-control"] == "no-store"
        out[url] = response.status_code
    return out


@pytest.mark.parametrize("mode", list(FAULT_MODES))
def test_every_tile_is_correct_or_a_clean_error_and_nothing_corrupt_is_kept(
    mode, imported, client, services, moto_server, monkeypatch
):
    image_id, urls = imported
    healthy = _render_all(client, urls)
    assert all(isinstance(v, np.ndarray) for v in healthy.values()), "the healthy network must serve every tile"

    with DelayProxy("127.0.0.1", moto_server.port, **FAULT_MODES[mode]) as proxy:
        _point_at(monkeypatch, services, proxy.endpoint)
        faulty = _render_all(client, urls)
        assert sum(proxy.faults.values()) > 0, "the proxy injected no fault: the test would prove nothing"
        for url, got in faulty.items():
            if isinstance(got, np.ndarray):
                np.testing.assert_array_equal(got, healthy[url], err_msg=f"{mode}: wrong pixels for {url}")
        if mode == "storm":
            assert any(isinstance(v, int) for v in faulty.values()), "a storm this heavy must defeat some retries"
        else:  # retries absorb nearly every occasional fault
            failed = [u for u, v in faulty.items() if isinstance(v, int)]
            assert len(failed) <= len(urls) // 10, f"{mode}: retries should absorb these faults: {failed}"

        # heal the network without resetting anything: whatever the faults left in the chunk
        # LRU (or the cache tier) is served now, so every tile must be right
        proxy.fault_rate_503 = proxy.reset_mid_body_rate = proxy.truncate_rate = proxy.stall_seconds = 0
        healed = _render_all(client, urls)
        for url in urls:
            assert isinstance(healed[url], np.ndarray), (mode, url, healed[url])
            np.testing.assert_array_equal(healed[url], healthy[url], err_msg=f"{mode} then healed: {url}")
    _assert_cache_tier_holds_only_true_bytes(services, image_id, moto_server)


def test_cache_tier_never_stores_a_truncated_or_reset_body(imported, services, moto_server, monkeypatch):
    """The read-through cache tier in front of a faulty store keeps only exact source bytes."""
    image_id, _ = imported
    image = catalogue.get_image(services.catalogue, image_id)
    with DelayProxy("127.0.0.1", moto_server.port, fault_rate_503=0.3, reset_mid_body_rate=0.3,
                    truncate_rate=0.3) as proxy:
        _point_at(monkeypatch, services, proxy.endpoint)
        reader = PixelReader(64 * 2**20, fetch=CachedFetch(SourceFetch(services.source), services.cache),
                             codecs=services.reader.make_codec)
        outcomes = []
        for level in range(len(image.levels)):
            try:
                asyncio.run(reader.read_region(image, level, c=None))
                outcomes.append("ok")
            except Exception as exc:  # noqa: BLE001 - the kind is asserted just below
                assert type(exc).__name__ == "StoreUnavailable", repr(exc)
                outcomes.append("unavailable")
        assert sum(proxy.faults.values()) > 0
    assert services.cache.get().enabled
    stored = _assert_cache_tier_holds_only_true_bytes(services, image_id, moto_server)
    assert stored > 0, f"nothing reached the cache tier ({outcomes}): the test would prove nothing"


def _assert_cache_tier_holds_only_true_bytes(services, image_id: int, moto_server) -> int:
    """Every chunk entry in the cache tier equals the source bytes it stands for."""
    from stratascope.storage import parse_url
    from support.moto_server import boto3_client

    image = catalogue.get_image(services.catalogue, image_id)
    tier = services.cache.get()
    s3 = boto3_client(moto_server.endpoint)
    expected: dict[str, tuple[str, int | None, int | None]] = {}
    for spec in image.levels:
        if spec.layout.get("kind") == "overview":  # made at import and kept in the cache tier itself
            continue
        codec = CodecFactory()(spec)
        grid = [range(-(-s // c)) for s, c in zip(spec.shape, spec.chunks)]
        for idx in itertools.product(*grid):
            loc = asyncio.run(codec.locate(idx, _no_fetch))
            if loc is not None:
                key = CachedFetch.key(loc.url, loc.start, loc.end, loc.version, image.cache_tag)
                expected[key] = (loc.url, loc.start, loc.end)
    stored = 0
    for key, _, _ in tier.backend.scan("chunk/"):
        assert key in expected, f"cache entry {key} is for no chunk of this image"
        payload = tier.get(key)
        assert payload is not None, f"cache entry {key} is corrupt"
        url, start, end = expected[key]
        location = parse_url(url)
        extra = {} if start is None else {"Range": f"bytes={start}-{end - 1}"}
        truth = s3.get_object(Bucket=location.bucket, Key=location.key, **extra)["Body"].read()
        assert payload == truth, f"cache entry {key} differs from the source bytes of {url} [{start}, {end})"
        stored += 1
    return stored


async def _no_fetch(*args):  # plain Zarr and TIFF chunks are located without reading anything
    raise AssertionError("locating a chunk must not read from the store here")


@pytest.fixture
def one_tile(tmp_path, upload, import_urls_sync):
    write_ome_zarr_v04(tmp_path / "dead.zarr", smooth_array((1, 1, 128, 128), seed=7))
    (result,) = import_urls_sync([upload(tmp_path / "dead.zarr", "dead/dead.zarr")])
    assert result.status == "imported", result
    return f"/webgateway/render_image_region/{result.id}/0/0/?tile=0,0,0&format=png"


def _timed_get(client, url: str) -> tuple[float, object]:
    started = time.monotonic()
    response = client.get(url)
    return time.monotonic() - started, response


def test_refused_connections_give_a_502_quickly(one_tile, client, services, monkeypatch):
    _point_at(monkeypatch, services, f"http://127.0.0.1:{free_port()}")  # nothing listens there
    elapsed, response = _timed_get(client, one_tile)
    assert response.status_code == 502, response.text
    assert response.json()["message"].startswith("cannot read s3://")
    assert elapsed < DEAD_STORE_BOUND_S, f"a refused connection took {elapsed:.1f} s"
    print(f"refused connection -> 502 after {elapsed:.1f} s")


def test_a_store_that_never_answers_gives_a_504_in_bounded_time(one_tile, make_services, moto_server,
                                                                 monkeypatch):
    from fastapi.testclient import TestClient

    from stratascope.api.app import create_app

    # the shipped policy: 15 s per attempt, retried while under 20 s -> about 30 s; this test
    # runs the same policy scaled down (SHORT_RETRY: 2 s per attempt, retried while under 3 s)
    shipped = RetryPolicy()
    assert shipped.timeout == timedelta(seconds=15) and shipped.retry_timeout == timedelta(seconds=20)
    fast = make_services(retry=SHORT_RETRY)
    with TestClient(create_app(fast)) as client, \
            DelayProxy("127.0.0.1", moto_server.port, stall_seconds=3600) as proxy:
        _point_at(monkeypatch, fast, proxy.endpoint)
        elapsed, response = _timed_get(client, one_tile)
        assert proxy.faults["stall"] >= 1
    assert response.status_code == 504, response.text
    assert "timed out" in response.json()["message"]
    assert elapsed < DEAD_STORE_BOUND_S, f"a stalled store took {elapsed:.1f} s to fail"
    per_attempt = SHORT_RETRY.timeout.total_seconds()
    assert elapsed >= per_attempt, f"failed after {elapsed:.1f} s: faster than one request timeout?"
    print(f"stalled store -> 504 after {elapsed:.1f} s")
