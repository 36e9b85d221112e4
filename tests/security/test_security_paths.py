"""Path traversal, import allow-lists (no SSRF) and HTTP paths that take keys."""

from __future__ import annotations

import socket
import threading

import pytest

from stratascope import catalogue
from stratascope.storage import SOURCE_REQUESTS, InvalidURL, NotAllowed, parse_url
from support.samples import smooth_array, write_ome_zarr_v04

# -- URL parsing ---------------------------------------------------------------------------

TRAVERSALS = [
    "s3://bucket/data/../secret",
    "s3://bucket/data/%2e%2e/secret",
    "s3://bucket/data/%2E%2E/secret",
    "s3://bucket/data%2f..%2fsecret",
    "s3://bucket/data/..%2fsecret",
    "s3://bucket/..",
    "https://host.example/data/../../admin",
    "https://host.example/data/%2e%2e%2f%2e%2e%2fadmin",
    "file:///data/../etc/passwd",
    "file:///data/%2e%2e/etc/passwd",
    "file:///data%2f..%2f..%2fetc/passwd",
    "/data/../etc/passwd",
    "data/../../etc/passwd",
]


@pytest.mark.parametrize("url", TRAVERSALS)
def test_dot_dot_in_any_spelling_is_refused(url):
    with pytest.raises(InvalidURL):
        parse_url(url)


@pytest.mark.parametrize("relative", ["..", "../x", "a/../../x", "%2e%2e/x"])
def test_child_locations_cannot_climb(relative):
    from urllib.parse import unquote

    with pytest.raises(InvalidURL):
        parse_url("s3://bucket/image.zarr").child(unquote(relative))


def test_double_encoding_stays_a_literal_name():
    """%252e%252e decodes once to the literal name "%2e%2e": a key, not a parent directory."""
    location = parse_url("s3://bucket/data/%252e%252e/x")
    assert location.key == "data/%2e%2e/x"


@pytest.mark.parametrize("url", ["file://evil.example/etc/passwd", "ftp://host/x", "gopher://x/y", "s3:///key",
                                 "s3://bucket/key?versionId=1", "s3://bucket/key#frag", "s3://bucket/a\x00b"])
def test_odd_urls_are_refused(url):
    with pytest.raises(InvalidURL):
        parse_url(url)


# -- [import] allowed_prefixes -------------------------------------------------------------


def _allow(make_services, tmp_path, *prefixes: str):
    """Services that read the new stratascope.toml (as a restart would)."""
    quoted = ", ".join(f'"{p}"' for p in prefixes)
    (tmp_path / "stratascope.toml").write_text(f"[import]\nallowed_prefixes = [{quoted}]\n")
    return make_services()


@pytest.mark.parametrize(("url", "allowed"), [
    ("s3://bucket", True),
    ("s3://bucket/", True),
    ("s3://bucket/lab/img.zarr", True),
    ("s3://bucket-evil/lab/img.zarr", False),
    ("s3://bucketx", False),
    ("s3://BUCKET/lab", False),
    ("s3://bucket@evil.example/x", False),
    ("s3://other/bucket/x", False),
    ("gs://bucket/lab", False),
    ("s3://data-bucket/pub", True),
    ("s3://data-bucket/pub/", True),
    ("s3://data-bucket/pub/a/b.tif", True),
    ("s3://data-bucket/public/x.tif", False),
    ("s3://data-bucket/pub-evil/x.tif", False),
    ("s3://data-bucket/pub/../private/x.tif", None),  # invalid before it is judged
    ("s3://data-bucket/pub/%2e%2e/private/x.tif", None),
    ("s3://data-bucket/x/pub", False),
    ("file:///data", True),
    ("file:///data/img.zarr", True),
    ("/data/img.zarr", True),
    ("/data/./img.zarr", True),
    ("file:///data2/img.zarr", False),
    ("file:///dat", False),
    ("file:///data/../etc/passwd", None),
    ("/data2", False),
    ("https://host.example/pub/x.tif", True),
    ("https://host.example/public/x.tif", False),
    ("https://host.example.evil/pub/x.tif", False),
    ("http://host.example/pub/x.tif", False),
])
def test_allowed_prefixes_are_whole_path_components(make_services, tmp_path, url, allowed):
    from stratascope.ingest.run import check_allowed

    services = _allow(make_services, tmp_path, "s3://bucket", "s3://data-bucket/pub/", "file:///data",
                      "https://host.example/pub")
    prefixes = services.settings.allowed_prefixes
    if allowed is None:
        with pytest.raises(InvalidURL):
            check_allowed(url, prefixes)
    elif allowed:
        check_allowed(url, prefixes)
    else:
        with pytest.raises(NotAllowed):
            check_allowed(url, prefixes)


def _zarr(folder):
    write_ome_zarr_v04(folder, smooth_array((1, 1, 64, 64), seed=11))
    return folder


