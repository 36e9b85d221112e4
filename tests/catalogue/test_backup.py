"""catalogue export / import: SQLite -> PostgreSQL and back, every field, ids, sequences, refusals."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import uuid
from datetime import UTC, datetime

import numpy as np
import pytest
import sqlalchemy as sa

from stratascope import catalogue
from stratascope.catalogue.backup import BackupError, export_lines, import_lines
from stratascope.catalogue.models import Base
from support.cli import run_cli
from support.samples import smooth_array, write_ome_zarr_v04, write_tiff_pyramid


def fresh_database(kind: str, request, tmp_path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / f'catalogue-{uuid.uuid4().hex[:8]}.sqlite'}"
    server_url = request.getfixturevalue("postgres_url")
    name = f"backup_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return sa.engine.make_url(server_url).set(database=name).render_as_string(hide_password=False)


class Current:
    """The services over the catalogue the test uses now (`use` switches to another)."""

    def __init__(self, services, make_services):
        self.services, self.make = services, make_services

    @property
    def db(self):
        return self.services.catalogue


@pytest.fixture
def current(services, make_services) -> Current:
    return Current(services, make_services)


def use(monkeypatch, current: Current, url: str) -> None:
    monkeypatch.setenv("STRATASCOPE_DATABASE_URL", url)
    current.services = current.make()


def _normal(value):
    if isinstance(value, datetime):  # SQLite drops the zone; the catalogue stores UTC
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


def snapshot(db) -> dict[str, list[dict]]:
    """Every row of every catalogue table, every column."""
    with db.engine.connect() as conn:
        return {table.name: [{k: _normal(v) for k, v in row._mapping.items()}
                             for row in conn.execute(sa.select(table).order_by(*table.primary_key.columns))]
                for table in Base.metadata.sorted_tables}


def pixels(services) -> dict[int, list[np.ndarray]]:
    """Level 0 and the coarsest level of every image, read through the pixel reader."""
    out = {}
    for record in catalogue.list_images(services.catalogue)[0]:
        full = catalogue.get_image(services.catalogue, record.id)
        reader = services.reader
        out[record.id] = [asyncio.run(reader.read_region(full, level, c=0)) for level in (0, len(full.levels) - 1)]
    return out


@pytest.fixture
def populated(current, tmp_path, import_urls_sync):
    """Images by independent writers, in projects and without one, one marked changed."""
    write_ome_zarr_v04(tmp_path / "z.zarr", smooth_array((2, 1, 96, 80), seed=2), chunks=(1, 1, 32, 32))
    write_tiff_pyramid(tmp_path / "t.ome.tif", smooth_array((1, 96, 96), dtype=np.uint8, seed=3), levels=2, tile=(32, 32))
    write_tiff_pyramid(tmp_path / "u.ome.tif", smooth_array((2, 64, 64), seed=4), levels=1, tile=(32, 32))
    results = import_urls_sync([str(tmp_path / "z.zarr")], current.services, project="P 1", dataset="D 1")
    results += import_urls_sync([str(tmp_path / "t.ome.tif")], current.services, project="P 2", dataset="D 2")
    results += import_urls_sync([str(tmp_path / "u.ome.tif")], current.services)
    assert [r.status for r in results] == ["imported"] * 3, results
    catalogue.set_image_status(current.db, results[1].id, "changed", "1 of 1 source objects changed since import")
    return tmp_path


def _round_trip(source_kind, target_kind, request, tmp_path, monkeypatch, import_urls_sync, current):
    use(monkeypatch, current, fresh_database(source_kind, request, tmp_path))
    request.getfixturevalue("populated")
    before, before_pixels = snapshot(current.db), pixels(current.services)
    assert before["images"] and before["levels"] and before["channels"] and before["source_objects"]
    dump = list(export_lines(current.db))

    use(monkeypatch, current, fresh_database(target_kind, request, tmp_path))
    counts = import_lines(current.db, dump)
    assert counts["images"] == 3 and counts["projects"] == 2 and counts["datasets"] == 2
    after = snapshot(current.db)
    for table in before:
        assert after[table] == before[table], f"table {table} differs after the round trip"
    after_pixels = pixels(current.services)
    assert after_pixels.keys() == before_pixels.keys()
    for image_id, arrays in before_pixels.items():
        for a, b in zip(arrays, after_pixels[image_id]):
            np.testing.assert_array_equal(a, b)

    # sequences moved past the restored ids: new rows never collide
    extra = tmp_path / "extra.ome.tif"
    write_tiff_pyramid(extra, smooth_array((1, 32, 32), seed=9), levels=1, tile=(32, 32))
    (new,) = import_urls_sync([str(extra)], current.services, project="P new", dataset="D new")
    assert new.status == "imported" and new.id == max(row["id"] for row in before["images"]) + 1
    return dump


def test_sqlite_to_postgresql(request, tmp_path, monkeypatch, import_urls_sync, current):
    _round_trip("sqlite", "postgresql", request, tmp_path, monkeypatch, import_urls_sync, current)


def test_postgresql_to_sqlite(request, tmp_path, monkeypatch, import_urls_sync, current):
    dump = _round_trip("postgresql", "sqlite", request, tmp_path, monkeypatch, import_urls_sync, current)
    header = json.loads(dump[0])
    assert header["format"] == "stratascope-catalogue" and header["version"] == 1 and header["dialect"] == "postgresql"
    image = next(json.loads(line) for line in dump if json.loads(line).get("type") == "images")
    assert {"levels", "channels", "sources"} <= set(image) and image["levels"][0]["layout"]["kind"]


def test_non_empty_catalogue_is_refused_unless_merge(populated, current, tmp_path, monkeypatch, request):
    dump = list(export_lines(current.db))
    with pytest.raises(BackupError, match="not empty"):
        import_lines(current.db, dump)

    other = fresh_database("sqlite", request, tmp_path)
    use(monkeypatch, current, other)
    write_tiff_pyramid(tmp_path / "t.ome.tif", smooth_array((1, 96, 96), dtype=np.uint8, seed=3), levels=2,
                       tile=(32, 32))  # same file as in the dump
    write_tiff_pyramid(tmp_path / "v.ome.tif", smooth_array((1, 32, 32), seed=8), levels=1, tile=(32, 32))
    from stratascope.ingest import import_urls

    asyncio.run(import_urls(current.services, [str(tmp_path / "v.ome.tif"), str(tmp_path / "t.ome.tif")]))
    ids_before = {r.url: r.id for r in catalogue.list_images(current.db)[0]}
    counts = import_lines(current.db, dump, merge=True)
    assert counts["skipped_images"] == 1 and counts["images"] == 2
    records = catalogue.list_images(current.db)[0]
    assert len(records) == 4 and len({(r.url, r.series) for r in records}) == 4
    assert {r.url: r.id for r in records if r.url in ids_before} == ids_before  # existing rows untouched
    projects = {p.name for p in catalogue.list_projects(current.db)[0]}
    assert {"P 1", "P 2"} <= projects
    zarr = next(r for r in records if r.url.endswith("z.zarr"))
    assert (zarr.project_name, zarr.dataset_name) == ("P 1", "D 1")
    again = import_lines(current.db, dump, merge=True)  # idempotent
    assert again["skipped_images"] == 3 and again.get("images", 0) == 0


def _lines(dump, edit):
    lines = [json.loads(line) for line in dump]
    edit(lines)
    return [json.dumps(line) for line in lines]


def test_bad_dumps_are_refused_and_change_nothing(populated, current, tmp_path, monkeypatch, request):
    dump = list(export_lines(current.db))
    use(monkeypatch, current, fresh_database("sqlite", request, tmp_path))

    def version(lines):
        lines[0]["version"] = 2

    def schema(lines):
        lines[0]["schema"] = "9999"

    def field(lines):
        lines[1]["colour_of_sky"] = "blue"

    cases = {
        "format version 2 is not supported": _lines(dump, version),
        "schema '9999' is unknown": _lines(dump, schema),
        "unknown .* fields": _lines(dump, field),
        "truncated": dump[:-1],
        "not a stratascope catalogue dump": ['{"hello": 1}'] + dump[1:],
        "not valid JSON": dump[:2] + ["{nope"] + dump[2:],
    }
    for message, lines in cases.items():
        with pytest.raises(BackupError, match=message):
            import_lines(current.db, lines)
        assert all(not rows for rows in snapshot(current.db).values()), message  # all or nothing
    assert import_lines(current.db, dump)["images"] == 3


def test_cli_export_and_import(populated, current, make_services, tmp_path, request):
    env = dict(os.environ)
    backup = tmp_path / "backup.jsonl.gz"

    def run(*args, url=None):
        environment = {**env, "STRATASCOPE_DATABASE_URL": url} if url else env
        return run_cli("catalogue", *args, env=environment)

    before = snapshot(current.db)
    exported = run("export", str(backup))
    assert exported.returncode == 0, exported.stderr
    assert "3 images" in exported.stderr and not (tmp_path / "backup.jsonl.gz.partial").exists()
    with gzip.open(backup, "rt") as fh:
        assert json.loads(fh.readline())["format"] == "stratascope-catalogue"

    target = fresh_database("sqlite", request, tmp_path)
    restored = run("import", str(backup), url=target)
    assert restored.returncode == 0, restored.stderr
    assert "3 images" in restored.stderr
    again = run("import", str(backup), url=target)
    assert again.returncode == 1 and "not empty" in again.stderr and "--merge" in again.stderr
    os.environ["STRATASCOPE_DATABASE_URL"] = target
    try:
        assert snapshot(make_services().catalogue) == before
    finally:
        del os.environ["STRATASCOPE_DATABASE_URL"]
    assert run("import", str(tmp_path / "nope.jsonl"), url=target).returncode == 2
