"""The cache-tier contract, run on a local folder and on an object-store prefix (moto S3)."""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path

import pytest

from stratascope.cachetier import InvalidKey, open_cache
from stratascope.cachetier.entry import HEADER_SIZE

ENTRY = 1000  # payload bytes; an entry costs ENTRY + HEADER_SIZE in the budget


class LocalFlavour:
    def __init__(self, tmp_path: Path):
        self.root = tmp_path / "cache"
        self.url = str(self.root)

    def raw(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def overwrite(self, key: str, data: bytes) -> None:
        (self.root / key).write_bytes(data)

    def stored(self) -> dict[str, int]:
        return {
            str(p.relative_to(self.root)): p.stat().st_size
            for p in self.root.rglob("*") if p.is_file() and not p.name.startswith(".")
        }

    def lose_index(self, home: Path) -> None:
        for p in self.root.glob(".index.sqlite*"):
            p.unlink()


class S3Flavour:
    def __init__(self, s3, bucket: str):
        self.s3, self.bucket = s3, bucket
        self.url = f"s3://{bucket}/cache/"

    def raw(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=self.bucket, Key="cache/" + key)["Body"].read()

    def overwrite(self, key: str, data: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key="cache/" + key, Body=data)

    def all_objects(self) -> dict[str, int]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return {o["Key"]: o["Size"] for page in pages for o in page.get("Contents", [])}

    def stored(self) -> dict[str, int]:
        return {k[len("cache/"):]: n for k, n in self.all_objects().items() if k.startswith("cache/")}

    def lose_index(self, home: Path) -> None:
        for p in (home / "cache-index").glob("*"):
            p.unlink()


@pytest.fixture(params=["local", "s3"])
def flavour(request, tmp_path):
    if request.param == "local":
        return LocalFlavour(tmp_path)
    return S3Flavour(request.getfixturevalue("s3"), request.getfixturevalue("bucket"))


@pytest.fixture
def make_tier(flavour, tmp_path, services):
    tiers = []
    home = tmp_path / "home"

    def make(max_bytes: int):
        tier = open_cache(flavour.url, max_bytes, home=home, stores=services.stores)
        tiers.append(tier)
        return tier

    make.home = home
    yield make
    for tier in tiers:
        tier.close()


def payload(key: str, size: int) -> bytes:
    return random.Random(f"{key}/{size}").randbytes(size)


def test_put_get_roundtrip_and_stats(make_tier, flavour):
    tier = make_tier(10**6)
    assert tier.get("chunk/a") is None
    tier.put("chunk/a", b"hello")
    tier.put("thumb/3.1/96x96.jpg", b"\xff\xd8jpeg")
    tier.put("chunk/empty", b"")
    assert tier.get("chunk/a") == b"hello"
    assert tier.get("thumb/3.1/96x96.jpg") == b"\xff\xd8jpeg"
    assert tier.get("chunk/empty") == b""
    assert tier.contains("chunk/a") and not tier.contains("chunk/b")
    assert flavour.stored()["thumb/3.1/96x96.jpg"] == HEADER_SIZE + 6
    stats = tier.stats()
    assert stats["entries"] == 3
    assert stats["bytes"] == 3 * HEADER_SIZE + 5 + 6
    assert (stats["hits"], stats["misses"]) == (3, 1)
    assert stats["hit_ratio"] == 0.75
    assert stats["kinds"]["chunk"]["entries"] == 2 and stats["kinds"]["thumb"]["bytes"] == HEADER_SIZE + 6
    tier.delete("chunk/a")
    assert tier.get("chunk/a") is None and "chunk/a" not in flavour.stored()


def test_budget_respected_under_churn(make_tier, flavour):
    budget = 60_000
    tier = make_tier(budget)
    rng = random.Random(7)
    latest: dict[str, bytes] = {}
    rounds = 400 if isinstance(flavour, LocalFlavour) else 120
    for i in range(rounds):
        key = f"{rng.choice(['chunk', 'shardindex', 'overview'])}/{rng.randrange(40)}"
        data = payload(key, rng.randrange(0, 9000))
        tier.put(key, data)
        latest[key] = data
        if rng.random() < 0.3:
            probe = rng.choice(list(latest))
            assert tier.get(probe) in (None, latest[probe])
        assert tier.stats()["bytes"] <= budget
        if i % 40 == 0:
            assert sum(flavour.stored().values()) <= budget
    stored = flavour.stored()
    assert 0 < sum(stored.values()) <= budget
    assert tier.stats()["bytes"] == sum(stored.values())
    for key in stored:
        assert tier.get(key) == latest[key]  # survivors hold the latest value, never an older one


def test_lru_keeps_recently_read_entries(make_tier, flavour):
    tier = make_tier(10 * (ENTRY + HEADER_SIZE))
    for i in range(10):
        tier.put(f"chunk/{i}", payload(str(i), ENTRY))
    assert tier.get("chunk/0") is not None and tier.get("chunk/1") is not None
    tier.put("chunk/10", payload("10", ENTRY))
    tier.put("chunk/11", payload("11", ENTRY))
    present = set(flavour.stored())
    assert {"chunk/0", "chunk/1", "chunk/10", "chunk/11"} <= present
    assert not {"chunk/2", "chunk/3"} & present  # the least recently used went first
    assert len(present) == 10


def test_entry_larger_than_budget_is_not_stored(make_tier, flavour):
    tier = make_tier(5000)
    tier.put("chunk/big", b"old")
    tier.put("chunk/big", payload("big", 6000))
    assert tier.get("chunk/big") is None
    assert "chunk/big" not in flavour.stored()


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage"])
def test_corrupt_entry_is_a_logged_miss_and_replaced(make_tier, flavour, caplog, damage):
    tier = make_tier(10**6)
    data = payload("c", 4000)
    tier.put("chunk/c", data)
    raw = bytearray(flavour.raw("chunk/c"))
    if damage == "flip":
        raw[HEADER_SIZE + 1234] ^= 0x40
    elif damage == "truncate":
        del raw[len(raw) // 2:]
    else:
        raw = bytearray(b"not a cache entry at all")
    flavour.overwrite("chunk/c", bytes(raw))
    misses = tier.stats()["misses"]
    with caplog.at_level(logging.WARNING, logger="stratascope.cachetier"):
        assert tier.get("chunk/c") is None
    assert any("corrupt" in r.getMessage() and "chunk/c" in r.getMessage() for r in caplog.records)
    assert tier.stats()["misses"] == misses + 1
    assert "chunk/c" not in flavour.stored()  # deleted, so it is refetched and rewritten
    tier.put("chunk/c", data)
    assert tier.get("chunk/c") == data


@pytest.mark.parametrize("key", [
    "../escape", "/etc/passwd", "chunk/../../escape", "chunk/./x", "chunk//x", "chunk/.index.sqlite",
    "chunk", "", "chunk\\x", "c:/x", "chunk/x\x00",
])
def test_unsafe_keys_are_rejected(make_tier, flavour, key, tmp_path):
    tier = make_tier(10**6)
    for call in (lambda: tier.put(key, b"x"), lambda: tier.get(key), lambda: tier.delete(key)):
        with pytest.raises(InvalidKey):
            call()
    assert flavour.stored() == {}
    assert not (tmp_path / "escape").exists()


def test_drop_by_kind_and_all(make_tier, flavour):
    tier = make_tier(10**6)
    for key in ("chunk/1", "chunk/2", "shardindex/1", "thumb/1.1/96x96.jpg", "overview/1.1/2.npy"):
        tier.put(key, payload(key, 100))
    tier.get("chunk/1")
    assert tier.drop("chunk/") == 2
    assert set(flavour.stored()) == {"shardindex/1", "thumb/1.1/96x96.jpg", "overview/1.1/2.npy"}
    assert tier.drop("thumb") == 1
    assert tier.stats()["hits"] == 1  # a partial drop keeps the counters
    tier.drop(None)
    assert flavour.stored() == {}
    stats = tier.stats()
    assert (stats["bytes"], stats["entries"], stats["hits"], stats["misses"]) == (0, 0, 0, 0)


def test_counters_and_lru_are_shared_between_tier_instances(make_tier):
    first, second = make_tier(10**6), make_tier(10**6)
    first.put("chunk/x", b"data")
    assert second.get("chunk/x") == b"data"
    assert second.get("chunk/y") is None
    second.flush()
    stats = first.stats()
    assert (stats["hits"], stats["misses"], stats["entries"]) == (1, 1, 1)


def test_a_fresh_index_adopts_stored_entries(make_tier, flavour):
    tier = make_tier(10**6)
    for i in range(5):
        tier.put(f"chunk/{i}", payload(str(i), 500))
    tier.close()
    flavour.lose_index(make_tier.home)
    again = make_tier(3 * (500 + HEADER_SIZE))  # smaller budget: adopting evicts down to it
    stats = again.stats()
    assert stats["entries"] == 3 and stats["bytes"] == 3 * (500 + HEADER_SIZE)
    assert len(flavour.stored()) == 3
    assert all(again.get(key) == payload(key.split("/")[1], 500) for key in flavour.stored())


def test_object_store_tier_writes_only_under_its_prefix(s3, bucket, tmp_path, services):
    s3.put_object(Bucket=bucket, Key="archive/image.tif", Body=b"source bytes")
    tier = open_cache(f"s3://{bucket}/cache/", 10_000, home=tmp_path / "home", stores=services.stores)
    for i in range(30):
        tier.put(f"chunk/{i}", payload(str(i), 900))
    tier.drop(None)
    assert set(S3Flavour(s3, bucket).all_objects()) == {"archive/image.tif"}
    tier.close()
    with pytest.raises(ValueError, match="prefix"):
        open_cache(f"s3://{bucket}", 10_000, home=tmp_path / "home", stores=services.stores)


def test_local_drop_leaves_foreign_files_alone(tmp_path):
    root = tmp_path / "cache"
    (root / "chunk").mkdir(parents=True)
    (root / "chunk" / "notes.txt").write_text("not ours")
    tier = open_cache(str(root), 10**6, home=tmp_path)
    tier.put("chunk/a", b"x")
    assert tier.drop(None) == 1
    assert (root / "chunk" / "notes.txt").read_text() == "not ours"
    assert not os.path.exists(root / "chunk" / "a")
    tier.close()
