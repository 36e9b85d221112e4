"""The one place where errors of every layer become HTTP statuses with a JSON body."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import catalogue, pixels, storage
from ..formats.model import FormatError

log = logging.getLogger(__name__)


class ApiError(Exception):
    """Raised by handlers for a client error with a clear message."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class BadParameter(ApiError):
    def __init__(self, message: str):
        super().__init__(400, message)


def _status_for(exc: Exception) -> tuple[int, dict]:
    if isinstance(exc, ApiError):
        return exc.status, exc.headers
    if isinstance(exc, catalogue.NotFound):
        return 404, {}
    if isinstance(exc, catalogue.ReadOnlyCatalogue):
        return 403, {}
    if isinstance(exc, pixels.RegionTooLarge):
        return 413, {}
    if isinstance(exc, (pixels.RegionOutOfRange, ValueError)):
        return 400, {}
    if isinstance(exc, storage.ArchivedObject):
        return 409, {"Retry-After": "3600"} if exc.restore_in_progress else {}
    if isinstance(exc, storage.ObjectNotFound):
        return 410, {}
    if isinstance(exc, storage.IntegrityError):
        return 409, {}
    if isinstance(exc, FormatError):
        return 422, {}
    if isinstance(exc, storage.StoreUnavailable):
        # storage/source.py says "timed out" for timeouts only; obstore's retry messages
        # always mention "retry_timeout", so a bare "timeout" would turn 503 storms into 504s
        return 504 if "timed out" in str(exc).lower() else 502, {}
    if isinstance(exc, storage.StorageError):
        return 502, {}
    return 500, {}


def error_response(exc: Exception) -> JSONResponse:
    status, headers = _status_for(exc)
    message = exc.message if isinstance(exc, ApiError) else str(exc)
    if status >= 500 and status not in (502, 503, 504):
        log.exception("internal error", exc_info=exc)
        message = "internal server error"
    body = {"message": message}
    if isinstance(exc, storage.ArchivedObject):  # tell clients what to wait for
        body["restore"] = "in progress" if exc.restore_in_progress else "needed"
    return JSONResponse(body, status_code=status, headers={**headers, "Cache-Control": "no-store"})


def install(app: FastAPI) -> None:
    handled = (ApiError, catalogue.CatalogueError, pixels.PixelError, storage.StorageError, FormatError, ValueError)
    for exc_type in handled:
        app.add_exception_handler(exc_type, lambda request, exc: error_response(exc))

    @app.exception_handler(storage.ArchivedObject)
    async def _archived(request: Request, exc: storage.ArchivedObject):
        # one HEAD (cached a minute): is a restore running?
        return error_response(await request.app.state.services.archive.explain(exc))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("path", "query"))
        return JSONResponse({"message": f"invalid {where}: {first.get('msg', 'bad request')}"}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return JSONResponse({"message": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)
