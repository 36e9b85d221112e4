"""Migration 0003 (screens, plates, wells, well samples) on the full chain, on SQLite and on a
real PostgreSQL server: upgrade from empty, register a plate, downgrade to 0002 and back."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from alembic import command
from plate_samples import write_plate

from stratascope.catalogue import db
from stratascope.catalogue import plates as hcs

TABLES = {"screens", "plates", "wells", "well_samples"}


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, monkeypatch, stratascope_home):
    if request.param == "sqlite":
        url = f"sqlite:///{stratascope_home / 'catalogue.sqlite'}"
    else:
        server_url = request.getfixturevalue("postgres_url")
        name = f"plates_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = sa.engine.make_url(server_url).set(database=name).render_as_string(hide_password=False)
    monkeypatch.setenv("STRATASCOPE_DATABASE_URL", url)
    yield url


def _migrate(url: str, action, revision: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        action(db._alembic_config(connection), revision)
    engine.dispose()


def test_chain_up_down_up_with_a_plate(database, services, tmp_path, import_urls_sync):
    catalogue = services.catalogue
    _migrate(database, command.upgrade, "0002")
    assert not TABLES & set(sa.inspect(sa.create_engine(database)).get_table_names())
    _migrate(database, command.upgrade, "head")
    assert TABLES <= set(sa.inspect(sa.create_engine(database)).get_table_names())
    write_plate(tmp_path / "plate.zarr", wells=["A/1", "B/3"], fields=1)
    results = import_urls_sync([str(tmp_path / "plate.zarr")], screen="S")
    assert [r.status for r in results] == ["imported"] * 2
    assert hcs.list_plates(catalogue)[1] == 1 and hcs.list_wells(catalogue)[1] == 2
    catalogue.dispose()  # drop pooled connections before the downgrade (and after it)
    _migrate(database, command.downgrade, "0002")
    names = set(sa.inspect(sa.create_engine(database)).get_table_names())
    assert not TABLES & names and "images" in names
    _migrate(database, command.upgrade, "head")
    catalogue.dispose()
    assert hcs.list_plates(catalogue)[1] == 0
