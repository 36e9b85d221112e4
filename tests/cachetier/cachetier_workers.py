"""Worker for the two-process test (a plain module so that spawned processes can import it)."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path


def value_for(key: str) -> bytes:
    """Every process writes the same bytes for a key, so any read can be checked exactly."""
    size = 200 + int(hashlib.sha256(key.encode()).hexdigest(), 16) % 6000
    return random.Random(key).randbytes(size)


def hammer(folder: str, home: str, budget: int, seed: int, rounds: int) -> dict:
    from stratascope.cachetier import open_cache

    tier = open_cache(folder, budget, home=Path(home))
    rng = random.Random(seed)
    hits = misses = puts = drops = 0
    for _ in range(rounds):
        key = f"{rng.choice(['chunk', 'shardindex', 'thumb/7.1'])}/{rng.randrange(60)}"
        roll = rng.random()
        if roll < 0.45:
            tier.put(key, value_for(key))
            puts += 1
        elif roll < 0.995:
            data = tier.get(key)
            if data is None:
                misses += 1
            elif data != value_for(key):
                raise AssertionError(f"{key}: read {len(data)} bytes that were never written for it")
            else:
                hits += 1
        else:
            tier.drop("shardindex/")
            drops += 1
    tier.close()
    return {"hits": hits, "misses": misses, "puts": puts, "drops": drops}
