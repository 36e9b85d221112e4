"""Connecting to a Dask cluster (or starting a local one) and checking its workers' setup."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..config import Settings, load_settings
from ..storage.urls import parse_url

CONNECT_TIMEOUT_S = 10
#: tasks mostly wait on the network, so a few run at once in each local worker process
LOCAL_THREADS_PER_WORKER = 4


class JobError(Exception):
    """The cluster cannot run the job (unreachable, no workers, workers set up differently)."""


@contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None) -> Iterator:
    """A `distributed.Client`: connected to `scheduler` (tcp://host:port), or to a throwaway
    LocalCluster of `workers` processes on this machine (closed on exit)."""
    from distributed import Client, LocalCluster

    if scheduler and workers:
        raise JobError("give either --scheduler (an existing cluster) or --workers (a local one), not both")
    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError) as exc:
            raise JobError(f"cannot connect to the Dask scheduler {scheduler}: {exc}") from exc
        try:
            yield client
        finally:
            client.close()
        return
    if not workers or workers < 1:
        raise JobError("give --workers N (>= 1) or --scheduler tcp://host:port")
    # Workers are spawned now and inherit os.environ: STRATASCOPE_*, AWS_* as set here.
    with LocalCluster(n_workers=workers, threads_per_worker=LOCAL_THREADS_PER_WORKER, processes=True,
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        yield client


def worker_setup(settings: Settings | None = None) -> dict:
    """What a process uses as catalogue and cache tier (run on every worker: from its environment)."""
    settings = settings or load_settings()
    return {"database_url": settings.database_url, "cache_url": settings.cache_url,
            "read_only": settings.read_only, "host": socket.gethostname()}


def _shown(database_url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(database_url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable database URL>"


def _host_local(setup: dict, key: str) -> bool:
    """Whether that resource only exists on one host (SQLite file, local cache folder)."""
    if key == "database_url":
        return setup[key].startswith("sqlite")
    return parse_url(setup[key]).scheme == "file"


def _describe(setup: dict, key: str) -> str:
    return _shown(setup[key]) if key == "database_url" else setup[key]


def _normal(setup: dict, key: str) -> str:
    if key == "database_url":
        return setup[key]
    location = parse_url(setup[key])
    if location.scheme == "file":
        return str(Path("/" + location.key).resolve())
    return location.url.rstrip("/")


def check_workers(client, settings: Settings, needs: tuple[str, ...] = ("database_url", "cache_url")) -> int:
    """Number of workers, after checking that each one uses the same catalogue and/or cache
    tier as this process; a JobError explains any difference."""
    mine = worker_setup(settings)
    theirs = client.run(worker_setup)
    if not theirs:
        raise JobError("the Dask cluster has no workers")
    what = {"database_url": "catalogue (STRATASCOPE_DATABASE_URL)", "cache_url": "cache tier (STRATASCOPE_CACHE_URL)"}
    for address, setup in sorted(theirs.items()):
        if setup["read_only"] and "database_url" in needs:
            raise JobError(f"worker {address} runs in read-only mode and cannot register images")
        for key in needs:
            if _normal(setup, key) != _normal(mine, key):
                raise JobError(
                    f"worker {address} uses the {what[key]} {_describe(setup, key)}, this process uses "
                    f"{_describe(mine, key)}: start the workers with the same settings (environment or stratascope.toml)")
            if setup["host"] != mine["host"] and _host_local(setup, key):
                raise JobError(
                    f"worker {address} runs on {setup['host']}, but the {what[key]} {_describe(setup, key)} "
                    "is local to one machine: use PostgreSQL and an object-store cache tier with a remote cluster")
    return len(theirs)
