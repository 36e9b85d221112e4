"""Cache warming on a Dask cluster: every chunk of the chosen levels read through the
workers' cache tier, in slices of a level's chunk grid (one task per slice).

Workers need the source stores and the cache tier, not the catalogue: the client sends
each image record (with its manifests) once (scattered) and tasks read chunks by index
through the pixel reader's own fetch, so the cache keys are exactly those a server uses
(bound to the image revision). The cache tier must
be the one the servers use — one folder on this machine for a local cluster, an
object-store prefix for workers on other machines (`check_workers` refuses otherwise).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import uuid
from collections.abc import Callable

from ..services import Services, build_services
from ..storage import SOURCE_REQUESTS, RequestCounts
from .cluster import check_workers

CHUNKS_PER_TASK = 2048
TASK_CONCURRENCY = 16


def _grid(level) -> list[int]:
    return [math.ceil(s / c) for s, c in zip(level.shape, level.chunks)]


async def _warm_slice(services: Services, record, level_no: int, start: int, stop: int) -> list[str]:
    cache = await asyncio.to_thread(services.cache.get)
    if not cache.enabled:
        return [f"image {record.id} level {level_no}: the cache tier is disabled on this worker"]
    indices = itertools.islice(itertools.product(*(range(n) for n in _grid(record.levels[level_no]))), start, stop)
    errors = await services.reader.warm(record, level_no, indices, concurrency=TASK_CONCURRENCY)
    await asyncio.to_thread(cache.flush)  # hit counts and access times reach the shared index now
    return errors


def warm_slice_task(record, level_no: int, start: int, stop: int) -> tuple[int, list[str]]:
    """Runs in a worker: (chunks visited, error messages)."""
    services = build_services()  # from the worker's environment; the same cache tier as the servers
    try:
        return stop - start, asyncio.run(_warm_slice(services, record, level_no, start, stop))
    finally:
        services.close()


def _source_counts() -> RequestCounts:
    return SOURCE_REQUESTS.snapshot()


def _total(per_worker_before: dict, per_worker_after: dict) -> RequestCounts:
    total = RequestCounts()
    for address, after in per_worker_after.items():
        before = per_worker_before.get(address, RequestCounts())
        delta = after - before
        total = RequestCounts({op: total.requests[op] + n for op, n in delta.requests.items()},
                              total.bytes_read + delta.bytes_read)
    return total


def warm_on_cluster(services: Services, jobs: list, client,
                    on_chunks: Callable[[int], None] | None = None) -> tuple[list[str], RequestCounts]:
    """Warm every (ImageRecord, level number) in `jobs` on the cluster's workers; returns the
    error messages and the source requests the workers made for it."""
    from distributed import as_completed

    check_workers(client, services.settings, needs=("cache_url",))
    run = uuid.uuid4().hex[:8]
    before = client.run(_source_counts)
    futures, shared = [], {}
    for record, level_no in jobs:
        if record.id not in shared:  # TIFF manifests can be large: each record is sent once
            [shared[record.id]] = client.scatter([record], broadcast=False, hash=False)
        total = math.prod(_grid(record.levels[level_no]))
        for start in range(0, total, CHUNKS_PER_TASK):
            stop = min(start + CHUNKS_PER_TASK, total)
            futures.append(client.submit(warm_slice_task, shared[record.id], level_no, start, stop,
                                         key=f"warm-{run}-{record.id}-{level_no}-{start}"))
    errors: list[str] = []
    for future in as_completed(futures):
        try:
            done, task_errors = future.result()
        except Exception as exc:  # a worker died: report, keep going with the other slices
            done, task_errors = 0, [f"Dask task {future.key} failed: {type(exc).__name__}: {exc}"]
        errors.extend(task_errors)
        if on_chunks:
            on_chunks(done)
        future.release()
    return errors, _total(before, client.run(_source_counts))
