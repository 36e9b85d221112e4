"""The LRU index of a cache tier: one small SQLite file shared by every process.

SQLite (WAL mode, busy timeout) serialises the bookkeeping of several server
processes that use the same cache; the entries themselves are written and read
without any lock (atomic replace / atomic object PUT, checksummed on read). The
index can therefore lag behind the entries for a moment (a row whose file another
process just evicted, a file whose row is not written yet); both are harmless: a
missing file is a miss, and a stale row is the least recently used and goes first.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY, kind TEXT NOT NULL, size INTEGER NOT NULL, atime INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_atime ON entries (atime);
CREATE TABLE IF NOT EXISTS totals (
    id INTEGER PRIMARY KEY CHECK (id = 0), bytes INTEGER NOT NULL, entries INTEGER NOT NULL
);
INSERT OR IGNORE INTO totals VALUES (0, 0, 0);
CREATE TABLE IF NOT EXISTS counters (kind TEXT PRIMARY KEY, hits INTEGER NOT NULL, misses INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT);
CREATE TRIGGER IF NOT EXISTS entries_ins AFTER INSERT ON entries BEGIN
    UPDATE totals SET bytes = bytes + NEW.size, entries = entries + 1 WHERE id = 0; END;
CREATE TRIGGER IF NOT EXISTS entries_del AFTER DELETE ON entries BEGIN
    UPDATE totals SET bytes = bytes - OLD.size, entries = entries - 1 WHERE id = 0; END;
CREATE TRIGGER IF NOT EXISTS entries_upd AFTER UPDATE OF size ON entries BEGIN
    UPDATE totals SET bytes = bytes - OLD.size + NEW.size WHERE id = 0; END;
"""

_UPSERT = (
    "INSERT INTO entries (key, kind, size, atime) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET size = excluded.size, atime = max(atime, excluded.atime)"
)
_EVICT_BATCH = 128


def now_ns() -> int:
    return time.time_ns()


class CacheIndex:
    """Sizes and last-access times of entries, totals, and hit/miss counters per kind."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # autocommit mode; transactions are explicit (BEGIN IMMEDIATE takes the write lock up front)
        self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA busy_timeout = 60000")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        # executescript commits statement by statement; every statement is idempotent
        self._db.executescript(_SCHEMA)
        #: True for exactly one opener of a fresh index: it adopts entries already stored
        self.created = self._claim("created")

    def _transaction(self):
        return _Transaction(self._db, self._lock)

    def _claim(self, name: str) -> bool:
        with self._transaction():
            cur = self._db.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (name, str(now_ns())))
            return cur.rowcount == 1

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def record_and_evict(self, key: str, kind: str, size: int, max_bytes: int, touches=None, counts=None) -> list[str]:
        """Apply buffered reads (so they count before choosing victims), record a written entry as
        most recently used, and return the keys to delete to fit the budget; one transaction."""
        with self._transaction():
            self._apply(touches or {}, counts or {})
            self._db.execute(_UPSERT, (key, kind, size, now_ns()))
            return self._evict(max_bytes)

    def _evict(self, max_bytes: int) -> list[str]:
        victims: list[str] = []
        while True:
            total = self._db.execute("SELECT bytes FROM totals WHERE id = 0").fetchone()[0]
            if total <= max_bytes:
                return victims
            rows = self._db.execute(
                "SELECT key, size FROM entries ORDER BY atime LIMIT ?", (_EVICT_BATCH,)
            ).fetchall()
            if not rows:
                return victims
            chosen = []
            for key, size in rows:
                if total <= max_bytes:
                    break
                chosen.append(key)
                total -= size
            self._db.executemany("DELETE FROM entries WHERE key = ?", [(k,) for k in chosen])
            victims.extend(chosen)

    def evict(self, max_bytes: int) -> list[str]:
        with self._transaction():
            return self._evict(max_bytes)

    def flush(self, touches: dict[str, tuple[str, int, int]], counts: dict[str, list[int]]) -> None:
        """Apply buffered reads: last-access times (key -> (kind, size, atime)) and hit/miss counts."""
        if not touches and not counts:
            return
        with self._transaction():
            self._apply(touches, counts)

    def _apply(self, touches: dict, counts: dict) -> None:
        if touches:
            self._db.executemany(_UPSERT, [(k, kind, size, atime) for k, (kind, size, atime) in touches.items()])
        if counts:
            self._db.executemany(
                "INSERT INTO counters VALUES (?, ?, ?) ON CONFLICT (kind) DO UPDATE SET "
                "hits = hits + excluded.hits, misses = misses + excluded.misses",
                [(kind, h, m) for kind, (h, m) in counts.items()],
            )

    def forget(self, keys: Iterable[str]) -> None:
        with self._transaction():
            self._db.executemany("DELETE FROM entries WHERE key = ?", [(k,) for k in keys])

    def keys_with_prefix(self, prefix: str | None) -> list[str]:
        with self._lock:
            if prefix is None:
                return [r[0] for r in self._db.execute("SELECT key FROM entries")]
            rows = self._db.execute("SELECT key FROM entries WHERE substr(key, 1, ?) = ?", (len(prefix), prefix))
            return [r[0] for r in rows]

    def drop(self, prefix: str | None) -> None:
        """Forget entries under `prefix` (None: all entries and the hit/miss counters)."""
        with self._transaction():
            if prefix is None:
                self._db.execute("DELETE FROM entries")
                self._db.execute("DELETE FROM counters")
            else:
                self._db.execute("DELETE FROM entries WHERE substr(key, 1, ?) = ?", (len(prefix), prefix))

    def adopt(self, rows: Iterable[tuple[str, str, int, int]]) -> None:
        """Add entries found in storage (key, kind, size, atime) without touching newer rows."""
        with self._transaction():
            self._db.executemany(_UPSERT, list(rows))

    def size_of(self, key: str) -> int | None:
        with self._lock:
            row = self._db.execute("SELECT size FROM entries WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def totals(self) -> dict:
        with self._lock:
            total_bytes, entries = self._db.execute("SELECT bytes, entries FROM totals WHERE id = 0").fetchone()
            kinds = {
                kind: {"bytes": b, "entries": n}
                for kind, b, n in self._db.execute("SELECT kind, sum(size), count(*) FROM entries GROUP BY kind")
            }
            counters = {kind: [h, m] for kind, h, m in self._db.execute("SELECT kind, hits, misses FROM counters")}
        return {"bytes": total_bytes, "entries": entries, "kinds": kinds, "counters": counters}


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT under the connection lock (ROLLBACK on error)."""

    def __init__(self, db: sqlite3.Connection, lock: threading.Lock):
        self.db, self.lock = db, lock

    def __enter__(self):
        self.lock.acquire()
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self.lock.release()
            raise
        return self.db

    def __exit__(self, exc_type, exc, tb):
        try:
            self.db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.lock.release()
        return False
