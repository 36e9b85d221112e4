"""Latency, throughput and parallel scaling of ranged GETs, plus what they mean for tiles.

Sequential probes read through the `SourceReader` (counted, with stratascope's own retry policy).
The parallel probe uses a twin of the store with retries switched off, so that every
503 is seen, then retries by hand with the same backoff stratascope uses: that is the
only way to report how often the store throttles.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field, replace
from datetime import timedelta

import obstore

from ..storage import Location, ObjectInfo, RetryPolicy, SourceReader, StorageError, StoreRegistry, parse_url
from .model import FAIL, PASS, WARN, CheckItem, Deadline, graded, ms, percentile, short_error

KIB, MIB = 1024, 1024 * 1024
SAMPLES = 20
PHASE_SECONDS = 30.0
LARGE_GET = 16 * MIB
LARGE_TOTAL = 64 * MIB
PARALLEL_LEVELS = (1, 4, 16, 64)
PARALLEL_REQUESTS = 64  # per level, so each level costs the same number of requests
#: the no-retry twin still gives up on a request after this long
NO_RETRY_TIMEOUT = timedelta(seconds=5)

# Thresholds (seconds, MB/s); docs/checklist.md explains each.
SMALL_P50 = (0.100, 1.000)
LARGE_P50 = (0.250, 2.000)
THROUGHPUT = (50.0, 5.0)  # pass at or above the first, fail below the second
TILE = (0.300, 2.000)


@dataclass
class Latencies:
    small: list[float] = field(default_factory=list)
    large: list[float] = field(default_factory=list)


async def _timed_ranges(source: SourceReader, url: str, size: int, length: int, deadline: Deadline,
                        rng: random.Random) -> list[float]:
    samples = []
    for _ in range(SAMPLES):
        if deadline.expired:
            break
        start = rng.randrange(0, max(1, size - length + 1))
        began = time.perf_counter()
        data = await source.get_range(url, start, start + length)
        samples.append(time.perf_counter() - began)
        if len(data) != length:
            raise StorageError(f"asked {length} B, got {len(data)} B")
    return samples


async def latency(source: SourceReader, sample: ObjectInfo | None, note: str) -> tuple[list[CheckItem], Latencies]:
    lat = Latencies()
    items = []
    specs = (("latency_4k", "Latency of 4 KiB ranged GETs", 4 * KIB, SMALL_P50, "small"),
             ("latency_1m", "Latency of 1 MiB ranged GETs", MIB, LARGE_P50, "large"))
    rng = random.Random(0)
    for item_id, title, length, (good, bad), attr in specs:
        if sample is None or sample.size < length:
            items.append(CheckItem(item_id, title, WARN, "untested: no object of at least 1 MiB",
                                   "Put an object of at least 1 MiB under the prefix, or use --write-probe."))
            continue
        try:
            samples = await _timed_ranges(source, sample.url, sample.size, length, Deadline(PHASE_SECONDS), rng)
        except StorageError as exc:
            items.append(CheckItem(item_id, title, FAIL, short_error(exc), "Ranged GETs fail under repetition."))
            continue
        setattr(lat, attr, samples)
        p50, p95 = percentile(samples, 0.5), percentile(samples, 0.95)
        status = graded(p50, good, bad)
        figure = f"p50 {ms(p50)}, p95 {ms(p95)} ({len(samples)} GETs{note})"
        meaning = (f"Each uncached chunk of this size costs about {ms(p50)} "
                   f"(pass below {ms(good)}, fail from {ms(bad)}).")
        items.append(CheckItem(item_id, title, status, figure, meaning))
    return items, lat


async def throughput(source: SourceReader, sample: ObjectInfo | None, note: str) -> CheckItem:
    title = "Throughput of large GETs"
    if sample is None or sample.size < MIB:
        return CheckItem("throughput", title, WARN, "untested: no object of at least 1 MiB",
                         "Put a large object under the prefix, or use --write-probe.")
    deadline, total, began, requests = Deadline(PHASE_SECONDS), 0, time.perf_counter(), 0
    length = min(sample.size, LARGE_GET)
    try:
        while total < LARGE_TOTAL and not deadline.expired:
            start = (requests * length) % max(1, sample.size - length + 1)
            total += len(await source.get_range(sample.url, start, start + length))
            requests += 1
    except StorageError as exc:
        return CheckItem("throughput", title, FAIL, short_error(exc), "Large GETs fail.")
    rate = total / 1e6 / max(time.perf_counter() - began, 1e-9)
    status = PASS if rate >= THROUGHPUT[0] else WARN if rate >= THROUGHPUT[1] else FAIL
    return CheckItem("throughput", title, status,
                     f"{rate:.1f} MB/s ({requests} GETs of {length / MIB:.1f} MiB, one stream{note})",
                     f"Export and cache warming read about {rate:.0f} MB/s per stream "
                     f"(pass from {THROUGHPUT[0]:.0f} MB/s, fail below {THROUGHPUT[1]:.0f} MB/s).")


def no_retry_store(stores: StoreRegistry, location: Location):
    """The same store as `stores.open` builds, but without retries (see the module docstring)."""
    policy = replace(stores.retry, max_retries=0, retry_timeout=NO_RETRY_TIMEOUT)
    return StoreRegistry(stores.overrides, retry=policy, allow_http=stores.allow_http).open(location)


def _throttled(exc: Exception) -> bool:
    text = str(exc)
    return "503" in text or "SlowDown" in text or "429" in text


@dataclass
class Parallel:
    p50: dict[int, float] = field(default_factory=dict)
    rate: dict[int, float] = field(default_factory=dict)
    throttled: int = 0
    retries: int = 0
    failed: list[str] = field(default_factory=list)
    #: retries by hand after a throttled answer, as many as stratascope's own policy allows
    max_retries: int = RetryPolicy.max_retries


async def _one_get(source: SourceReader, policy: RetryPolicy, store, location: Location, start: int,
                   result: Parallel) -> float:
    backoff, max_backoff = policy.init_backoff.total_seconds(), policy.max_backoff.total_seconds()
    began = time.perf_counter()
    for attempt in range(result.max_retries + 1):
        try:
            got = await obstore.get_range_async(store, location.key, start=start, end=start + 4 * KIB)
            source.counter.record("get_range", len(got))  # outside SourceReader, so count it by hand
            return time.perf_counter() - began
        except Exception as exc:  # noqa: BLE001 - classify, then retry or give up
            source.counter.record("get_range")
            if not _throttled(exc) or attempt == result.max_retries:
                raise
            result.throttled += 1
            result.retries += 1
            await asyncio.sleep(backoff * random.uniform(0.5, 1.0))  # jitter, as obstore does
            backoff = min(backoff * 2, max_backoff)
    raise AssertionError("unreachable")


async def parallel(source: SourceReader, stores: StoreRegistry,
                   sample: ObjectInfo | None) -> tuple[Parallel, str | None]:
    result = Parallel(max_retries=stores.retry.max_retries)
    if sample is None or sample.size < 4 * KIB:
        return result, "no object of at least 4 KiB"
    location = parse_url(sample.url)
    store, rng, deadline = no_retry_store(stores, location), random.Random(1), Deadline(2 * PHASE_SECONDS)
    for level in PARALLEL_LEVELS:
        if deadline.expired:
            break
        samples: list[float] = []
        began = time.perf_counter()
        for _ in range(PARALLEL_REQUESTS // level):
            starts = [rng.randrange(0, sample.size - 4 * KIB + 1) for _ in range(level)]
            outcomes = await asyncio.gather(*(_one_get(source, stores.retry, store, location, s, result) for s in starts),
                                            return_exceptions=True)
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    result.failed.append(short_error(outcome))
                else:
                    samples.append(outcome)
        if samples:
            result.p50[level] = percentile(samples, 0.5)
            result.rate[level] = len(samples) / (time.perf_counter() - began)
    return result, None


def scaling_item(result: Parallel, skipped: str | None) -> CheckItem:
    title = "Latency under 1 / 4 / 16 / 64 parallel requests"
    if skipped:
        return CheckItem("parallel", title, WARN, f"untested: {skipped}", "Put an object under the prefix.")
    figure = ", ".join(f"{n}: p50 {ms(result.p50[n])} @ {result.rate[n]:.0f} req/s" for n in result.p50)
    if result.failed:
        return CheckItem("parallel", title, FAIL, figure + f"; {len(result.failed)} failed: {result.failed[0]}",
                         "Requests fail under concurrency: a viewer loading many tiles at once will see errors.")
    if 1 not in result.rate or 16 not in result.rate:
        return CheckItem("parallel", title, WARN, figure or "no level finished", "Ran out of time before 16 parallel.")
    speedup = result.rate[16] / result.rate[1]
    figure += f"; 16-way speed-up x{speedup:.1f}"
    if speedup >= 4:
        return CheckItem("parallel", title, PASS, figure,
                         "Parallel requests overlap well: a screen of tiles costs little more than one tile.")
    return CheckItem("parallel", title, WARN, figure,
                     "Parallel requests barely overlap (16-way speed-up below x4): a screen of tiles loads "
                     "nearly one chunk at a time; raise the cache budget or put a cache bucket in front.")


def throttling_item(result: Parallel, skipped: str | None) -> CheckItem:
    title = "Throttling (503 SlowDown)"
    if skipped:
        return CheckItem("throttling", title, WARN, f"untested: {skipped}", "Put an object under the prefix.")
    total = sum(PARALLEL_REQUESTS for _ in result.p50)
    if not result.throttled:
        return CheckItem("throttling", title, PASS, f"no 503 in {total} parallel requests",
                         "No throttling at up to 64 parallel requests.")
    recovered = not any("503" in f or "SlowDown" in f for f in result.failed)
    figure = f"{result.throttled} throttled answers, {result.retries} retries, " + (
        "all recovered" if recovered else "some still failing after retries")
    if recovered:
        return CheckItem("throttling", title, WARN, figure,
                         "The store throttles under load; stratascope's backoff (up to "
                         f"{result.max_retries} retries) recovers, at the cost of latency.")
    return CheckItem("throttling", title, FAIL, figure,
                     "Throttling outlasts stratascope's retries: users will see 502/504 under load.")


def estimates(lat: Latencies) -> list[CheckItem]:
    if not lat.small or not lat.large:
        return [CheckItem("tile_estimate", "Estimated cold tile latency", WARN, "untested: no latency figures",
                          "Needs an object of at least 1 MiB (or --write-probe).")]
    small, large = percentile(lat.small, 0.5), percentile(lat.large, 0.5)
    unsharded, sharded = large, small + large  # sharded: shard index read, then the chunk
    figure = f"unsharded ~{ms(unsharded)} (1 GET), sharded ~{ms(sharded)} (index + chunk GET)"
    status = graded(sharded, *TILE)
    return [
        CheckItem("tile_estimate", "Estimated cold tile latency", status, figure,
                  "First view of a tile not yet in the cache, for ~1 MiB chunks; warm tiles come from the cache "
                  f"(pass below {ms(TILE[0])}, fail from {ms(TILE[1])})."),
        CheckItem("thumbnail_estimate", "Estimated thumbnail latency", PASS, "0 store requests after import",
                  "Thumbnails and small pyramid levels are made at import and served from the cache tier, "
                  "so they never wait on this store."),
    ]
