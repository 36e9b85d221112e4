"""Issue 14 #9: a public dataset inside a private project never names the project to a caller
who may not see it (imgData, the viewer's JSON, the JSON API, listings by project)."""

from __future__ import annotations

import pytest

from stratascope.catalogue import accounts as store
from stratascope.catalogue import repository

SECRET = "Secret project name"


def _write(path):
    from support.samples import smooth_array, write_ome_zarr_v04

    write_ome_zarr_v04(path, smooth_array((1, 1, 64, 64), seed=5))
    return str(path)


@pytest.fixture
def hidden_parent(services, tmp_path, import_urls_sync):
    db = services.catalogue
    result = import_urls_sync([_write(tmp_path / "img.zarr")], project=SECRET, dataset="open-dataset")[0]
    assert result.status == "imported", result
    lab = store.add_group(db, "lab-p")
    store.add_user(db, "alice", password="alice-password")
    store.add_member(db, "lab-p", "alice")
    project_id = repository.set_visibility(db, "project", SECRET, public=False, group_id=lab)
    dataset_id = repository.set_visibility(db, "dataset", "open-dataset", public=True)
    return result.id, project_id, dataset_id, {"Authorization": f"Bearer {store.create_token(db, 'alice')}"}


def test_imgdata_does_not_name_a_hidden_project(client, hidden_parent):
    image_id, project_id, dataset_id, alice = hidden_parent
    meta = client.get(f"/webgateway/imgData/{image_id}/").json()["meta"]
    # omero-web's imageMarshal for an image without a (visible) parent: "Multiple", None, ""
    assert (meta["projectName"], meta["projectId"], meta["projectDescription"]) == ("Multiple", None, "")
    assert meta["datasetId"] == dataset_id and meta["datasetName"] == "open-dataset"
    # the owning group still sees it, through the same cached record
    meta = client.get(f"/webgateway/imgData/{image_id}/", headers=alice).json()["meta"]
    assert (meta["projectName"], meta["projectId"]) == (SECRET, project_id)
    assert client.get(f"/webgateway/imgData/{image_id}/").json()["meta"]["projectId"] is None


def test_no_route_names_a_hidden_project(client, hidden_parent):
    image_id, project_id, dataset_id, alice = hidden_parent
    anonymous = [
        f"/webgateway/imgData/{image_id}/",
        f"/viewer-api/images/{image_id}/",
        "/viewer-api/images/",
        f"/api/v0/m/images/{image_id}/",
        "/api/v0/m/images/",
        f"/api/v0/m/datasets/{dataset_id}/",
        "/api/v0/m/datasets/",
        f"/api/v0/m/datasets/{dataset_id}/projects/",
        f"/api/v0/m/projects/{project_id}/datasets/",
        f"/api/v0/m/images/?project={project_id}",
        f"/api/v0/m/datasets/?project={project_id}",
        f"/iiif/3/{image_id}/info.json",
    ]
    for path in anonymous:
        response = client.get(path)
        assert response.status_code in (200, 404), (path, response.status_code)
        assert SECRET not in response.text, path
        assert f"projects/{project_id}/" not in response.text, path
    details = client.get(f"/viewer-api/images/{image_id}/").json()
    assert details["project"] is None and details["dataset"]["id"] == dataset_id
    listed = client.get("/viewer-api/images/").json()["data"]
    assert [d["project"] for d in listed] == [None]
    # what a hidden project holds does not show by filtering on its id either
    assert client.get(f"/api/v0/m/images/?project={project_id}").json()["data"] == []
    assert client.get(f"/api/v0/m/projects/{project_id}/datasets/").json()["data"] == []
    assert client.get(f"/api/v0/m/datasets/{dataset_id}/projects/").json()["data"] == []
    # the owning group sees it everywhere
    assert client.get(f"/viewer-api/images/{image_id}/", headers=alice).json()["project"]["name"] == SECRET
    assert len(client.get(f"/api/v0/m/images/?project={project_id}", headers=alice).json()["data"]) == 1
    assert len(client.get(f"/api/v0/m/datasets/{dataset_id}/projects/", headers=alice).json()["data"]) == 1
