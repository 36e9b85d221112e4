"""Listings and counts only show what the caller may see; visibility can be changed per dataset."""

from __future__ import annotations

from stratascope.catalogue import accounts as store
from stratascope.catalogue import repository


def names(client, url, headers) -> list:
    """Names of listed projects and datasets, ids of listed images (their names are all "image")."""
    body = client.get(url, headers=headers).json()
    assert body["meta"]["totalCount"] == len(body["data"]), body["meta"]
    if "/images/" in url:
        return sorted(item.get("@id", item.get("id")) for item in body["data"])
    return sorted(item["Name"] for item in body["data"])


def test_json_api_listings_exclude_hidden_objects(client, world, credentials):
    everyone = {"anonymous": False, "bob": False, "alice": True, "admin": True}
    for who, sees in everyone.items():
        headers = credentials[who]
        assert names(client, "/api/v0/m/projects/", headers) == (["Closed", "Open"] if sees else ["Open"]), who
        assert names(client, "/api/v0/m/datasets/", headers) == (["closed-ds", "open-ds"] if sees else ["open-ds"])
        visible = [world.public_image, world.orphan_image, world.public_plate_image]
        images = sorted(visible + ([world.private_image, world.private_plate_image] if sees else []))
        assert names(client, "/api/v0/m/images/", headers) == images, who
        assert names(client, "/viewer-api/images/", headers) == images, who
        # filtering by a hidden parent gives what a missing parent gives: nothing
        expected = [world.private_image] if sees else []
        assert names(client, f"/api/v0/m/images/?dataset={world.private_dataset}", headers) == expected, who
        assert names(client, f"/api/v0/m/images/?project={world.private_project}", headers) == expected, who
        assert names(client, f"/api/v0/m/datasets/?project={world.private_project}", headers) == (
            ["closed-ds"] if sees else [])
        assert names(client, f"/api/v0/m/projects/?dataset={world.private_dataset}", headers) == (
            ["Closed"] if sees else [])


def test_orphaned_images_are_those_in_no_dataset_and_no_plate_for_everyone(client, world, credentials):
    # omero-web ImagesView ?orphaned=true (omero-py ImageWrapper): no DatasetImageLink, no WellSample.
    # Loose images are public (docs/access.md); plate images, visible or not, are never orphans.
    for who, headers in credentials.items():
        assert names(client, "/api/v0/m/images/?orphaned=true", headers) == [world.orphan_image], who
        # ANDed with a parent filter, as in omero-web: an image in a dataset is no orphan
        assert names(client, f"/api/v0/m/images/?orphaned=true&dataset={world.public_dataset}", headers) == [], who
        assert names(client, f"/api/v0/m/datasets/{world.public_dataset}/images/?orphaned=true", headers) == [], who


def test_images_outside_any_dataset_are_public(client, world):
    assert client.get(f"/webgateway/imgData/{world.orphan_image}/").status_code == 200


def test_private_dataset_in_public_project_and_back(services, client, world, credentials):
    db = services.catalogue
    repository.set_visibility(db, "dataset", "open-ds", public=False)
    image = f"/webgateway/imgData/{world.public_image}/"
    store.add_user(db, "carol", password="carol-password")  # a member of no group
    carol = {"Authorization": f"Bearer {store.create_token(db, 'carol')}"}
    assert client.get(image, headers=carol).status_code == 404
    assert client.get(image, headers=credentials["admin"]).status_code == 200
    # alice is in lab-a, which owns neither Open nor open-ds
    assert client.get(image, headers=credentials["alice"]).status_code == 404
    project = client.get(f"/api/v0/m/projects/{world.public_project}/?childCount=true", headers=carol).json()
    assert project["data"]["omero:childCount"] == 0  # the hidden dataset is not counted
    repository.set_visibility(db, "dataset", "open-ds", group_id=store.group_id(db, "lab-a"))
    services.forget_memory()  # the lookup cache keeps visibility for a few seconds (like re-imports)
    assert client.get(image, headers=credentials["alice"]).status_code == 200
    repository.set_visibility(db, "dataset", "open-ds", inherit=True, clear_group=True)
    services.forget_memory()
    assert client.get(image, headers=carol).status_code == 200


def test_catalogue_calls_without_a_viewer_are_unrestricted(services, world):
    """The CLI (the admin's tool) passes no viewer and keeps seeing everything."""
    db = services.catalogue
    records, total = repository.list_images(db)
    assert total == 5 and {world.private_image, world.private_plate_image} <= {r.id for r in records}
    assert repository.get_image(db, world.private_image).id == world.private_image
    assert repository.list_projects(db)[1] == 2
