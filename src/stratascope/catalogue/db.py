"""Engines, sessions and migrations. SQLite by default, any SQLAlchemy URL otherwise."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from .errors import CatalogueError, ReadOnlyCatalogue

MIGRATIONS = Path(__file__).with_name("migrations")


def _alembic_config(connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _build_engine(url: str, read_only: bool) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not read_only:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        if read_only:
            if not Path(database).exists():
                raise CatalogueError(f"catalogue {database} does not exist (read-only mode cannot create it)")
            url = f"sqlite:///file:{database}?mode=ro&uri=true"
            if not os.access(Path(database).parent, os.W_OK) and not Path(database + "-wal").exists():
                # read-only media (a ro mount, a snapshot): SQLite cannot create the WAL's -shm
                # file there and refuses to open; with no -wal nobody writes it, so it is immutable
                url += "&immutable=1"
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        if not read_only:
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    else:
        engine = create_engine(url, pool_pre_ping=True)
    return engine


#: alembic's commands install process-global proxies (alembic.context, alembic.op) while they
#: run: one migration at a time per process (threads each building their own services race there)
_MIGRATE_LOCK = threading.Lock()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (no-op when current)."""
    with _MIGRATE_LOCK, engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "head")


def schema_is_current(engine: Engine) -> bool:
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    head = ScriptDirectory.from_config(_alembic_config(None)).get_current_head()
    return current == head


class Catalogue:
    """The catalogue database: one engine, migrated (or checked, when read-only) on first use.

    Every repository function takes one of these first; the services object owns it."""

    def __init__(self, url: str, *, read_only: bool = False):
        self.url, self.read_only = url, read_only
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self._sessions: sessionmaker | None = None

    @property
    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                engine = _build_engine(self.url, self.read_only)
                try:
                    if not self.read_only:
                        migrate(engine)
                    elif not schema_is_current(engine):
                        raise ReadOnlyCatalogue(
                            "the catalogue schema is not current and read-only mode cannot migrate it; "
                            "run any stratascope command once without --read-only"
                        )
                except BaseException:
                    engine.dispose()
                    raise
                self._engine = engine
                self._sessions = sessionmaker(engine, expire_on_commit=False)
            return self._engine

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """A session committed on success (write=True) and rolled back on any error."""
        if write and self.read_only:
            raise ReadOnlyCatalogue("the server is in read-only mode: the catalogue cannot be changed")
        self.engine  # noqa: B018  (builds the engine and its session factory once)
        assert self._sessions is not None
        session: Session = self._sessions()
        try:
            yield session
            if write:
                session.commit()
            else:
                session.rollback()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        with self._lock:
            engine, self._engine, self._sessions = self._engine, None, None
        if engine is not None:
            engine.dispose()
