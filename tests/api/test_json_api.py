"""The OMERO.web JSON API (`/api/`), checked field by field against omero-web's shapes.

Expected dicts are written from the sources, not from our output:
- omero-web `omeroweb/api/views.py` (api_versions, api_base, the `urls` dict of each view),
  `api_query.py` (query_objects / validate_opts -> "meta"), `decorators.py` (json_response:
  X-OMERO-ApiVersion on every reply, errors as {"message": ...}), `api_settings.py`
  (limit 200, max_limit 500, API_VERSION "0.2");
- omero-marshal `omero_marshal/encode/encoders/` (project.py, dataset.py, image.py, pixels.py,
  channel.py, pixelstype.py, dimensionorder.py; `Encoder.encode_unit`, `Encoder.rgba_to_int`);
- the OMERO docs page `omero/developers/json-api.rst` (example responses).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

OME = "http://www.openmicroscopy.org/Schemas/OME/2016-06"  # omero_marshal.OME_SCHEMA_URL
BASE = "http://testserver/api/v0/"  # TestClient's host; omero-web uses request.build_absolute_uri


def _ome_tiff(path: Path, data_tczyx: np.ndarray, **metadata) -> Path:
    """An OME-TIFF written by tifffile (an independent writer) with OME-XML metadata."""
    tifffile.imwrite(path, data_tczyx, ome=True, photometric="minisblack", metadata={"axes": "TCZYX", **metadata})
    return path


def _small(name: str, tmp_path: Path, seed: int) -> Path:
    data = np.random.default_rng(seed).integers(0, 255, (1, 1, 1, 16, 24), dtype=np.uint8)
    return _ome_tiff(tmp_path / f"{name}.ome.tif", data, Name=name)


@pytest.fixture
def tree(tmp_path, import_urls_sync, services):
    """Two projects with names that sort differently by id and by lower(name) (omero-web's order).

    zeta project / Z dataset : "D-rich" (full OME-XML metadata), "a-small"
    Alpha project / B dataset: "c-small", "B-small", "b-small"
    Returns {name: id} for images, projects and datasets.
    """
    rich = np.arange(2 * 2 * 3 * 20 * 30, dtype=np.uint8).reshape(2, 2, 3, 20, 30)
    rich_path = _ome_tiff(
        tmp_path / "rich.ome.tif", rich, Name="D-rich", Description="two channels, three planes",
        AcquisitionDate="2021-03-04T05:06:07",
        PhysicalSizeX=0.25, PhysicalSizeXUnit="µm", PhysicalSizeY=0.25, PhysicalSizeYUnit="µm",
        PhysicalSizeZ=500.0, PhysicalSizeZUnit="nm", TimeIncrement=1.5, TimeIncrementUnit="s",
        Channel={"Name": ["DAPI", "GFP"], "Color": [-16776961, 16711935], "EmissionWavelength": [461.0, 509.0]},
    )
    ids = {}
    plan = [("zeta project", "Z dataset", rich_path, "D-rich"),
            ("zeta project", "Z dataset", _small("a-small", tmp_path, 1), "a-small"),
            ("Alpha project", "B dataset", _small("c-small", tmp_path, 2), "c-small"),
            ("Alpha project", "B dataset", _small("B-small", tmp_path, 3), "B-small"),
            ("Alpha project", "B dataset", _small("b-small", tmp_path, 4), "b-small")]
    for project, dataset, path, name in plan:
        (result,) = import_urls_sync([str(path)], project=project, dataset=dataset)
        assert result.status == "imported", result
        ids[name] = result.id
    from stratascope import catalogue

    for record in catalogue.list_projects(services.catalogue)[0]:
        ids[record.name] = record.id
    for record in catalogue.list_datasets(services.catalogue)[0]:
        ids[record.name] = record.id
    return ids


def _get(client, path: str, status: int = 200) -> dict:
    response = client.get(path)
    assert response.status_code == status, (path, response.status_code, response.text)
    assert response.headers["X-OMERO-ApiVersion"] == "0.2"  # omero-web json_response
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


# -- entry points -------------------------------------------------------------------------

def test_api_versions(client):
    # omero-web views.api_versions
    assert _get(client, "/api/") == {"data": [{"version": "0", "url:base": BASE}]}


def test_api_base_lists_omero_webs_urls_that_are_served(client):
    # omero-web views.api_base, less the URLs stratascope does not answer (experimenters,
    # experimentergroups, rois, token, servers, login, save): a client following one gets no 404
    assert _get(client, "/api/v0/") == {
        "url:projects": BASE + "m/projects/",
        "url:datasets": BASE + "m/datasets/",
        "url:images": BASE + "m/images/",
        "url:screens": BASE + "m/screens/",
        "url:plates": BASE + "m/plates/",
        "url:schema": OME,
    }


def test_every_advertised_url_answers(client, tree):
    """Each url:* of /api/v0/ and of every object reached from it answers, none is a 404."""
    seen, todo = set(), ["/api/v0/"]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code, response.text)
        body = response.json()
        objects = body.get("data")
        objects = objects if isinstance(objects, list) else [objects] if isinstance(objects, dict) else []
        for obj in [body, *objects]:
            for key, url in obj.items():
                if key.startswith("url:") and key != "url:schema":
                    assert url.startswith("http://testserver/api/v0/"), (key, url)
                    todo.append(url[len("http://testserver"):])
    assert len(seen) > 20


def test_urls_follow_the_host_the_client_used(client):
    response = client.get("/api/", headers={"Host": "images.example.org:8443"})
    assert response.json()["data"][0]["url:base"] == "http://images.example.org:8443/api/v0/"


def test_empty_catalogue_lists(client):
    for kind in ("projects", "datasets", "images"):
        assert _get(client, f"/api/v0/m/{kind}/") == {
            "data": [], "meta": {"offset": 0, "limit": 200, "maxLimit": 500, "totalCount": 0}}


# -- projects -----------------------------------------------------------------------------

def _project(ids, name, *, in_list=True, child_count=None):
    # omero-marshal Project201606Encoder + ProjectsView.urls (list) / ProjectView.urls (single)
    pid = ids[name]
    out = {"@id": pid, "@type": f"{OME}#Project", "Name": name,
           "url:datasets": f"{BASE}m/projects/{pid}/datasets/"}
    if in_list:
        out["url:project"] = f"{BASE}m/projects/{pid}/"
    if child_count is not None:
        out["omero:childCount"] = child_count
    return out


def test_projects_list_ordered_by_lower_name(client, tree):
    # ProjectsView orders by lower(obj.name): "Alpha project" before "zeta project"
    assert _get(client, "/api/v0/m/projects/") == {
        "data": [_project(tree, "Alpha project"), _project(tree, "zeta project")],
        "meta": {"offset": 0, "limit": 200, "maxLimit": 500, "totalCount": 2},
    }


def test_projects_child_count_only_for_exact_true(client, tree):
    # ObjectsView.get_opts: child_count = request.GET.get("childCount") == "true"
    body = _get(client, "/api/v0/m/projects/?childCount=true")
    assert body["data"] == [_project(tree, "Alpha project", child_count=1),
                            _project(tree, "zeta project", child_count=1)]
    assert "omero:childCount" not in _get(client, "/api/v0/m/projects/?childCount=True")["data"][0]


def test_single_project(client, tree):
    pid = tree["zeta project"]
    assert _get(client, f"/api/v0/m/projects/{pid}/") == {"data": _project(tree, "zeta project", in_list=False)}
    assert _get(client, f"/api/v0/m/projects/{pid}/?childCount=true") == {
        "data": _project(tree, "zeta project", in_list=False, child_count=1)}


def test_projects_by_dataset(client, tree):
    expected = [_project(tree, "Alpha project")]
    assert _get(client, f"/api/v0/m/projects/?dataset={tree['B dataset']}")["data"] == expected
    body = _get(client, f"/api/v0/m/datasets/{tree['B dataset']}/projects/")
    assert body == {"data": expected, "meta": {"offset": 0, "limit": 200, "maxLimit": 500, "totalCount": 1}}
    assert _get(client, "/api/v0/m/projects/?dataset=987654")["meta"]["totalCount"] == 0


# -- datasets -----------------------------------------------------------------------------

def _dataset(ids, name, *, in_list=True, child_count=None):
    # omero-marshal Dataset201606Encoder + DatasetsView.urls (list) / DatasetView.urls (single)
    did = ids[name]
    out = {"@id": did, "@type": f"{OME}#Dataset", "Name": name,
           "url:images": f"{BASE}m/datasets/{did}/images/",
           "url:projects": f"{BASE}m/datasets/{did}/projects/"}
    if in_list:
        out["url:dataset"] = f"{BASE}m/datasets/{did}/"
    if child_count is not None:
        out["omero:childCount"] = child_count
    return out


def test_datasets_list_and_filters(client, tree):
    both = [_dataset(tree, "B dataset"), _dataset(tree, "Z dataset")]
    assert _get(client, "/api/v0/m/datasets/") == {
        "data": both, "meta": {"offset": 0, "limit": 200, "maxLimit": 500, "totalCount": 2}}
    zeta = tree["zeta project"]
    only_z = {"data": [_dataset(tree, "Z dataset")],
              "meta": {"offset": 0, "limit": 200, "maxLimit": 500, "totalCount": 1}}
    assert _get(client, f"/api/v0/m/datasets/?project={zeta}") == only_z
    assert _get(client, f"/api/v0/m/projects/{zeta}/datasets/") == only_z
    assert _get(client, f"/api/v0/m/datasets/?image={tree['D-rich']}") == only_z
    assert _get(client, f"/api/v0/m/images/{tree['D-rich']}/datasets/") == only_z
    # both filters at once (DatasetsView handles project and image independently)
    assert _get(client, f"/api/v0/m/datasets/?project={tree['Alpha project']}&image={tree['D-rich']}")["data"] == []


def test_datasets_child_count_is_image_count(client, tree):
    body = _get(client, "/api/v0/m/datasets/?childCount=true")
    assert body["data"] == [_dataset(tree, "B dataset", child_count=3), _dataset(tree, "Z dataset", child_count=2)]
    did = tree["B dataset"]
    assert _get(client, f"/api/v0/m/datasets/{did}/?childCount=true") == {
        "data": _dataset(tree, "B dataset", in_list=False, child_count=3)}
    assert _get(client, f"/api/v0/m/datasets/{did}/") == {"data": _dataset(tree, "B dataset", in_list=False)}


def test_orphaned_datasets_are_none(client, tree):
    # every dataset belongs to a project here, so ?orphaned=true (DatasetWrapper) finds nothing
    assert _get(client, "/api/v0/m/datasets/?orphaned=true")["meta"]["totalCount"] == 0


# -- images -------------------------------------------------------------------------------

def _image_summary(ids, name, pixels, **fields):
    # omero-marshal Image201606Encoder with Pixels loaded (ImagesView: load_pixels, no channels)
    iid = ids[name] if isinstance(ids, dict) else ids
    return {"@id": iid, "@type": f"{OME}#Image", "Name": name, "omero:series": 0, **fields,
            "Pixels": pixels, "url:image": f"{BASE}m/images/{iid}/",
            "url:datasets": f"{BASE}m/images/{iid}/datasets/"}


def _small_pixels(iid):
    # Pixels201606Encoder; DimensionOrder / PixelsType are EnumEncoders ({"@type", "value"})
    return {"@id": iid, "@type": f"{OME}#Pixels", "SizeX": 24, "SizeY": 16, "SizeZ": 1, "SizeC": 1, "SizeT": 1,
            "SignificantBits": 8,
            "DimensionOrder": {"@type": "TBD#DimensionOrder", "value": "XYZCT"},
            "Type": {"@type": "TBD#PixelsType", "value": "uint8"}}


def _rich_pixels(iid, channels=None):
    # Encoder.encode_unit keeps the unit the image was acquired in (Z in nm here)
    pixels = {
        "@id": iid, "@type": f"{OME}#Pixels", "SizeX": 30, "SizeY": 20, "SizeZ": 3, "SizeC": 2, "SizeT": 2,
        "SignificantBits": 8,
        "PhysicalSizeX": {"@type": "TBD#LengthI", "Unit": "MICROMETER", "Symbol": "µm", "Value": 0.25},
        "PhysicalSizeY": {"@type": "TBD#LengthI", "Unit": "MICROMETER", "Symbol": "µm", "Value": 0.25},
        "PhysicalSizeZ": {"@type": "TBD#LengthI", "Unit": "NANOMETER", "Symbol": "nm", "Value": 500.0},
        "TimeIncrement": {"@type": "TBD#TimeI", "Unit": "SECOND", "Symbol": "s", "Value": 1.5},
        "DimensionOrder": {"@type": "TBD#DimensionOrder", "value": "XYZCT"},
        "Type": {"@type": "TBD#PixelsType", "value": "uint8"},
    }
    if channels is not None:
        pixels["Channels"] = channels
    return pixels


# AcquisitionDate is an RTime: integer ms since the epoch (2021-03-04T05:06:07Z)
RICH_FIELDS = {"AcquisitionDate": 1614834367000, "Description": "two channels, three planes"}


def test_images_list_pixels_without_channels(client, tree):
    body = _get(client, f"/api/v0/m/datasets/{tree['Z dataset']}/images/")
    # the small images declare no physical size: omero-marshal leaves null fields out
    assert body == {
        "data": [_image_summary(tree, "a-small", _small_pixels(tree["a-small"])),
                 _image_summary(tree, "D-rich", _rich_pixels(tree["D-rich"]), **RICH_FIELDS)],
        "meta": {"offset": 0, "limit": 200, "maxLimit": 500, "totalCount": 2},
    }
    assert _get(client, f"/api/v0/m/images/?dataset={tree['Z dataset']}") == body


def test_single_image_has_channels(client, tree):
    iid = tree["D-rich"]
    channels = _get(client, f"/api/v0/m/images/{iid}/")["data"]["Pixels"]["Channels"]
    ids = [c["@id"] for c in channels]
    assert len(set(ids)) == 2 and all(isinstance(i, int) for i in ids)
    # Channel201606Encoder: Color = rgba_to_int (signed int32), EmissionWavelength a LengthI in nm
    expected_channels = [
        {"@id": ids[0], "@type": f"{OME}#Channel", "Name": "DAPI", "Color": -16776961,
         "EmissionWavelength": {"@type": "TBD#LengthI", "Unit": "NANOMETER", "Symbol": "nm", "Value": 461.0}},
        {"@id": ids[1], "@type": f"{OME}#Channel", "Name": "GFP", "Color": 16711935,
         "EmissionWavelength": {"@type": "TBD#LengthI", "Unit": "NANOMETER", "Symbol": "nm", "Value": 509.0}},
    ]
    # ImageView.urls: url:datasets (url:rois left out: there are no ROIs to serve), no url:image
    assert _get(client, f"/api/v0/m/images/{iid}/") == {"data": {
        "@id": iid, "@type": f"{OME}#Image", "Name": "D-rich", "omero:series": 0, **RICH_FIELDS,
        "Pixels": _rich_pixels(iid, expected_channels),
        "url:datasets": f"{BASE}m/images/{iid}/datasets/",
    }}


def test_sample_zarr_image(client, sample_zarr):
    image_id, truth = sample_zarr
    t, c, z, y, x = truth.shape
    data = _get(client, f"/api/v0/m/images/{image_id}/")["data"]
    pixels = data["Pixels"]
    assert (pixels["SizeT"], pixels["SizeC"], pixels["SizeZ"], pixels["SizeY"], pixels["SizeX"]) == (t, c, z, y, x)
    assert pixels["Type"] == {"@type": "TBD#PixelsType", "value": "uint16"}
    assert pixels["SignificantBits"] == 16
    # the omero block colours FF0000 / 00FF00 / 0000FF as RGBA ints (OMERO docs: 65535 is blue)
    assert [ch["Color"] for ch in pixels["Channels"]] == [-16776961, 16711935, 65535]
    assert [ch["Name"] for ch in pixels["Channels"]] == ["ch0", "ch1", "ch2"]
    # ome-zarr-py wrote no axis units, so there is no physical size to report (nulls are omitted)
    assert not any(key.startswith("PhysicalSize") for key in pixels)
    listed = _get(client, "/api/v0/m/images/")["data"]
    assert [i["@id"] for i in listed] == [image_id] and "Channels" not in listed[0]["Pixels"]
    # the dataset / project the fixture imported into
    (dataset,) = _get(client, f"/api/v0/m/images/{image_id}/datasets/")["data"]
    assert dataset["Name"] == "Demo dataset"
    (project,) = _get(client, f"/api/v0/m/datasets/{dataset['@id']}/projects/")["data"]
    assert project["Name"] == "Demo project"


# -- paging (api_query.validate_opts) -------------------------------------------------------

def _names(body):
    return [o["Name"] for o in body["data"]]


def test_images_ordered_by_lower_name_then_paged(client, tree):
    # ImagesView: order_by lower(obj.name); ties ("B-small" / "b-small") keep a stable order
    everything = _names(_get(client, "/api/v0/m/images/"))
    assert [n.lower() for n in everything] == ["a-small", "b-small", "b-small", "c-small", "d-rich"]
    page = _get(client, "/api/v0/m/images/?offset=1&limit=2")
    assert _names(page) == everything[1:3]
    assert page["meta"] == {"offset": 1, "limit": 2, "maxLimit": 500, "totalCount": 5}
    pages = [_names(_get(client, f"/api/v0/m/images/?offset={o}&limit=2")) for o in (0, 2, 4)]
    assert sum(pages, []) == everything
    assert _get(client, "/api/v0/m/images/?offset=5")["data"] == []


@pytest.mark.parametrize(("query", "offset", "limit"), [
    ("limit=0", 0, 0),           # limit 0 is kept: no objects, but the total
    ("limit=-1", 0, 200),        # negative limit -> default
    ("limit=501", 0, 500),       # clamped to maxLimit
    ("limit=100000", 0, 500),
    ("offset=-3", 0, 200),       # negative offset -> 0
    ("offset=3&limit=1", 3, 1),
    ("limit=%202%20", 0, 2),     # Python int() accepts surrounding spaces
])
def test_validate_opts_quirks(client, tree, query, offset, limit):
    body = _get(client, f"/api/v0/m/images/?{query}")
    assert body["meta"] == {"offset": offset, "limit": limit, "maxLimit": 500, "totalCount": 5}
    assert len(body["data"]) == min(limit, 5 - offset)


def test_normalize_adds_empty_experimenter_lists(client, tree):
    body = _get(client, "/api/v0/m/projects/?normalize=true")
    assert body["experimenters"] == [] and body["experimenterGroups"] == []
    assert len(body["data"]) == 2 and body["meta"]["totalCount"] == 2


# -- errors -------------------------------------------------------------------------------

@pytest.mark.parametrize("query,message", [
    # the docs' example: ?limit=foo -> {"message": "invalid literal for int() with base 10: 'foo'"}
    ("limit=foo", "invalid literal for int() with base 10: 'foo'"),
    ("offset=1.5", "invalid literal for int() with base 10: '1.5'"),
    ("offset=", "invalid literal for int() with base 10: ''"),
    ("dataset=x", "invalid literal for int() with base 10: 'x'"),
    ("owner=me", "invalid literal for int() with base 10: 'me'"),
])
def test_bad_parameters_are_400_json(client, tree, query, message):
    assert _get(client, f"/api/v0/m/images/?{query}", status=400) == {"message": message}


def test_orphaned_images_listed_by_name_and_paged(client, tree, tmp_path, import_urls_sync):
    # omero-web ImagesView ?orphaned=true: images in no dataset, lower(name) order, same meta
    assert _get(client, "/api/v0/m/images/?orphaned=true")["meta"]["totalCount"] == 0  # all in datasets
    ids = {}
    for seed, name in enumerate(["Loose-b", "loose-a", "loose-c"], start=10):
        (result,) = import_urls_sync([str(_small(name, tmp_path, seed))])
        ids[name] = result.id
    body = _get(client, "/api/v0/m/images/?orphaned=true&limit=2&offset=1")
    assert _names(body) == ["Loose-b", "loose-c"]
    assert body["meta"] == {"offset": 1, "limit": 2, "maxLimit": 500, "totalCount": 3}
    assert body["data"][0] == _image_summary(ids["Loose-b"], "Loose-b", _small_pixels(ids["Loose-b"]))
    assert _get(client, "/api/v0/m/images/?orphaned=True")["meta"]["totalCount"] == 8  # exact "true" only
    assert _get(client, f"/api/v0/m/images/?orphaned=true&dataset={tree['Z dataset']}")["data"] == []


@pytest.mark.parametrize("path", [
    "/api/v0/m/images/?offset=" + "9" * 30,
    "/api/v0/m/datasets/?project=" + "9" * 30,
    "/api/v0/m/projects/?dataset=-" + "9" * 30,
    "/api/v0/m/datasets/?image=" + "1" * 5000,   # beyond Python's int() digit limit
])
def test_absurd_parameters_are_400_not_500(client, tree, path):
    assert "message" in _get(client, path, status=400)


@pytest.mark.parametrize(("kind", "type_name"), [("projects", "Project"), ("datasets", "Dataset"),
                                                 ("images", "Image")])
def test_missing_objects_are_404_json(client, tree, kind, type_name):
    # ObjectView.get: NotFoundError("%s %s not found" % (OMERO_TYPE, object_id))
    assert _get(client, f"/api/v0/m/{kind}/987654/", status=404) == {"message": f"{type_name} 987654 not found"}
    huge = "9" * 30
    assert _get(client, f"/api/v0/m/{kind}/{huge}/", status=404) == {"message": f"{type_name} {huge} not found"}
    assert _get(client, f"/api/v0/m/{kind}/abc/", status=404) == {"message": f"{type_name} abc not found"}


def test_children_of_a_missing_parent_are_an_empty_list(client, tree):
    # omero-web filters by parent id; it does not look the parent up first
    empty = {"data": [], "meta": {"offset": 0, "limit": 200, "maxLimit": 500, "totalCount": 0}}
    for path in ("projects/987654/datasets/", "datasets/987654/images/", "images/987654/datasets/",
                 "datasets/987654/projects/"):
        assert _get(client, f"/api/v0/m/{path}") == empty


def test_every_answered_link_resolves(client, tree):
    """Walk the API from /api/ like a client would: every url:* we serve answers 200."""
    answered = ("m/projects/", "m/datasets/", "m/images/")
    seen, todo = set(), ["/api/"]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        body = _get(client, path)
        objects = body.get("data")
        objects = objects if isinstance(objects, list) else [objects] if isinstance(objects, dict) else []
        for obj in [body, *objects]:
            for key, url in obj.items():
                if key.startswith("url:") and key != "url:schema" and url.startswith(BASE[:-len("v0/")]):
                    relative = url[len("http://testserver"):]
                    if relative == "/api/v0/" or any(relative.startswith("/api/v0/" + a) for a in answered):
                        todo.append(relative)
    assert len(seen) > 20  # projects, datasets, images, and the links between them


def test_encoders_match_omero_marshal_fixtures():
    """Values from omero-marshal tests/unit (conftest.py fixtures -> test_image_pixels_encoder.py)."""
    from stratascope.api.json_marshal import rgba_to_int, unit_value

    assert rgba_to_int(255, 255, 255, 255) == -1          # channel_1 -> "Color": -1
    assert rgba_to_int(255, 0, 255, 255) == -16711681     # channel_2 -> "Color": -16711681
    assert rgba_to_int(0, 0, 255, 255) == 65535           # OMERO docs example (CFP channel)
    assert unit_value("LengthI", 509.0, "nm") == {        # LengthI(509.0, UnitsLength.NANOMETER)
        "@type": "TBD#LengthI", "Unit": "NANOMETER", "Symbol": "nm", "Value": 509.0}
    assert unit_value("LengthI", 1.0, "micrometer") == {  # PhysicalSizeX, OME-Zarr spelling of µm
        "@type": "TBD#LengthI", "Unit": "MICROMETER", "Symbol": "µm", "Value": 1.0}
    assert unit_value("TimeI", 1.0, "millisecond") == {   # TimeIncrement TimeI(1.0, MILLISECOND)
        "@type": "TBD#TimeI", "Unit": "MILLISECOND", "Symbol": "ms", "Value": 1.0}
    assert unit_value("LengthI", 2.0, "furlong") is None  # no OMERO unit: left out, not guessed
    assert unit_value("LengthI", None, "nm") is None


def test_openapi_operation_ids_are_unique(client):
    # FastAPI warns "Duplicate Operation ID" when two operations share one (a route with several
    # methods); generated clients then overwrite one method with the other
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a duplicate is a UserWarning: fail on it
        spec = client.get("/openapi.json").json()
    ids = [op["operationId"] for item in spec["paths"].values() for op in item.values()
           if isinstance(op, dict) and "operationId" in op]
    assert len(ids) > 30 and len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_docs_pages_load_their_assets_from_this_server(client):
    for page, assets in {"/docs": ("/static/vendor/swagger-ui/swagger-ui-bundle.js", "/static/vendor/swagger-ui/swagger-ui.css"),
                         "/redoc": ("/static/vendor/redoc/redoc.standalone.js",)}.items():
        html = client.get(page).text
        assert "cdn.jsdelivr.net" not in html and "fonts.googleapis.com" not in html, page
        for asset in assets:
            assert asset in html, (page, asset)
            response = client.get(asset)
            assert response.status_code == 200 and len(response.content) > 100_000, asset
