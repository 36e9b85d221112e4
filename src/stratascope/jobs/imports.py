"""Bulk import on a Dask cluster: discover here, import each candidate on a worker.

Each task runs the same `import_candidate` as the in-process import — read metadata,
register in one transaction, make thumbnails and overviews — so results, statuses and
catalogue contents are the same. Registration happens on the workers, concurrently:
PostgreSQL takes concurrent transactions as they come; SQLite (one machine only) is in
WAL mode with a 30 s busy timeout, so writers queue instead of failing. Rows that many
images share (project, dataset, screen) are created here first, so workers never race to
create them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

from ..ingest.discover import Candidate
from ..ingest.run import ImportOptions, ImportResult, import_candidate, plan_import
from ..services import Services, build_services
from .cluster import check_workers


def import_candidate_task(candidate: Candidate, options: ImportOptions, single: bool) -> list[ImportResult]:
    """Runs in a worker: a fresh event loop and services (from the worker's environment) per task."""
    services = build_services()
    try:
        return asyncio.run(import_candidate(services, candidate, options, single))
    finally:
        services.close()


def _failed(candidate: Candidate, exc: BaseException) -> list[ImportResult]:
    name = candidate.url.rstrip("/").rsplit("/", 1)[-1]
    return [ImportResult(None, name, candidate.url, "failed", f"Dask task failed: {type(exc).__name__}: {exc}")]


def import_on_cluster(
    services: Services, urls: list[str], options: ImportOptions, client,
    on_candidates: Callable[[int], None] | None = None,
    on_result: Callable[[ImportResult], None] | None = None,
) -> list[ImportResult]:
    """Import every image under `urls` with one Dask task per candidate; results in discovery
    order (as the in-process import), reported through `on_result` as tasks finish."""
    from distributed import as_completed

    if not services.read_only:  # read-only: plan_import refuses every URL with its own message
        check_workers(client, services.settings)
    work, failed = asyncio.run(plan_import(services, urls, options, on_result))
    if on_candidates:
        on_candidates(len(work))
    run = uuid.uuid4().hex[:8]
    futures = [client.submit(import_candidate_task, candidate, options, single, key=f"import-{run}-{i}", retries=0)
               for i, (candidate, single) in enumerate(work)]
    position = {future.key: i for i, future in enumerate(futures)}
    batches: list[list[ImportResult]] = [[] for _ in work]
    for future in as_completed(futures):
        i = position[future.key]
        try:
            results = future.result()
        except Exception as exc:  # a worker died or the task could not run: that candidate failed
            results = _failed(work[i][0], exc)
        batches[i] = results
        if on_result:
            for result in results:
                on_result(result)
        future.release()
    return failed + [r for batch in batches for r in batch]
