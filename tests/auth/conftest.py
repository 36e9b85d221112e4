"""A catalogue with a public and a private project, three users and their API tokens."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from stratascope.catalogue import accounts as store
from stratascope.catalogue import repository


@dataclass
class World:
    public_image: int
    private_image: int
    orphan_image: int
    public_project: int
    private_project: int
    public_dataset: int
    private_dataset: int
    public_screen: int
    private_screen: int
    public_plate: int
    private_plate: int
    public_well: int
    private_well: int
    public_plate_image: int
    private_plate_image: int
    tokens: dict[str, str] = field(default_factory=dict)  # user name -> API token


def _write_plate(path):
    """One well, one field (ome-zarr-py, via the plates tests' writer)."""
    import importlib.util

    source = Path(__file__).parents[1] / "plates" / "plate_samples.py"
    spec = importlib.util.spec_from_file_location("plate_samples_for_auth", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.write_plate(path, "0.4", wells=["A/1"], fields=1, shape=(1, 32, 32))
    return str(path)


def _plate(db, tmp_path, import_urls_sync, name: str) -> tuple[int, int, int, int]:
    """(screen id, plate id, well id, image id) of a one-well, one-field plate in screen `name`."""
    from stratascope.catalogue import plates as hcs

    results = import_urls_sync([_write_plate(tmp_path / f"{name}.zarr")], screen=name)
    assert all(r.status == "imported" for r in results), results
    plate_id = results[0].plate_id
    screen = next(s for s in hcs.list_screens(db)[0] if s.name == name)
    well = hcs.list_wells(db, plate_id=plate_id)[0][0]
    return screen.id, plate_id, well.id, well.samples[0].image_id


def _write(path, seed):
    from support.samples import smooth_array, write_ome_zarr_v04

    write_ome_zarr_v04(path, smooth_array((2, 1, 128, 128), seed=seed))
    return str(path)


@pytest.fixture
def world(services, tmp_path, import_urls_sync) -> World:
    """Projects "Open" (public) and "Closed" (private, owned by lab-a), and likewise screens
    "open-screen" and "closed-screen" with a one-well plate each; users admin (admin),
    alice (member of lab-a, the owning group) and bob (member of lab-b); one image each, and
    one image outside any dataset. Same pixels everywhere, so every route answers alike."""
    db = services.catalogue
    public = import_urls_sync([_write(tmp_path / "open.zarr", 1)], project="Open", dataset="open-ds",
                             name="image")[0]  # one name for all three (IIIF name lookups)
    private = import_urls_sync([_write(tmp_path / "closed.zarr", 2)], project="Closed", dataset="closed-ds",
                              name="image")[0]
    orphan = import_urls_sync([_write(tmp_path / "orphan.zarr", 3)], name="image")[0]
    assert {public.status, private.status, orphan.status} == {"imported"}
    open_screen, open_plate, open_well, open_image = _plate(db, tmp_path, import_urls_sync, "open-screen")
    closed_screen, closed_plate, closed_well, closed_image = _plate(db, tmp_path, import_urls_sync, "closed-screen")
    lab_a, lab_b = store.add_group(db, "lab-a"), store.add_group(db, "lab-b")
    assert lab_a != lab_b
    store.add_user(db, "admin", password="admin-password", admin=True)
    store.add_user(db, "alice", password="alice-password")
    store.add_user(db, "bob", password="bob-password")
    store.add_member(db, "lab-a", "alice")
    store.add_member(db, "lab-b", "bob")
    private_project = repository.set_visibility(db, "project", "Closed", public=False, group_id=lab_a)
    public_project = repository.set_visibility(db, "project", "Open")
    repository.set_visibility(db, "screen", "closed-screen", public=False, group_id=lab_a)
    records = {r.id: r for r in repository.list_images(db)[0]}
    return World(
        public_image=public.id, private_image=private.id, orphan_image=orphan.id,
        public_project=public_project, private_project=private_project,
        public_dataset=records[public.id].dataset_id, private_dataset=records[private.id].dataset_id,
        public_screen=open_screen, private_screen=closed_screen, public_plate=open_plate, private_plate=closed_plate,
        public_well=open_well, private_well=closed_well, public_plate_image=open_image,
        private_plate_image=closed_image,
        tokens={name: store.create_token(db, name) for name in ("admin", "alice", "bob")},
    )


@pytest.fixture
def credentials(world):
    """Request headers per caller: anonymous, bob (other group), alice (owning group), admin."""

    def as_user(name):
        return {"Authorization": f"Bearer {world.tokens[name]}"} if name else {}

    return {"anonymous": as_user(None), "bob": as_user("bob"), "alice": as_user("alice"), "admin": as_user("admin")}
