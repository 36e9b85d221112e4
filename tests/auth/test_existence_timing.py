"""Issue 14 #10: a hidden id and an unknown id cost the same (no existence oracle by timing).

Structurally: both make one SQL statement the first time and none for the TTL after it (the
answers are cached alike); statistically: their median latencies after warm-up agree."""

from __future__ import annotations

import statistics
import time
from contextlib import contextmanager

from sqlalchemy import event

from stratascope.catalogue import repository

UNKNOWN = 987654


@contextmanager
def counting(engine):
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _hidden_image(services, tmp_path, import_urls_sync) -> int:
    from support.samples import smooth_array, write_ome_zarr_v04

    write_ome_zarr_v04(tmp_path / "hidden.zarr", smooth_array((1, 1, 64, 64), seed=3))
    result = import_urls_sync([str(tmp_path / "hidden.zarr")], project="Closed", dataset="closed-ds")[0]
    assert result.status == "imported", result
    repository.set_visibility(services.catalogue, "project", "Closed", public=False)
    services.records.clear()
    return result.id


def test_hidden_and_unknown_ids_make_the_same_queries(client, services, tmp_path, import_urls_sync):
    hidden = _hidden_image(services, tmp_path, import_urls_sync)
    engine = services.catalogue.engine
    for image_id in (hidden, UNKNOWN):
        path = f"/webgateway/imgData/{image_id}/"
        with counting(engine) as first:
            response = client.get(path)
        assert response.status_code == 404
        with counting(engine) as second:
            again = client.get(path)
        assert (again.status_code, again.json()) == (404, response.json())
        assert (len(first), len(second)) == (1, 0), (image_id, first, second)
    answers = [client.get(f"/webgateway/imgData/{i}/").text.replace(str(i), "ID") for i in (hidden, UNKNOWN)]
    assert answers[0] == answers[1]


def test_hidden_and_unknown_ids_answer_as_fast(client, services, tmp_path, import_urls_sync):
    hidden = _hidden_image(services, tmp_path, import_urls_sync)

    def timed(image_id: int) -> float:
        start = time.perf_counter()
        assert client.get(f"/webgateway/imgData/{image_id}/").status_code == 404
        return (time.perf_counter() - start) * 1e3

    for _ in range(20):  # warm-up
        timed(hidden), timed(UNKNOWN)
    # interleaved, so that the load of a shared machine weighs on both alike
    samples = {hidden: [], UNKNOWN: []}
    for _ in range(150):
        for image_id in (hidden, UNKNOWN):
            samples[image_id].append(timed(image_id))
    # the median of paired differences: each pair ran back to back, under the same load
    gap_ms = statistics.median(u - h for h, u in zip(samples[hidden], samples[UNKNOWN]))
    # before the fix the gap was one SQL round trip (~1 ms here: 1.4 ms against 2.6 ms)
    assert abs(gap_ms) < 0.3, (gap_ms, statistics.median(samples[hidden]), statistics.median(samples[UNKNOWN]))
