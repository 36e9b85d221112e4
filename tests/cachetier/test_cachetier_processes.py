"""Two server processes sharing one cache folder must not corrupt it or each other's reads."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from cachetier_workers import hammer, value_for

from stratascope.cachetier import open_cache


def test_two_processes_hammering_one_folder(tmp_path):
    folder, budget = tmp_path / "cache", 120_000
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        futures = [pool.submit(hammer, str(folder), str(tmp_path / f"home{i}"), budget, seed, 2000)
                   for i, seed in enumerate((1, 2))]
        results = [f.result(timeout=240) for f in futures]  # re-raises any exception of a worker
    for result in results:
        assert result["hits"] > 100 and result["misses"] > 0 and result["puts"] > 600
    # every file left behind is a complete, valid entry, and together they fit the budget
    entries = [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert entries and sum(p.stat().st_size for p in entries) <= budget
    assert not [p for p in folder.rglob(".*.tmp")]
    tier = open_cache(str(folder), budget, home=tmp_path)
    for path in entries:
        key = path.relative_to(folder).as_posix()
        assert tier.get(key) == value_for(key)
    stats = tier.stats()
    assert stats["bytes"] <= budget
    assert stats["hits"] >= sum(r["hits"] for r in results)  # both processes' counters reached the index
    tier.close()
