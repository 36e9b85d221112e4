"""Portable catalogue dumps: JSON lines that round-trip SQLite <-> PostgreSQL.

Layout (one JSON object per line):

    {"format": "stratascope-catalogue", "version": 1, "schema": "<alembic revision>",
     "exported_at": ..., "dialect": "sqlite", "counts": {"project": n, "dataset": n, "image": n}}
    {"type": "project", "id": ..., <every column of projects>}
    {"type": "dataset", "id": ..., <every column of datasets>}
    {"type": "image", "id": ..., <every column of images>,
     "levels": [<every column but image_id; manifest as base64>], "channels": [...], "sources": [...]}
    {"type": "end", "counts": {...}}

Columns are written generically from the tables, so every field is kept: datetimes as
ISO 8601 in UTC, bytes as base64, JSON columns as JSON. The closing "end" line lets
import refuse a truncated file. Import into an empty catalogue keeps every id (image
URLs stay valid); `merge=True` adds to a non-empty one, matching projects and datasets
by name, skipping images whose (url, series) exist, and giving new rows new ids.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import DateTime, LargeBinary, func, insert, select, text
from sqlalchemy.orm import Session, selectinload

from .db import _alembic_config, get_engine, session_scope
from .errors import CatalogueError
from .models import Base, Channel, Dataset, Image, Level, Project, SourceObjectRow

FORMAT = "stratascope-catalogue"
FORMAT_VERSION = 1
CHILDREN = {"levels": Level, "channels": Channel, "sources": SourceObjectRow}
TABLES = (Project, Dataset, Image, *CHILDREN.values())
BATCH = 200


class BackupError(CatalogueError):
    """The dump cannot be written or read (unknown version, truncated, conflicting, ...)."""


# --- values -----------------------------------------------------------------------------

def _dump_value(column, value):
    if value is None:
        return None
    if isinstance(column.type, DateTime):
        # SQLite hands back naive datetimes; the catalogue stores UTC, so say so explicitly
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.isoformat()
    if isinstance(column.type, LargeBinary):
        return base64.b64encode(value).decode("ascii")
    return value


def _load_value(column, value, where: str):
    if value is None:
        return None
    try:
        if isinstance(column.type, DateTime):
            parsed = datetime.fromisoformat(value)
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
        if isinstance(column.type, LargeBinary):
            return base64.b64decode(value, validate=True)
    except (TypeError, ValueError) as exc:
        raise BackupError(f"{where}: bad value for {column.name}: {exc}") from None
    return value


def _row_dict(model, row, skip=()) -> dict:
    return {c.name: _dump_value(c, getattr(row, c.key)) for c in model.__table__.columns if c.name not in skip}


def _columns(model, data: dict, where: str, skip=()) -> dict:
    table_columns = {c.name: c for c in model.__table__.columns}
    unknown = set(data) - set(table_columns) - set(skip)
    if unknown:
        raise BackupError(f"{where}: unknown fields {sorted(unknown)} (written by a newer stratascope?)")
    return {name: _load_value(table_columns[name], value, where) for name, value in data.items() if name not in skip}


# --- export -----------------------------------------------------------------------------

def current_schema(session: Session) -> str | None:
    return MigrationContext.configure(session.connection()).get_current_revision()


def export_lines() -> Iterator[str]:
    """The dump, line by line (streams images in batches; manifests are never all in memory)."""
    with session_scope() as session:
        counts = {"project": session.scalar(select(func.count(Project.id))),
                  "dataset": session.scalar(select(func.count(Dataset.id))),
                  "image": session.scalar(select(func.count(Image.id)))}
        yield json.dumps({"format": FORMAT, "version": FORMAT_VERSION, "schema": current_schema(session),
                          "exported_at": datetime.now(UTC).isoformat(),
                          "dialect": session.get_bind().dialect.name, "counts": counts})
        written = dict.fromkeys(counts, 0)
        for kind, model in (("project", Project), ("dataset", Dataset)):
            for row in session.scalars(select(model).order_by(model.id)):
                written[kind] += 1
                yield json.dumps({"type": kind, **_row_dict(model, row)})
        query = (select(Image).order_by(Image.id).execution_options(yield_per=BATCH)
                 .options(*(selectinload(getattr(Image, name)) for name in CHILDREN)))
        for row in session.scalars(query):
            record = {"type": "image", **_row_dict(Image, row)}
            for name, model in CHILDREN.items():
                record[name] = [_row_dict(model, child, skip=("image_id",)) for child in getattr(row, name)]
            written["image"] += 1
            yield json.dumps(record)
            session.expunge(row)  # keep memory flat on big catalogues
        yield json.dumps({"type": "end", "counts": written})


# --- import -----------------------------------------------------------------------------

def _header(line: str | None) -> dict:
    try:
        header = json.loads(line) if line else None
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise BackupError(f"not a stratascope catalogue dump (the first line must be a {FORMAT!r} header)")
    version = header.get("version")
    if version != FORMAT_VERSION:
        raise BackupError(f"dump format version {version!r} is not supported: this stratascope reads version "
                          f"{FORMAT_VERSION} (export it again with a matching stratascope)")
    known = {rev.revision for rev in ScriptDirectory.from_config(_alembic_config(None)).walk_revisions()}
    if header.get("schema") not in known:
        raise BackupError(f"dump schema {header.get('schema')!r} is unknown to this stratascope "
                          f"(known: {', '.join(sorted(known))}); upgrade stratascope to import it")
    return header


def _is_empty(session: Session) -> bool:
    return all(session.scalar(select(func.count()).select_from(m)) == 0 for m in (Project, Dataset, Image))


class _Importer:
    def __init__(self, session: Session, merge: bool):
        self.session, self.merge = session, merge
        self.projects: dict[int, int] = {}  # id in the dump -> id here
        self.datasets: dict[int, int] = {}
        self.counts = {"project": 0, "dataset": 0, "image": 0, "skipped": 0}

    def _insert(self, model, values: dict) -> int:
        result = self.session.execute(insert(model).values(**values))
        return result.inserted_primary_key[0]

    def project(self, data: dict, where: str) -> None:
        values = _columns(Project, data, where)
        old = values["id"]
        if self.merge:
            existing = self.session.scalar(select(Project.id).where(Project.name == values["name"]))
            if existing is not None:
                self.projects[old] = existing
                return
            values.pop("id")
        self.projects[old] = self._insert(Project, values)
        self.counts["project"] += 1

    def dataset(self, data: dict, where: str) -> None:
        values = _columns(Dataset, data, where)
        old = values["id"]
        if values["project_id"] not in self.projects:
            raise BackupError(f"{where}: dataset {old} names project {values['project_id']}, which is not in the dump")
        values["project_id"] = self.projects[values["project_id"]]
        if self.merge:
            existing = self.session.scalar(select(Dataset.id).where(
                Dataset.project_id == values["project_id"], Dataset.name == values["name"]))
            if existing is not None:
                self.datasets[old] = existing
                return
            values.pop("id")
        self.datasets[old] = self._insert(Dataset, values)
        self.counts["dataset"] += 1

    def image(self, data: dict, where: str) -> None:
        children = {name: data.get(name) or [] for name in CHILDREN}
        values = _columns(Image, data, where, skip=tuple(CHILDREN))
        if values.get("dataset_id") is not None:
            if values["dataset_id"] not in self.datasets:
                raise BackupError(f"{where}: image {values['id']} names dataset {values['dataset_id']}, "
                                  "which is not in the dump")
            values["dataset_id"] = self.datasets[values["dataset_id"]]
        if self.merge:
            exists = self.session.scalar(select(Image.id).where(Image.url == values["url"],
                                                               Image.series == values["series"]))
            if exists is not None:
                self.counts["skipped"] += 1
                return
            values.pop("id")
        image_id = self._insert(Image, values)
        for name, model in CHILDREN.items():
            rows = []
            for child in children[name]:
                if not isinstance(child, dict):
                    raise BackupError(f"{where}: {name} entries must be objects")
                row = _columns(model, child, f"{where} {name}")
                if self.merge:
                    row.pop("id", None)
                rows.append({**row, "image_id": image_id})
            if rows:
                self.session.execute(insert(model), rows)
        self.counts["image"] += 1

    def fix_sequences(self) -> None:
        """PostgreSQL: explicit ids do not advance the serial sequences; move them past max(id)."""
        if self.session.get_bind().dialect.name != "postgresql":
            return
        for model in TABLES:
            table = model.__tablename__
            self.session.execute(text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"))


def import_lines(lines: Iterable[str], *, merge: bool = False) -> dict:
    """Load a dump in one transaction (all or nothing). Returns counts of what was added."""
    get_engine()  # migrated to the newest schema first
    iterator = iter(lines)
    header = _header(next(iterator, None))
    ended = None
    with session_scope(write=True) as session:
        if not merge and not _is_empty(session):
            raise BackupError("the catalogue is not empty: import into an empty catalogue "
                              "(a new database) or pass --merge to add to this one")
        importer = _Importer(session, merge)
        for number, line in enumerate(iterator, start=2):
            if not line.strip():
                continue
            where = f"line {number}"
            if ended is not None:
                raise BackupError(f"{where}: data after the end line")
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise BackupError(f"{where}: not valid JSON ({exc})") from None
            kind = record.pop("type", None) if isinstance(record, dict) else None
            if kind == "end":
                ended = record.get("counts") or {}
            elif kind in ("project", "dataset", "image"):
                getattr(importer, kind)(record, where)
            else:
                raise BackupError(f"{where}: unknown record type {kind!r}")
            if number % BATCH == 0:
                session.flush()
        if ended is None:
            raise BackupError("the dump has no end line: it is truncated (nothing was imported)")
        expected = header.get("counts") or {}
        if {k: ended.get(k) for k in expected} != expected:
            raise BackupError(f"the dump's end line counts {ended} differ from its header {expected}")
        importer.fix_sequences()
        return importer.counts


def table_names() -> set[str]:
    """Every table the dump covers (tests compare it with the schema, so no table is forgotten)."""
    return {model.__tablename__ for model in TABLES} | {"alembic_version"}


def schema_tables() -> set[str]:
    return set(Base.metadata.tables) | {"alembic_version"}
