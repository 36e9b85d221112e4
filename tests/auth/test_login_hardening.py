"""Issue 14 (6, 12): request bodies are bounded before they are read; failed logins are
throttled per user name and per client address; cross-origin login POSTs are refused."""

from __future__ import annotations

import asyncio

import pytest

from stratascope.auth.throttle import LoginThrottle
from stratascope.catalogue import accounts as store

CHUNK = 64 * 2**10


def _asgi_post(app, path: str, *, declared: int | None, total: int) -> tuple[int, int]:
    """POST `total` bytes (lazily, in 64 KiB chunks) straight to the ASGI app; returns
    (status, bytes the app pulled from the client). Nothing of `total` is ever allocated."""
    pulled = 0
    sent = 0
    status = []

    async def receive():
        nonlocal pulled, sent
        if sent >= total:
            return {"type": "http.disconnect"}
        size = min(CHUNK, total - sent)
        sent += size
        pulled += size
        return {"type": "http.request", "body": bytes(size), "more_body": sent < total}

    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])

    headers = [(b"host", b"testserver"), (b"content-type", b"application/json")]
    if declared is not None:
        headers.append((b"content-length", str(declared).encode()))
    else:
        headers.append((b"transfer-encoding", b"chunked"))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "headers": headers, "client": ("127.0.0.1", 5000), "server": ("testserver", 80)}
    asyncio.run(app(scope, receive, send))
    return status[0], pulled


@pytest.mark.parametrize("path", ["/auth/login", "/auth/logout"])
def test_a_declared_huge_body_is_refused_before_reading_it(path, services):
    from stratascope.api.app import create_app

    status, pulled = _asgi_post(create_app(services), path, declared=2**30, total=2**30)
    assert status == 413
    assert pulled == 0


@pytest.mark.parametrize("path, limit", [("/auth/login", 64 * 2**10), ("/auth/logout", 2**20)])
def test_a_chunked_huge_body_is_cut_off_at_the_limit(path, limit, services):
    from stratascope.api.app import create_app

    status, pulled = _asgi_post(create_app(services), path, declared=None, total=2**30)
    assert status == (413 if path == "/auth/login" else 200)  # logout never reads its body
    assert pulled <= limit + CHUNK  # 1 GiB offered; at most the limit (+ one chunk) read


def test_body_limit_is_a_setting(monkeypatch, make_services):
    from stratascope.api.app import create_app

    monkeypatch.setenv("STRATASCOPE_MAX_BODY_BYTES", "1000")
    app = create_app(make_services())
    status, _ = _asgi_post(app, "/auth/logout", declared=1001, total=1001)
    assert status == 413
    status, _ = _asgi_post(app, "/auth/logout", declared=1000, total=1000)
    assert status == 200


def test_failed_logins_are_throttled_per_user_and_the_right_password_waits(client, services):
    store.add_user(services.catalogue, "alice", password="alice-password")
    for _ in range(5):
        wrong = client.post("/auth/login", json={"username": "alice", "password": "guess"})
        assert wrong.status_code == 401
    refused = client.post("/auth/login", json={"username": "alice", "password": "alice-password"})
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 300
    assert "stratascope_session" not in refused.cookies
    # the client address has had its 5 failures too: another user name from it waits as well
    store.add_user(services.catalogue, "bob", password="bob-password")
    other = client.post("/auth/login", json={"username": "bob", "password": "bob-password"})
    assert other.status_code == 429


def test_failures_are_counted_per_client_address_across_user_names():
    clock = [0.0]
    throttle = LoginThrottle(max_failures=5, window_seconds=300, clock=lambda: clock[0])
    for i in range(5):
        throttle.failed(throttle.keys(f"user{i}", "203.0.113.9"))
    assert throttle.retry_after(throttle.keys("someone-else", "203.0.113.9")) == 300
    assert throttle.retry_after(throttle.keys("someone-else", "198.51.100.1")) is None
    clock[0] = 299.5
    assert throttle.retry_after(throttle.keys("x", "203.0.113.9")) == 1
    clock[0] = 300.0  # the window slid past the failures
    assert throttle.retry_after(throttle.keys("x", "203.0.113.9")) is None


def test_success_clears_the_user_count_and_memory_is_bounded():
    throttle = LoginThrottle(max_failures=2, window_seconds=60, max_keys=100)
    throttle.failed(throttle.keys("alice", "a"))
    throttle.succeeded("alice")
    throttle.failed(throttle.keys("alice", "b"))
    assert throttle.retry_after(throttle.keys("alice", "c")) is None
    for i in range(1000):
        throttle.failed(throttle.keys(f"u{i}", f"addr{i}"))
    assert len(throttle._failures) <= 100


def test_cross_origin_login_posts_are_refused(client, services, monkeypatch):
    store.add_user(services.catalogue, "alice", password="alice-password")
    form = {"username": "alice", "password": "alice-password"}
    evil = client.post("/auth/login", data=form, headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403 and "evil.example" in evil.json()["message"]
    assert "stratascope_session" not in evil.cookies
    referer = client.post("/auth/login", data=form, headers={"Referer": "https://evil.example/page"})
    assert referer.status_code == 403
    site = client.post("/auth/login", data=form, headers={"Sec-Fetch-Site": "cross-site"})
    assert site.status_code == 403
    own = client.post("/auth/login", data=form, headers={"Origin": "http://testserver"})
    assert own.status_code == 200 and "stratascope_session" in own.cookies
    script = client.post("/auth/login", json=form)  # no Origin, no Referer: curl or a script
    assert script.status_code == 200


def test_configured_origins_may_post_logins(tmp_path, monkeypatch, make_services):
    from fastapi.testclient import TestClient

    from stratascope.api.app import create_app

    config = tmp_path / "stratascope.toml"
    config.write_text('[server]\nallowed_origins = ["https://viewer.example.org/"]\n'
                      '[auth]\nlogin_max_failures = 2\n')
    monkeypatch.setenv("STRATASCOPE_CONFIG", str(config))
    services = make_services()
    store.add_user(services.catalogue, "alice", password="alice-password")
    with TestClient(create_app(services)) as client:
        form = {"username": "alice", "password": "alice-password"}
        ok = client.post("/auth/login", data=form, headers={"Origin": "https://viewer.example.org"})
        assert ok.status_code == 200
        for _ in range(2):
            assert client.post("/auth/login", json={"username": "alice", "password": "x"}).status_code == 401
        assert client.post("/auth/login", json=form).status_code == 429
