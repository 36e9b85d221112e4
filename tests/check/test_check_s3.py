"""`stratascope check` against moto's real S3 server: versioned and not, behind injected
latency and throttling, read-only (nothing written) and with a write probe (cleaned up)."""

from __future__ import annotations

import os

import pytest

from stratascope.check import FAIL, PASS, WARN, run_check
from stratascope.services import build_services
from support.proxy import DelayProxy

MIB = 1024 * 1024


def _by_id(items):
    return {item.id: item for item in items}


def _fill(s3, bucket, prefix="data"):
    """A few small objects in two 'folders' plus one 1.5 MiB object (random bytes)."""
    s3.put_object(Bucket=bucket, Key=f"{prefix}/big.bin", Body=os.urandom(MIB + MIB // 2))
    for name in ("a/0.bin", "a/1.bin", "b/0.bin", "top.json"):
        s3.put_object(Bucket=bucket, Key=f"{prefix}/{name}", Body=os.urandom(5000))


def _all_versions(s3, bucket):
    answer = s3.list_object_versions(Bucket=bucket)
    return sorted((v["Key"], v["VersionId"]) for v in answer.get("Versions", []) + answer.get("DeleteMarkers", []))


def _keys(s3, bucket):
    return sorted((o["Key"], o["ETag"]) for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def _check_fresh(store_url):
    """run_check with services built now, so that they see the environment as the test changed it."""
    fresh = build_services()
    try:
        return run_check(fresh, store_url)
    finally:
        fresh.close()


def test_read_only_unversioned_writes_nothing(s3, bucket, services):
    _fill(s3, bucket)
    before, before_versions = _keys(s3, bucket), _all_versions(s3, bucket)
    counts = services.source.counter.snapshot()

    items = run_check(services, f"s3://{bucket}/data/")

    assert _keys(s3, bucket) == before and _all_versions(s3, bucket) == before_versions
    spent = services.source.counter.snapshot() - counts
    assert spent.requests["put"] == 0 and spent.requests["delete"] == 0
    assert spent.requests["get_range"] >= 40 and spent.requests["head"] >= 3
    found = _by_id(items)
    for item_id in ("connectivity", "delimiter", "head", "etag", "range", "missing", "throttling"):
        assert found[item_id].status == PASS, found[item_id]
    assert found["listing"].status == WARN and "untested" in found["listing"].figure
    assert found["versioning"].status == WARN and "never enabled" in found["versioning"].figure
    assert found["read_after_write"].status == WARN and "untested" in found["read_after_write"].figure
    assert "STANDARD: 5" in found["storage_classes"].figure
    assert "write_cleanup" not in found
    assert "20 GETs" in found["latency_4k"].figure and "20 GETs" in found["latency_1m"].figure


def test_write_probe_versioned_cleans_up_every_version(s3, bucket, services):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="data/small.bin", Body=os.urandom(8000))  # < 1 MiB: probe uploads one
    before = _all_versions(s3, bucket)

    items = run_check(services, f"s3://{bucket}/data/", write_probe=f"s3://{bucket}/scratch/")

    assert _all_versions(s3, bucket) == before  # objects, old versions and delete markers all gone
    found = _by_id(items)
    assert found["versioning"].status == PASS and "Enabled" in found["versioning"].figure
    assert found["read_after_write"].status == PASS and found["list_after_write"].status == PASS
    assert found["restore"].status == PASS and "InvalidObjectState" in found["restore"].figure
    assert "write probe's 2 MiB object" in found["latency_1m"].figure
    assert found["write_cleanup"].status == PASS and "2 objects written" in found["write_cleanup"].figure
    assert found["write_cleanup"].figure.count(f"s3://{bucket}/scratch/stratascope-check-") == 1


def test_write_probe_writes_only_under_its_prefix(s3, bucket, moto_server, services):
    _fill(s3, bucket)
    seen: list[str] = []
    import obstore

    real_put = obstore.put_async

    async def recording_put(store, path, *args, **kwargs):  # observe obstore, do not replace it
        seen.append(path)
        return await real_put(store, path, *args, **kwargs)

    before = _keys(s3, bucket)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(obstore, "put_async", recording_put)
        items = run_check(services, f"s3://{bucket}/data/", write_probe=f"s3://{bucket}/probe-area/")
    assert seen and all(path.startswith("probe-area/stratascope-check-") for path in seen)
    assert _keys(s3, bucket) == before
    assert _by_id(items)["read_after_write"].status == PASS


def test_latency_reflects_injected_delay(s3, bucket, moto_server, monkeypatch):
    _fill(s3, bucket)
    with DelayProxy("127.0.0.1", moto_server.port, delay_ms=20) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
        items = _by_id(_check_fresh(f"s3://{bucket}/data/"))
    p50 = float(items["latency_4k"].figure.split("p50 ")[1].split(" ms")[0])
    p50_large = float(items["latency_1m"].figure.split("p50 ")[1].split(" ms")[0])
    # 20 ms each way: every request/response pays at least ~40 ms (a lower bound only)
    assert p50 >= 35 and p50_large >= 35, (items["latency_4k"], items["latency_1m"])
    assert "1: p50" in items["parallel"].figure
    single = float(items["parallel"].figure.split("1: p50 ")[1].split(" ms")[0])
    assert single >= 35


def test_throttling_is_reported_with_retries(s3, bucket, moto_server, monkeypatch):
    _fill(s3, bucket)
    with DelayProxy("127.0.0.1", moto_server.port, fault_rate_503=0.05, seed=7) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
        items = _by_id(_check_fresh(f"s3://{bucket}/data/"))
        injected = proxy.faults["503"]
    throttling = items["throttling"]
    assert injected > 0
    assert throttling.status in (WARN, FAIL) and "throttled answers" in throttling.figure, throttling
    reported = int(throttling.figure.split(" throttled")[0])
    assert 0 < reported <= injected


def test_missing_bucket_fails_connectivity(moto_server, services):
    items = run_check(services, "s3://no-such-bucket-for-check/data/")
    assert [item.id for item in items] == ["connectivity"]
    assert items[0].status == FAIL
