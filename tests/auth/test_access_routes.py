"""Every route that takes an image, project or dataset id, walked from the app itself (so a new
route is covered as soon as it exists), called by anonymous, bob (member of another group),
alice (member of the owning group) and admin on a public and a private object.

- Callers who may not see the private object get exactly what they get for an id that does
  not exist (404 wherever a missing id is a 404): nothing tells them it exists.
- Callers who may see it get the same status as for the public object (same pixels).
- The public object answers the same to everyone, no login needed.
"""

from __future__ import annotations

import re

import pytest

MISSING = 987654
#: path parameters that name the object under test, by object kind
OBJECT_PARAMS = {"image_id": "image", "identifier": "image", "ref": "image", "project_id": "project",
                 "dataset_id": "dataset", "screen_id": "screen", "plate_id": "plate", "well_id": "well"}
#: query strings some routes need to answer at all
QUERIES = {"/webgateway/render_image_region/{image_id}/{z}/{t}/": "tile=0,0,0"}


def fill(path: str, name: str) -> str:
    """A valid value for a path parameter that is not the object id; unknown names fail the test."""
    if path.startswith("/iiif/"):
        values = {"region": "full", "size": "max", "rotation": "0", "quality_format": "default.jpg"}
    elif path.startswith("/zarr/"):
        values = {"key": "zarr.json" if path.startswith("/zarr/v3/") else ".zattrs"}
    else:
        values = {"z": "0", "t": "0", "w": "64", "h": "64", "size": "64", "c": "0", "key": "size",
                  "field": "0", "acquisition": "0", "index": "0"}
    if name not in values:
        pytest.fail(f"route {path} has a path parameter {name!r} this test does not know: add a value to fill()")
    return values[name]


def all_routes(app) -> list[tuple[str, set[str]]]:
    """(full path, methods) of every route, also inside included routers."""
    try:  # FastAPI >= 0.13x keeps included routers nested
        from fastapi.routing import iter_route_contexts
    except ImportError:
        return [(r.path, set(r.methods or ())) for r in app.routes if hasattr(r, "path")]
    return [(c.path, set(c.methods or ())) for c in iter_route_contexts(app.routes)]


def object_routes(app) -> list[tuple[str, str, str]]:
    """(path template, object parameter, kind) of every GET route naming one object."""
    found = []
    for path, methods in all_routes(app):
        if "GET" not in methods:
            continue
        params = re.findall(r"{(\w+)(?::\w+)?}", path)
        named = [p for p in params if p in OBJECT_PARAMS]
        unknown = [p for p in params if p.endswith("_id") and p not in OBJECT_PARAMS]
        assert not unknown, f"{path}: id parameter(s) {unknown} are not covered by the access tests"
        if named:
            assert len(named) == 1, path
            found.append((path, named[0], OBJECT_PARAMS[named[0]]))
    return found


def url_for(path: str, param: str, object_id: int) -> str:
    value = f"{object_id}.zarr" if param == "ref" else str(object_id)
    url = path.replace("{" + param + "}", value)
    for name in re.findall(r"{(\w+)(?::\w+)?}", url):
        url = re.sub(r"{" + name + r"(?::\w+)?}", fill(path, name), url)
    query = QUERIES.get(path)
    return f"{url}?{query}" if query else url


def outcome(response, object_id: int):
    """Status and body with the requested id blanked, to compare a hidden object with a missing one."""
    kind = response.headers.get("content-type", "")
    if "json" in kind:
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("message"), str):  # "image 7 not found"
            body = {**body, "message": re.sub(rf"\b{object_id}\b", "ID", body["message"])}
    elif kind.startswith("text/html"):
        body = response.text
    else:
        body = None
    return response.status_code, body


