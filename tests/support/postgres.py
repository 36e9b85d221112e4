"""A throwaway PostgreSQL cluster for tests: initdb + pg_ctl in a temp dir, 127.0.0.1, free port.

Three ways in:
  * scripts/run-tests.sh runs `python tests/support/postgres.py start STATE_FILE $$` (prints
    the SQLAlchemy URL) before pytest and `... stop STATE_FILE` on exit, and exports the URL as
    STRATASCOPE_TEST_POSTGRES_URL so that every pytest worker shares one server;
  * the `postgres_url` pytest fixture (session; tests/conftest.py imports it) uses that
    variable when set, else starts its own cluster when Debian's PostgreSQL binaries are
    installed, else skips with the reason;
  * `TempPostgres().start()` from Python.
initdb refuses to run as root, so as root the cluster is owned by and run as the `postgres`
OS user (created by Debian's postgresql package). Durability is switched off: it is a test DB.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ENV_VAR = "STRATASCOPE_TEST_POSTGRES_URL"
DATABASE = "stratascope_test"
PREFERRED_MAJOR = "15"


def find_bin_dir() -> Path | None:
    """Debian's /usr/lib/postgresql/<major>/bin with initdb: 15 if present, else the newest."""
    override = os.environ.get("STRATASCOPE_PG_BIN")
    if override:
        return Path(override) if (Path(override) / "initdb").exists() else None
    root = Path("/usr/lib/postgresql")
    candidates = sorted(
        (p / "bin" for p in root.glob("*") if (p / "bin" / "initdb").exists()),
        key=lambda p: (p.parent.name != PREFERRED_MAJOR, -int(p.parent.name) if p.parent.name.isdigit() else 0),
    )
    if candidates:
        return candidates[0]
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def missing_reason() -> str | None:
    """Why no throwaway cluster can be started here, or None when it can."""
    if find_bin_dir() is None:
        return "PostgreSQL server binaries not found (run scripts/install-system-deps.sh)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root but there is no 'postgres' OS user to run initdb as"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TempPostgres:
    def __init__(self, bin_dir: Path | None = None, port: int | None = None, base_dir: Path | None = None):
        self.bin_dir = bin_dir or find_bin_dir()
        if self.bin_dir is None:
            raise RuntimeError(missing_reason())
        self.port = port or _free_port()
        # Not under pytest's tmp dirs: those are 0700 root, and the server may run as `postgres`.
        self.base = Path(base_dir or tempfile.mkdtemp(prefix="stratascope-pg-"))
        self.data_dir = self.base / "data"
        self.log_file = self.base / "postgres.log"
        self.run_as = "postgres" if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if self.run_as:
            cmd = ["runuser", "-u", self.run_as, "--", *cmd]
        result = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout, cwd=self.base)
        if result.returncode != 0:
            log = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
            raise RuntimeError(f"{' '.join(args[:1])} failed ({result.returncode}): {result.stderr.strip()}\n{log}")
        return result

    def start(self, owner_pid: int | None = None) -> str:
        """Start and return the URL. With `owner_pid`, a watchdog stops the cluster once that
        process is gone, so a killed test run (SIGKILL, timeout) leaves no server behind."""
        if self.run_as:
            owner = pwd.getpwnam(self.run_as)
            os.chown(self.base, owner.pw_uid, owner.pw_gid)
        self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--no-locale", "--no-sync")
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.base} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=200"
        )
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-o", options, "-w", "-t", "60",
                  "start")
        if owner_pid:
            self._start_watchdog(owner_pid)
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", DATABASE)
        return self.url

    def _start_watchdog(self, owner_pid: int) -> None:
        state = self.base / "watchdog.json"
        self.save(state)
        subprocess.Popen(
            [sys.executable, __file__, "watch", str(state), str(owner_pid)], start_new_session=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            try:
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop", timeout=60)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                print(f"warning: stopping PostgreSQL failed: {exc}", file=sys.stderr)
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # A state file lets a later process (the shell script's trap) stop the cluster.
    def save(self, state_file: Path) -> None:
        state = {"bin_dir": str(self.bin_dir), "port": self.port, "base": str(self.base)}
        Path(state_file).write_text(json.dumps(state))

    @classmethod
    def load(cls, state_file: Path) -> TempPostgres:
        state = json.loads(Path(state_file).read_text())
        return cls(Path(state["bin_dir"]), state["port"], Path(state["base"]))


@pytest.fixture(scope="session")
def postgres_url():
    """SQLAlchemy URL of a PostgreSQL server for tests. Shared by all tests (and by xdist
    workers when run-tests.sh started it): create uniquely named databases or schemas."""
    url = os.environ.get(ENV_VAR)
    if url:
        yield url
        return
    reason = missing_reason()
    if reason:
        pytest.skip(f"no PostgreSQL: {ENV_VAR} is unset and {reason}")
    server = TempPostgres()
    try:
        url = server.start()
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        server.stop()
        pytest.fail(f"could not start a throwaway PostgreSQL: {exc}")
    yield url
    server.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _watch(state_file: Path, owner_pid: int) -> None:
    """Stop the cluster when its owner process ends without stopping it."""
    while state_file.exists() and _alive(owner_pid):
        time.sleep(1)
    if state_file.exists():
        TempPostgres.load(state_file).stop()


def main(argv: list[str]) -> int:
    """`start STATE_FILE [OWNER_PID]` prints the URL (and stops the cluster by itself once
    OWNER_PID has gone); `stop STATE_FILE` stops it and removes everything."""
    if len(argv) == 3 and argv[0] == "watch":
        _watch(Path(argv[1]), int(argv[2]))
        return 0
    if not (len(argv) == 2 or (len(argv) == 3 and argv[0] == "start")) or argv[0] not in {"start", "stop", "check"}:
        print(__doc__, file=sys.stderr)
        print("usage: postgres.py start STATE_FILE [OWNER_PID] | stop STATE_FILE | check -", file=sys.stderr)
        return 2
    command, state_file = argv[:2]
    if command == "check":
        reason = missing_reason()
        print(reason or "ok")
        return 1 if reason else 0
    if command == "stop":
        if Path(state_file).exists():
            TempPostgres.load(Path(state_file)).stop()
            Path(state_file).unlink()
        return 0
    server = TempPostgres()
    server.save(Path(state_file))
    try:
        print(server.start(owner_pid=int(argv[2]) if len(argv) == 3 else None))
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        server.stop()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
