"""CachedFetch: read-through chunk bytes in front of the source store (moto S3)."""

from __future__ import annotations

import asyncio
import random

import pytest

from stratascope.cachetier import LazyCache
from stratascope.pixels.fetch import CachedFetch, SourceFetch
from stratascope.storage import SOURCE_REQUESTS, ObjectChanged

BODY = random.Random(3).randbytes(10_000)


@pytest.fixture
def source_url(s3, bucket) -> str:
    s3.put_object(Bucket=bucket, Key="images/shard.bin", Body=BODY)
    return f"s3://{bucket}/images/shard.bin"


@pytest.fixture
def lazy(tmp_path, services):
    """The tier as the services hold it (opened on first use)."""
    lazy = LazyCache(str(tmp_path / "cache"), 10**7, tmp_path, services.stores)
    yield lazy
    lazy.close()


@pytest.fixture
def tier(lazy):
    return lazy.get()


@pytest.fixture
def through(services, lazy):
    """through(cache=lazy) -> CachedFetch over the test's source reader."""

    def make(cache: LazyCache = lazy) -> CachedFetch:
        return CachedFetch(SourceFetch(services.source), cache)

    return make


def cost(call):
    before = SOURCE_REQUESTS.snapshot()
    result = asyncio.run(call)
    return result, SOURCE_REQUESTS.snapshot() - before


def test_second_read_of_a_chunk_makes_no_source_request(source_url, tier, through):
    fetch = through()
    first, cold = cost(fetch(source_url, 100, 4100, None))
    second, warm = cost(fetch(source_url, 100, 4100, None))
    assert first == second == BODY[100:4100]
    assert (cold.total, cold.bytes_read) == (1, 4000)
    assert (warm.total, warm.bytes_read) == (0, 0)
    assert tier.stats()["kinds"]["chunk"]["hits"] == 1


def test_whole_objects_and_shard_index_suffixes_are_cached(source_url, tier, through):
    fetch = through()
    for start, end, expected in ((None, None, BODY), (-64, None, BODY[-64:])):
        _, cold = cost(fetch(source_url, start, end, None))
        data, warm = cost(fetch(source_url, start, end, None))
        assert data == expected and cold.total == 1 and warm.total == 0
    kinds = tier.stats()["kinds"]
    assert kinds["shardindex"]["entries"] == 1 and kinds["chunk"]["entries"] == 1
    assert tier.contains(CachedFetch.key(source_url, -64, None, None))


def test_versions_and_ranges_are_distinct_entries(source_url, tier, through):
    fetch = through()
    a, _ = cost(fetch(source_url, 0, 10, None))
    b, cold = cost(fetch(source_url, 10, 20, None))
    assert (a, b) == (BODY[:10], BODY[10:20]) and cold.total == 1
    assert CachedFetch.key(source_url, 0, 10, "v1") != CachedFetch.key(source_url, 0, 10, None)


def test_a_range_past_the_end_is_an_error_and_not_cached(source_url, tier, through):
    fetch = through()
    with pytest.raises(ObjectChanged):
        asyncio.run(fetch(source_url, 9_000, 11_000, None))
    assert not tier.contains(CachedFetch.key(source_url, 9_000, 11_000, None))
    assert tier.stats()["entries"] == 0


def test_a_short_suffix_body_is_returned_but_not_cached(source_url, tier, through):
    fetch = through()
    # asking for more than the object holds: the store answers with the whole (shorter) object
    data, cold = cost(fetch(source_url, -20_000, None, None))
    assert len(data) < 20_000 and cold.total == 1
    again, warm = cost(fetch(source_url, -20_000, None, None))
    assert again == data and warm.total == 1  # went to the source again: nothing was cached
    assert tier.stats()["entries"] == 0


def test_a_corrupt_cached_chunk_is_refetched(source_url, tier, tmp_path, through):
    fetch = through()
    cost(fetch(source_url, 0, 5000, None))
    path = tmp_path / "cache" / CachedFetch.key(source_url, 0, 5000, None)
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF
    path.write_bytes(bytes(raw))
    data, refetch = cost(fetch(source_url, 0, 5000, None))
    assert data == BODY[:5000] and refetch.total == 1
    data, warm = cost(fetch(source_url, 0, 5000, None))
    assert data == BODY[:5000] and warm.total == 0


def test_a_disabled_tier_passes_through(source_url, tmp_path, services):
    lazy = LazyCache(str(tmp_path / "off"), 0, tmp_path, services.stores)
    fetch = CachedFetch(SourceFetch(services.source), lazy)
    for _ in range(2):
        data, c = cost(fetch(source_url, 0, 100, None))
        assert data == BODY[:100] and c.total == 1
    assert lazy.get().stats()["entries"] == 0
    lazy.close()


def test_default_tier_follows_settings_and_reset(source_url, tmp_path, monkeypatch, make_services):
    monkeypatch.setenv("STRATASCOPE_CACHE_URL", str(tmp_path / "configured"))
    monkeypatch.setenv("STRATASCOPE_CACHE_MAX_BYTES", "1000000")
    services = make_services()
    fetch = CachedFetch(SourceFetch(services.source), services.cache)
    cost(fetch(source_url, 0, 300, None))
    assert services.cache.get().url == str(tmp_path / "configured")
    assert services.cache.get().stats()["max_bytes"] == 1_000_000
    services.forget_memory()  # a new tier object on the same folder still has the entry
    _, warm = cost(fetch(source_url, 0, 300, None))
    assert warm.total == 0


def test_object_store_cache_tier_in_front_of_the_archive(source_url, s3, tmp_path, services, through):
    fast = f"fast-{random.randrange(10**9)}"
    s3.create_bucket(Bucket=fast)
    lazy = LazyCache(f"s3://{fast}/cache/", 10**7, tmp_path, services.stores)
    fetch = through(lazy)
    _, cold = cost(fetch(source_url, 0, 2048, None))
    data, warm = cost(fetch(source_url, 0, 2048, None))
    assert data == BODY[:2048] and cold.total == 1 and warm.total == 0
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=fast)["Contents"]]
    assert keys == ["cache/" + CachedFetch.key(source_url, 0, 2048, None)]
    lazy.close()