def test_import_outside_the_allowed_prefixes_reads_nothing_and_registers_nothing(
    make_services, tmp_path, import_urls_sync
):
    allowed, other = tmp_path / "data", tmp_path / "data2"
    _zarr(allowed / "ok.zarr")
    _zarr(other / "no.zarr")
    services = _allow(make_services, tmp_path, f"file://{allowed}")
    before = SOURCE_REQUESTS.snapshot()
    (refused,) = import_urls_sync([str(other / "no.zarr")], services)
    assert (SOURCE_REQUESTS.snapshot() - before).total == 0, "a refused import must not touch the store"
    assert refused.status == "failed" and "not under an allowed import prefix" in refused.error
    assert catalogue.list_images(services.catalogue)[1] == 0
    (accepted,) = import_urls_sync([str(allowed / "ok.zarr")], services)
    assert accepted.status == "imported", accepted


def test_symlink_out_of_an_allowed_prefix_is_refused(make_services, tmp_path, import_urls_sync):
    allowed, secret = tmp_path / "data", tmp_path / "secret"
    _zarr(secret / "img.zarr")
    allowed.mkdir()
    (allowed / "link.zarr").symlink_to(secret / "img.zarr", target_is_directory=True)
    (allowed / "linkdir").symlink_to(secret, target_is_directory=True)
    services = _allow(make_services, tmp_path, f"file://{allowed}")
    for url in (str(allowed / "link.zarr"), f"file://{allowed}/linkdir/img.zarr"):
        (result,) = import_urls_sync([url], services)
        assert result.status == "failed" and "allowed import prefix" in (result.error or ""), result
    assert catalogue.list_images(services.catalogue)[1] == 0


# -- HTTP: no endpoint fetches a URL, keys cannot climb --------------------------------------

URL_LIKE_NAMES = {"url", "uri", "href", "src", "source", "endpoint", "target", "redirect", "callback", "fetch",
                  "location", "store", "bucket", "prefix"}


def api_routes(routes):
    """Every APIRoute, also inside included routers (FastAPI >= 0.165 includes them lazily)."""
    from fastapi.routing import APIRoute

    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from api_routes(route.original_router.routes)


def test_no_route_takes_a_url_parameter(services):
    from stratascope.api.app import create_app

    app = create_app(services)
    routes = list(api_routes(app.routes))
    assert len(routes) > 20
    for route in routes:
        params = []
        for dependant in [route.dependant, *route.dependant.dependencies]:
            params += dependant.path_params + dependant.query_params + dependant.header_params
            params += dependant.body_params + dependant.cookie_params
        names = {p.alias.lower() for p in params} | {p.name.lower() for p in params}
        for body in route.dependant.body_params:  # a JSON body model's own fields
            names |= {n.lower() for n in getattr(body.field_info.annotation, "model_fields", {})}
        assert not names & URL_LIKE_NAMES, f"{route.path} takes {names & URL_LIKE_NAMES}"


class _Canary:
    """A TCP listener that counts connections: any server-side fetch of a URL we pass in lands here."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.hits = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
                self.hits += 1
                conn.close()
            except OSError:
                continue

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def test_no_endpoint_fetches_a_url_given_in_the_request(client, sample_zarr):
    """Every GET route with every string parameter set to a URL of a canary listener: no connection."""
    from urllib.parse import quote

    image_id, _ = sample_zarr
    canary = _Canary()
    try:
        targets = [f"http://127.0.0.1:{canary.port}/x", "s3://canary/x", f"//127.0.0.1:{canary.port}/x"]
        for route in [r for r in api_routes(client.app.routes) if "GET" in r.methods]:
            for target in targets:
                path = route.path_format
                for param in route.dependant.path_params:
                    if param.name in ("image_id", "identifier", "ref"):
                        value = str(image_id)
                    elif param.name == "key":  # {key:path}: the URL's own slashes stay
                        value = target.replace("//", "/")
                    else:
                        value = quote(target, safe="")
                    path = path.replace("{" + param.name + "}", value)
                query = {p.alias: target for p in route.dependant.query_params}
                for dependency in route.dependant.dependencies:
                    query.update({p.alias: target for p in dependency.query_params})
                response = client.get(path, params=query)
                assert response.status_code < 500, (path, query, response.status_code, response.text[:200])
        assert canary.hits == 0, f"the server connected to a URL taken from a request ({canary.hits} times)"
    finally:
        canary.close()


TRAVERSAL_KEYS = [
    "../../../../etc/passwd", "..%2f..%2f..%2fetc%2fpasswd", "%2e%2e/%2e%2e/etc/passwd", "0/../../../etc/passwd",
    "....//....//etc/passwd", "%252e%252e/etc/passwd", "..\\..\\etc\\passwd", "/etc/passwd", "0/%00/.zarray",
]


def test_keys_in_http_paths_cannot_reach_files(client, sample_zarr):
    image_id, _ = sample_zarr
    for prefix in (f"/zarr/{image_id}.zarr/", f"/zarr/v3/{image_id}.zarr/", "/static/"):
        for key in TRAVERSAL_KEYS:
            response = client.get(prefix + key)
            assert response.status_code in (400, 404, 422), (prefix + key, response.status_code, response.text[:200])
            assert b"root:" not in response.content