def test_every_object_route_hides_private_objects(client, world, credentials):
    routes = object_routes(client.app)
    kinds = {kind for _, _, kind in routes}
    assert {"image", "project", "dataset"} <= kinds and len(routes) > 25, routes
    ids = {kind: (getattr(world, f"public_{kind}"), getattr(world, f"private_{kind}")) for kind in kinds}
    problems = []
    for path, param, kind in routes:
        public_id, private_id = ids[kind]

        def get(object_id, who, path=path, param=param):
            return client.get(url_for(path, param, object_id), headers=credentials[who], follow_redirects=False)

        reference = get(public_id, "admin").status_code
        missing = get(MISSING, "anonymous")
        if reference >= 500 or reference == 404:
            problems.append(f"{path}: admin gets {reference} for a public {kind}")
            continue
        if missing.status_code != 404 and not (
                300 <= missing.status_code < 400  # redirects that do not look anything up
                or (missing.status_code == 200 and missing.json().get("data") == [])):  # omero-web list filters
            problems.append(f"{path}: a missing {kind} answers {missing.status_code}")
        for who in credentials:
            if (status := get(public_id, who).status_code) != reference:
                problems.append(f"{path}: public {kind}: {who} gets {status}, admin {reference}")
        for who in ("alice", "admin"):
            response = get(private_id, who)
            if response.status_code != reference:
                problems.append(f"{path}: private {kind}: {who} gets {response.status_code}, expected {reference}")
            if "public" in response.headers.get("cache-control", ""):
                problems.append(f"{path}: private {kind} answered with {response.headers['cache-control']!r}")
        for who in ("anonymous", "bob"):
            hidden = outcome(get(private_id, who), private_id)
            if hidden != outcome(missing, MISSING):
                problems.append(f"{path}: private {kind} for {who}: {hidden[0]} {str(hidden[1])[:120]!r}, "
                                f"a missing one: {missing.status_code} {missing.text[:120]!r}")
    assert not problems, "\n".join(problems)


def test_hidden_image_gets_404_even_with_a_known_etag(client, world, credentials):
    url = f"/webgateway/render_thumbnail/{world.private_image}/"
    seen = client.get(url, headers=credentials["alice"])
    assert seen.status_code == 200 and seen.headers["cache-control"].startswith("private")
    again = client.get(url, headers={**credentials["alice"], "If-None-Match": seen.headers["etag"]})
    assert again.status_code == 304 and again.headers["cache-control"].startswith("private")
    for who in ("anonymous", "bob"):
        response = client.get(url, headers={**credentials[who], "If-None-Match": seen.headers["etag"]})
        assert response.status_code == 404, who


def test_public_answers_to_anonymous_callers_stay_publicly_cacheable(client, world, credentials):
    url = f"/webgateway/render_image_region/{world.public_image}/0/0/?tile=0,0,0"
    anonymous = client.get(url)
    assert anonymous.status_code == 200 and anonymous.headers["cache-control"].startswith("public")
    # the same bytes for a logged-in caller, but never stored by a shared cache
    member = client.get(url, headers=credentials["bob"])
    assert member.content == anonymous.content and member.headers["cache-control"].startswith("private")
    listing = client.get("/api/v0/m/projects/", headers=credentials["alice"])
    assert listing.headers["cache-control"] == "private"


def test_thumbnail_batches_answer_null_for_hidden_images(client, world, credentials):
    query = f"/webgateway/get_thumbnails/?id={world.public_image}&id={world.private_image}"
    for who, sees_private in (("anonymous", False), ("bob", False), ("alice", True), ("admin", True)):
        body = client.get(query, headers=credentials[who]).json()
        assert body[str(world.public_image)].startswith("data:image/jpeg;base64,"), who
        assert (body[str(world.private_image)] is not None) == sees_private, who


def test_iiif_names_of_hidden_images_are_unknown(services, client, world, credentials):
    # all three sample images are called "image": anonymous callers see two, so the name is ambiguous
    assert client.get("/iiif/3/image/info.json").status_code == 409
    from stratascope.catalogue import repository

    repository.set_visibility(services.catalogue, "project", "Open", public=False)
    # now the orphan is the only "image" anonymous callers (and bob) can see: no hint of the others
    for who in ("anonymous", "bob"):
        info = client.get("/iiif/3/image/info.json", headers=credentials[who])
        assert info.status_code == 200, who
        assert client.get(f"/iiif/3/{world.orphan_image}/info.json").json()["width"] == info.json()["width"]
    assert client.get("/iiif/3/image/info.json", headers=credentials["admin"]).status_code == 409


def test_bad_token_is_401_and_no_token_is_anonymous(client, world):
    response = client.get(f"/webgateway/imgData/{world.public_image}/", headers={"Authorization": "Bearer ssp_nope"})
    assert response.status_code == 401 and "invalid" in response.json()["message"]
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert client.get(f"/webgateway/imgData/{world.public_image}/").status_code == 200
