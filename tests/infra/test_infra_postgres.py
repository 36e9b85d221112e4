"""The throwaway PostgreSQL used by catalogue tests (tests/support/postgres.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from support.postgres import ENV_VAR, TempPostgres, missing_reason

SCRIPT = Path(__file__).parents[1] / "support" / "postgres.py"


def test_postgres_url_fixture_gives_a_working_server(postgres_url):
    engine = sa.create_engine(postgres_url)
    table = f"infra_check_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        assert conn.execute(sa.text("select 1")).scalar() == 1
        conn.execute(sa.text(f"create table {table} (id int primary key, name text)"))
        conn.execute(sa.text(f"insert into {table} values (1, 'ünïcode')"))
    with engine.begin() as conn:
        assert conn.execute(sa.text(f"select name from {table}")).scalar() == "ünïcode"
        conn.execute(sa.text(f"drop table {table}"))
    engine.dispose()


@pytest.mark.skipif(missing_reason() is not None, reason=str(missing_reason()))
def test_start_and_stop_script_leaves_nothing_behind(tmp_path):
    state = tmp_path / "pg.json"
    started = subprocess.run(
        [sys.executable, str(SCRIPT), "start", str(state)], capture_output=True, text=True, timeout=180
    )
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip()
    assert url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    base = Path(TempPostgres.load(state).base)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert "PostgreSQL" in conn.execute(sa.text("select version()")).scalar()
    engine.dispose()

    stopped = subprocess.run([sys.executable, str(SCRIPT), "stop", str(state)], capture_output=True, timeout=120)
    assert stopped.returncode == 0
    assert not base.exists() and not state.exists()
    with pytest.raises(sa.exc.OperationalError):
        sa.create_engine(url, connect_args={"connect_timeout": 2}).connect()


@pytest.mark.skipif(missing_reason() is not None, reason=str(missing_reason()))
def test_cluster_stops_by_itself_when_its_owner_dies(tmp_path):
    owner = subprocess.Popen(["sleep", "600"])
    state = tmp_path / "pg.json"
    try:
        started = subprocess.run(
            [sys.executable, str(SCRIPT), "start", str(state), str(owner.pid)],
            check=False, capture_output=True, text=True, timeout=180,
        )
        assert started.returncode == 0, started.stderr
        base = TempPostgres.load(state).base
        assert (base / "data" / "postmaster.pid").exists()
    finally:
        owner.kill()
        owner.wait()
    deadline = time.monotonic() + 90
    while base.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not base.exists(), "the watchdog did not stop the cluster of a dead owner"


def test_run_tests_script_exports_the_url_when_postgres_is_installed():
    if missing_reason() is None and os.environ.get("CI"):
        assert os.environ.get(ENV_VAR), "scripts/run-tests.sh should have started PostgreSQL for this run"
    elif not os.environ.get(ENV_VAR):
        pytest.skip(f"{ENV_VAR} unset: not run through scripts/run-tests.sh")
    assert os.environ[ENV_VAR].startswith("postgresql+psycopg://")
