"""Issue 14 (11): concurrent imports of the same objects both succeed, on SQLite and
PostgreSQL: one says `imported`, the other `unchanged`, and one image is registered.

Both imports are held at their INSERT INTO images until both have read "no such image", so
the race the issue saw (`UNIQUE constraint failed`) happens every time, not by luck."""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request, monkeypatch):
    if request.param == "postgresql":
        server_url = request.getfixturevalue("postgres_url")
        name = f"concurrent_{uuid.uuid4().hex[:10]}"
        admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
        monkeypatch.setenv("STRATASCOPE_DATABASE_URL", url)
        yield request.param
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        yield request.param


def _held_at_first_image_insert(engine, parties: int):
    """Every thread waits at its first INSERT INTO images until `parties` threads are there."""
    barrier = threading.Barrier(parties)
    seen = threading.local()

    def hold(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO IMAGES") and not getattr(seen, "done", False):
            seen.done = True
            try:
                barrier.wait(timeout=10)
            except threading.BrokenBarrierError:
                pass

    event.listen(engine, "before_cursor_execute", hold)
    return lambda: event.remove(engine, "before_cursor_execute", hold)


def test_concurrent_imports_of_the_same_image_both_succeed(database, tmp_path, make_services):
    from stratascope import catalogue
    from stratascope.ingest.run import ImportOptions, import_urls
    from support.samples import smooth_array, write_ome_zarr_v04

    path = tmp_path / "shared.zarr"
    write_ome_zarr_v04(path, smooth_array((1, 1, 64, 64), seed=3))
    services = make_services()  # after `database`: on the database of this parameter
    release = _held_at_first_image_insert(services.catalogue.engine, parties=2)
    outcomes: list = [None, None]

    def run(i):
        outcomes[i] = asyncio.run(import_urls(services, [str(path)], ImportOptions(project="P", dataset="D")))

    try:
        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        release()
    results = [r for outcome in outcomes for r in outcome]
    assert sorted(r.status for r in results) == ["imported", "unchanged"], [(r.status, r.error) for r in results]
    assert results[0].id == results[1].id
    assert catalogue.image_ids_for_url(services.catalogue, results[0].url) == [results[0].id]
