"""The catalogue on SQLite and on a real PostgreSQL server, through the same code path."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from stratascope import catalogue
from stratascope.formats.model import ChannelSpec, ImageSpec, LevelSpec, SourceObject


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, monkeypatch, stratascope_home):
    if request.param == "sqlite":
        url = f"sqlite:///{stratascope_home / 'catalogue.sqlite'}"
    else:
        server_url = request.getfixturevalue("postgres_url")
        name = f"catalogue_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = sa.engine.make_url(server_url).set(database=name).render_as_string(hide_password=False)
    monkeypatch.setenv("STRATASCOPE_DATABASE_URL", url)
    yield url


def make_spec(url="s3://bucket/a.ome.tif", etag='"e1"', series=0, name="a") -> ImageSpec:
    level0 = LevelSpec((1, 2, 3, 100, 200), (1, 1, 1, 64, 64), "<u2", {"kind": "tiff", "url": url}, b"\x00manifest")
    level1 = LevelSpec((1, 2, 3, 50, 100), (1, 1, 1, 64, 64), "<u2", {"kind": "tiff", "url": url}, b"\x01")
    return ImageSpec(
        name=name, format="ome-tiff", url=url, axes="czyx", levels=[level0, level1],
        channels=[ChannelSpec("DAPI", "0000FF", 0, 1000), ChannelSpec("GFP", "00FF00", emission_wave=510.0)],
        sources=[SourceObject(url, 12345, etag, "v1", storage_class="STANDARD")],
        physical_sizes={"x": (0.5, "micrometer"), "y": (0.5, "micrometer")}, series=series,
    )


def test_register_and_read_back(database, services):
    db = services.catalogue
    image_id, status = catalogue.register_image(db, make_spec(), project="P", dataset="D")
    assert status == "imported"
    record = catalogue.get_image(db, image_id)
    assert record.shape == (1, 2, 3, 100, 200)
    assert record.project_name == "P" and record.dataset_name == "D"
    assert [lv.shape for lv in record.levels] == [(1, 2, 3, 100, 200), (1, 2, 3, 50, 100)]
    assert record.levels[0].manifest == b"\x00manifest"
    assert record.levels[0].layout == {"kind": "tiff", "url": "s3://bucket/a.ome.tif"}
    assert [c.label for c in record.channels] == ["DAPI", "GFP"]
    assert record.channels[1].emission_wave == 510.0
    assert record.sources[0].etag == '"e1"' and record.sources[0].version == "v1"
    assert record.sources[0].storage_class == "STANDARD"
    assert record.physical_sizes["x"] == (0.5, "micrometer")


def test_reimport_is_idempotent_and_detects_changes(database, services):
    db = services.catalogue
    first, status = catalogue.register_image(db, make_spec())
    again, status2 = catalogue.register_image(db, make_spec())
    assert (again, status2) == (first, "unchanged")
    assert catalogue.get_image(db, first).revision == 1
    changed, status3 = catalogue.register_image(db, make_spec(etag='"e2"'))
    assert (changed, status3) == (first, "updated")
    record = catalogue.get_image(db, first)
    assert record.revision == 2 and record.sources[0].etag == '"e2"'
    assert len(record.levels) == 2 and len(record.channels) == 2  # replaced, not duplicated


def test_listing_filters_and_paging(database, services):
    db = services.catalogue
    ids = [catalogue.register_image(db, make_spec(url=f"s3://b/{i}.tif", name=f"img{i}"), project="P",
                                    dataset="D1" if i < 3 else "D2")[0] for i in range(5)]
    images, total = catalogue.list_images(db, limit=2, offset=1)
    assert total == 5 and [r.id for r in images] == ids[1:3]
    datasets, _ = catalogue.list_datasets(db)
    by_name = {d.name: d for d in datasets}
    assert by_name["D1"].image_count == 3 and by_name["D2"].image_count == 2
    in_d2, n = catalogue.list_images(db, dataset_id=by_name["D2"].id)
    assert n == 2 and {r.name for r in in_d2} == {"img3", "img4"}
    named, n = catalogue.list_images(db, name="IMG4")
    assert n == 1 and named[0].id == ids[4]
    projects, n = catalogue.list_projects(db)
    assert n == 1 and projects[0].dataset_count == 2


def test_unknown_ids_raise_not_found(database, services):
    db = services.catalogue
    with pytest.raises(catalogue.NotFound):
        catalogue.get_image(db, 999)
    with pytest.raises(catalogue.NotFound):
        catalogue.get_dataset(db, 999)
    with pytest.raises(catalogue.NotFound):
        catalogue.get_project(db, 999)


def test_failed_registration_leaves_nothing(database, services):
    db = services.catalogue
    bad = make_spec()
    bad.levels[0].layout = {"unserialisable": object()}  # fails inside the transaction
    # the JSON column cannot serialise it: SQLAlchemy wraps the TypeError on SQLite, psycopg raises it
    with pytest.raises((sa.exc.StatementError, TypeError)):
        catalogue.register_image(db, bad, project="P", dataset="D")
    images, total = catalogue.list_images(db)
    assert total == 0


def test_migrations_create_the_schema_from_nothing(database, services):
    db = services.catalogue
    from stratascope.catalogue.db import schema_is_current

    engine = db.engine
    assert schema_is_current(engine)
    tables = set(sa.inspect(engine).get_table_names())
    assert {"projects", "datasets", "images", "levels", "channels", "source_objects", "alembic_version"} <= tables


def test_read_only_mode_refuses_writes(database, services, make_services, monkeypatch):
    db = services.catalogue
    catalogue.register_image(db, make_spec())
    monkeypatch.setenv("STRATASCOPE_READ_ONLY", "1")
    db = make_services().catalogue
    assert catalogue.list_images(db)[1] == 1
    with pytest.raises(catalogue.ReadOnlyCatalogue):
        catalogue.register_image(db, make_spec(url="s3://b/other.tif"))
