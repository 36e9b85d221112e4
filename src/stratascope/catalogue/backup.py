"""Portable catalogue dumps: JSON lines that round-trip SQLite <-> PostgreSQL.

Layout (one JSON object per line):

    {"format": "stratascope-catalogue", "version": 1, "schema": "<alembic revision>",
     "exported_at": ..., "dialect": "sqlite", "counts": {"projects": n, "datasets": n, ...}}
    {"type": "<table>", <every column>}            one line per row, parents before children
    {"type": "images", <every column of images>,
     "levels": [<every column but image_id; manifest as base64>], "channels": [...], "sources": [...]}
    {"type": "end", "counts": {...}}

Every table of the catalogue is written (projects, datasets, images with their levels,
channels and source objects, and whatever else the schema holds, e.g. users and groups),
generically from the table definitions, so no field is forgotten: datetimes as ISO 8601
in UTC, bytes as base64, JSON columns as JSON. The closing "end" line lets import refuse
a truncated file. NOTE: the dump holds everything the database holds, including password
and API-token hashes; keep it as safe as the database.

Import into an empty catalogue keeps every id (image URLs stay valid) and moves
PostgreSQL's sequences past them. `merge=True` adds to a non-empty catalogue: rows that
match an existing one on a unique key (project name, dataset in its project, image URL +
series, user name, ...) are reused (images: skipped), the rest get new ids and every
foreign key is remapped.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import DateTime, LargeBinary, Table, and_, func, insert, select, text
from sqlalchemy.orm import Session

from .db import Catalogue, _alembic_config
from .errors import CatalogueError
from .models import Base

FORMAT = "stratascope-catalogue"
FORMAT_VERSION = 1
IMAGES = "images"
#: tables written inside their image's line (name in the line -> table)
CHILDREN = {"levels": "levels", "channels": "channels", "sources": "source_objects"}
BATCH = 200


class BackupError(CatalogueError):
    """The dump cannot be written or read (unknown version, truncated, inconsistent, ...)."""


def _tables() -> list[Table]:
    """Every catalogue table, parents before children (foreign-key order)."""
    return list(Base.metadata.sorted_tables)


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


def _dump_row(table: Table, row, skip=()) -> dict:
    return {c.name: _dump_value(c, row._mapping[c]) for c in table.columns if c.name not in skip}


def _load_row(table: Table, data: dict, where: str) -> dict:
    unknown = set(data) - set(table.columns.keys())
    if unknown:
        raise BackupError(f"{where}: unknown {table.name} fields {sorted(unknown)} (written by a newer stratascope?)")
    return {name: _load_value(table.columns[name], value, where) for name, value in data.items()}


# --- export -----------------------------------------------------------------------------

def export_lines(db: Catalogue) -> Iterator[str]:
    """The dump, line by line; images stream in batches, so manifests are never all in memory."""
    tables = _tables()
    meta = Base.metadata.tables
    nested = set(CHILDREN.values())
    with db.session() as session:
        counts = {t.name: session.scalar(select(func.count()).select_from(t)) for t in tables if t.name not in nested}
        schema = MigrationContext.configure(session.connection()).get_current_revision()
        yield json.dumps({"format": FORMAT, "version": FORMAT_VERSION, "schema": schema,
                          "exported_at": datetime.now(UTC).isoformat(),
                          "dialect": session.get_bind().dialect.name, "counts": counts})
        written = dict.fromkeys(counts, 0)
        for table in tables:
            if table.name in nested:
                continue
            query = select(table).order_by(*table.primary_key.columns)
            if table.name != IMAGES:
                for row in session.execute(query):
                    written[table.name] += 1
                    yield json.dumps({"type": table.name, **_dump_row(table, row)})
                continue
            for batch in session.execute(query.execution_options(yield_per=BATCH)).partitions():
                ids = [row.id for row in batch]
                children = {name: _children(session, meta[child], ids) for name, child in CHILDREN.items()}
                for row in batch:
                    record = {"type": IMAGES, **_dump_row(table, row)}
                    for name in CHILDREN:
                        record[name] = children[name].get(row.id, [])
                    written[IMAGES] += 1
                    yield json.dumps(record)
        yield json.dumps({"type": "end", "counts": written})


def _children(session: Session, table: Table, image_ids: list[int]) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    query = select(table).where(table.c.image_id.in_(image_ids)).order_by(table.c.image_id, table.c.id)
    for row in session.execute(query):
        out.setdefault(row.image_id, []).append(_dump_row(table, row, skip=("image_id",)))
    return out


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


def _unique_keys(table: Table) -> list[tuple[str, ...]]:
    """Column sets that identify a row besides a surrogate id (used to match rows in merge mode)."""
    keys = [tuple(c.name for c in constraint.columns) for constraint in table.constraints
            if constraint.__class__.__name__ == "UniqueConstraint"]
    keys += [(c.name,) for c in table.columns if c.unique]
    pk = tuple(c.name for c in table.primary_key.columns)
    if pk != ("id",):  # a natural key (e.g. memberships)
        keys.append(pk)
    return keys


class _Importer:
    def __init__(self, session: Session, merge: bool):
        self.session, self.merge = session, merge
        self.tables = {t.name: t for t in _tables()}
        self.ids: dict[str, dict] = {name: {} for name in self.tables}  # dump id -> id here, per table
        self.counts: dict[str, int] = {"skipped_images": 0}

    def _remap(self, table: Table, values: dict, where: str) -> dict:
        for column in table.columns:
            value = values.get(column.name)
            for fk in column.foreign_keys:
                target = fk.column.table.name
                if value is None:
                    continue
                if value not in self.ids[target]:
                    raise BackupError(f"{where}: {table.name}.{column.name} = {value} names a {target} row "
                                      "that is not in the dump")
                values[column.name] = self.ids[target][value]
        return values

    def _existing(self, table: Table, values: dict):
        for key in _unique_keys(table):
            if all(name in values for name in key):
                match = and_(*(table.c[name] == values[name] for name in key))
                found = self.session.execute(select(*table.primary_key.columns).where(match)).first()
                if found is not None:
                    return found[0]
        return None

    def row(self, kind: str, data: dict, where: str) -> int | None:
        table = self.tables.get(kind)
        if table is None or kind in CHILDREN.values():
            raise BackupError(f"{where}: unknown record type {kind!r}")
        children = {name: data.pop(name, None) or [] for name in CHILDREN} if kind == IMAGES else {}
        values = self._remap(table, _load_row(table, data, where), where)
        old_id = values.get("id")
        surrogate = tuple(c.name for c in table.primary_key.columns) == ("id",)
        if self.merge:
            existing = self._existing(table, values)
            if existing is not None:
                if surrogate:
                    self.ids[kind][old_id] = existing
                if kind == IMAGES:
                    self.counts["skipped_images"] += 1
                return None
            if surrogate:
                values.pop("id", None)
        result = self.session.execute(insert(table).values(**values))
        new_id = result.inserted_primary_key[0] if surrogate else None
        if surrogate:
            self.ids[kind][old_id] = new_id
        self.counts[kind] = self.counts.get(kind, 0) + 1
        for name, rows in children.items():
            self._children(self.tables[CHILDREN[name]], rows, new_id, f"{where} {name}")
        return new_id

    def _children(self, table: Table, rows: list, image_id: int, where: str) -> None:
        values = []
        for child in rows:
            if not isinstance(child, dict):
                raise BackupError(f"{where}: entries must be objects")
            loaded = _load_row(table, child, where)
            if self.merge:
                loaded.pop("id", None)
            values.append({**loaded, "image_id": image_id})
        if values:
            self.session.execute(insert(table), values)

    def fix_sequences(self) -> None:
        """PostgreSQL: explicit ids do not advance serial sequences; move each past max(id)."""
        if self.session.get_bind().dialect.name != "postgresql":
            return
        for table in self.tables.values():
            if tuple(c.name for c in table.primary_key.columns) == ("id",):
                self.session.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"))


def _is_empty(session: Session) -> bool:
    return all(session.scalar(select(func.count()).select_from(t)) == 0 for t in _tables())


def import_lines(db: Catalogue, lines: Iterable[str], *, merge: bool = False) -> dict[str, int]:
    """Load a dump in one transaction (all or nothing). Returns how many rows of each table were added."""
    db.engine  # noqa: B018  (migrated to the newest schema first)
    iterator = iter(lines)
    header = _header(next(iterator, None))
    ended = None
    with db.session(write=True) as session:
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
            if not isinstance(record, dict):
                raise BackupError(f"{where}: expected a JSON object")
            kind = record.pop("type", None)
            if kind == "end":
                ended = record.get("counts") or {}
            else:
                importer.row(kind, record, where)
            if number % BATCH == 0:
                session.flush()
        if ended is None:
            raise BackupError("the dump has no end line: it is truncated (nothing was imported)")
        if ended != (header.get("counts") or {}):
            raise BackupError(f"the dump's end line counts {ended} differ from its header {header.get('counts')}")
        importer.fix_sequences()
        return importer.counts
