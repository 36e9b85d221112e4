"""A bound on every request body, enforced before the body is read (pure ASGI).

A declared `Content-Length` above the limit is answered 413 at once, without reading a
byte; a body without one (chunked) is counted as it streams in and refused with 413 as soon
as it passes the limit. Handlers never see more than `max_bytes`. Routes may ask for less
(login reads at most `api.auth.MAX_LOGIN_BODY`).
"""

from __future__ import annotations

from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException


class BodyTooLarge(HTTPException):
    """A starlette HTTPException, so that a handler reading the body answers 413 JSON too."""

    def __init__(self, limit: int):
        super().__init__(413, f"the request body is larger than the limit of {limit} bytes")
        self.limit = limit


def too_large(limit: int) -> JSONResponse:
    return JSONResponse({"message": f"the request body is larger than the limit of {limit} bytes"},
                        status_code=413, headers={"Cache-Control": "no-store", "Connection": "close"})


def declared_length(scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyLimitMiddleware:
    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.max_bytes
        length = declared_length(scope)
        if length is not None and length > limit:
            return await too_large(limit)(scope, receive, send)
        received = 0
        started = False

        async def counted_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracked_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            if started:
                raise
            await too_large(limit)(scope, receive, send)
