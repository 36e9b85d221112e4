"""schemathesis over every operation in /openapi.json, against the real ASGI app with an
imported image: valid and invalid (negative) inputs, random ids and the real one. No 5xx.

One test walks every operation (so the sample image is imported once); failures are
collected and reported together with a curl command to reproduce each.
"""

from __future__ import annotations

import os
import time

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

EXAMPLES = int(os.environ.get("HOSTILE_HTTP_EXAMPLES", 5))  # per operation and mode


def test_no_operation_answers_5xx(sample_zarr, client):
    image_id, _ = sample_zarr
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20, "the schema lists fewer operations than the app serves"

    timings: dict[str, float] = {}
    for operation in operations:
        started = time.monotonic()
        names = {p.name for p in operation.path_parameters}
        known = {"image_id": image_id, "identifier": str(image_id), "ref": f"{image_id}.zarr"}
        real = {n: v for n, v in known.items() if n in names}
        variants = [(GenerationMode.POSITIVE, None), (GenerationMode.NEGATIVE, None)]
        if real:
            variants.append((GenerationMode.POSITIVE, real))
        for mode, fixed in variants:
            check = _checker(operation.as_strategy(generation_mode=mode, path_parameters=fixed),
                             f"{operation.label} [{mode.value}]", failures)
            try:
                check()
            except Unsatisfiable:  # e.g. no invalid input exists for an operation without parameters
                continue
        timings[operation.label] = time.monotonic() - started
    print("slowest operations:", sorted(timings.items(), key=lambda kv: -kv[1])[:8])
    assert not failures, "\n".join(failures[:40])


def _checker(strategy, label: str, failures: list[str]):
    @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def check(case) -> None:
        response = case.call()
        if response.status_code >= 500:
            failures.append(f"{response.status_code} {label}: {case.as_curl_command()} -> {response.text[:200]}")

    return check
