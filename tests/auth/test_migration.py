"""Migration 0002 on a catalogue made at 0001: every existing project stays public; it also
downgrades. On SQLite and (when available) PostgreSQL, whose booleans are strict."""

from __future__ import annotations

import uuid

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from stratascope.catalogue.db import _alembic_config


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.sqlite'}"
        return
    server_url = request.getfixturevalue("postgres_url")
    name = f"migration_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_upgrade_keeps_existing_projects_public_and_downgrades(empty_database):
    engine = create_engine(empty_database)
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "0001")
        connection.execute(text("INSERT INTO projects (id, name, created_at) VALUES (1, 'old', '2026-01-01')"))
        connection.execute(text("INSERT INTO datasets (id, project_id, name, created_at) "
                                "VALUES (1, 1, 'old-ds', '2026-01-01')"))
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "0002")
    with engine.connect() as connection:
        public, group_id = connection.execute(text("SELECT public, group_id FROM projects")).one()
        assert bool(public) is True and group_id is None
        assert connection.execute(text("SELECT public, group_id FROM datasets")).one() == (None, None)
    assert {"users", "groups", "memberships", "api_tokens"} <= set(inspect(engine).get_table_names())
    with engine.begin() as connection:
        command.downgrade(_alembic_config(connection), "0001")
    assert "users" not in inspect(engine).get_table_names()
    assert "public" not in {c["name"] for c in inspect(engine).get_columns("projects")}
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "head")
    engine.dispose()
