"""Engines, sessions and migrations. SQLite by default, any SQLAlchemy URL otherwise."""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from .. import state
from ..config import get_settings
from .errors import CatalogueError, ReadOnlyCatalogue

MIGRATIONS = Path(__file__).with_name("migrations")
_lock = threading.Lock()
_engines: dict[tuple[str, bool], Engine] = {}


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


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (no-op when current)."""
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "head")


def schema_is_current(engine: Engine) -> bool:
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    head = ScriptDirectory.from_config(_alembic_config(None)).get_current_head()
    return current == head


def get_engine(url: str | None = None, *, read_only: bool | None = None) -> Engine:
    settings = get_settings()
    url = url or settings.database_url
    read_only = settings.read_only if read_only is None else read_only
    key = (url, read_only)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _build_engine(url, read_only)
            if read_only:
                if not schema_is_current(engine):
                    raise ReadOnlyCatalogue(
                        "the catalogue schema is not current and read-only mode cannot migrate it; "
                        "run any stratascope command once without --read-only"
                    )
            else:
                migrate(engine)
            _engines[key] = engine
        return engine


@state.on_reset
def dispose_engines() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


@contextmanager
def session_scope(*, write: bool = False, url: str | None = None):
    """A session committed on success and rolled back on any error."""
    if write and get_settings().read_only:
        raise ReadOnlyCatalogue("the server is in read-only mode: the catalogue cannot be changed")
    factory = sessionmaker(get_engine(url), expire_on_commit=False)
    session: Session = factory()
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
