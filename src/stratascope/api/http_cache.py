"""Strong ETags derived from the image revision and the request, and 304 answers."""

from __future__ import annotations

import hashlib

from fastapi import Request, Response

PUBLIC_MAX_AGE = 3600


def make_etag(*parts: object) -> str:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:32]
    return f'"{digest}"'


def cache_headers(etag: str, *, public: bool = True) -> dict[str, str]:
    scope = "public" if public else "private"
    return {"ETag": etag, "Cache-Control": f"{scope}, max-age={PUBLIC_MAX_AGE}"}


def not_modified(request: Request, etag: str, *, public: bool = True) -> Response | None:
    """A 304 when the client already holds this exact response."""
    header = request.headers.get("if-none-match")
    if header and (header.strip() == "*" or etag in [h.strip() for h in header.split(",")]):
        return Response(status_code=304, headers=cache_headers(etag, public=public))
    return None


def request_key(request: Request) -> str:
    """Path and sorted query: the same request in any parameter order has one ETag."""
    items = sorted(request.query_params.multi_items())
    return request.url.path + "?" + "&".join(f"{k}={v}" for k, v in items)
