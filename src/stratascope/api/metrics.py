"""Prometheus metrics: source requests and bytes, cache hits/misses, request durations."""

from __future__ import annotations

import time

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from ..storage.accounting import CACHE_LOOKUPS, SOURCE_REQUESTS

SOURCE_REQUESTS_TOTAL = Counter(
    "stratascope_source_requests_total", "Requests made to source stores, by operation", ["op"]
)
SOURCE_BYTES_TOTAL = Counter("stratascope_source_bytes_total", "Bytes read from source stores")
CACHE_HITS = Counter("stratascope_cache_hits_total", "Cache hits, by cache tier", ["tier"])
CACHE_MISSES = Counter("stratascope_cache_misses_total", "Cache misses, by cache tier", ["tier"])
REQUEST_SECONDS = Histogram(
    "stratascope_http_request_duration_seconds", "HTTP request duration by route", ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

def _on_source_request(op: str, nbytes: int) -> None:
    SOURCE_REQUESTS_TOTAL.labels(op=op).inc()
    if nbytes:
        SOURCE_BYTES_TOTAL.inc(nbytes)


def install_listeners() -> None:
    """Export the process's counters (idempotent: each listener is added once)."""
    SOURCE_REQUESTS.add_listener(_on_source_request)
    CACHE_LOOKUPS.add_listener(record_cache)
    for op in ("get", "get_range", "head", "list"):
        SOURCE_REQUESTS_TOTAL.labels(op=op)


def record_cache(tier: str, hit: bool) -> None:
    (CACHE_HITS if hit else CACHE_MISSES).labels(tier=tier).inc()


class TimingMiddleware:
    """Plain ASGI middleware (cheaper than BaseHTTPMiddleware on the tile hot path)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            REQUEST_SECONDS.labels(route=route, method=scope["method"], status=str(status["code"])).observe(
                time.perf_counter() - start
            )


router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
