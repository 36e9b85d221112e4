"""The one place where errors of every layer become HTTP statuses with a JSON body."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import catalogue, pixels, storage
from ..auth.errors import AuthError
from ..formats.model import FormatError
from ..render.errors import RenderError

log = logging.getLogger(__name__)


class ApiError(Exception):
    """Raised by handlers for a client error with a clear message."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class BadParameter(ApiError):
    def __init__(self, message: str):
        super().__init__(400, message)


#: Every layer's errors and their HTTP status: the nearest class in an error's MRO wins, so a
#: subclass listed here overrides its root. Anything not listed (a ValueError, a bug) is a 500.
STATUSES: dict[type[Exception], int] = {
    catalogue.CatalogueError: 500,
    catalogue.NotFound: 404,
    catalogue.ReadOnlyCatalogue: 403,
    pixels.PixelError: 500,
    pixels.RegionOutOfRange: 400,
    pixels.RegionTooLarge: 413,
    RenderError: 400,  # only RenderParamError today: a malformed rendering query
    AuthError: 400,  # only BadLoginRequest today (a wrong password is answered 401 in place)
    FormatError: 422,
    storage.StorageError: 502,  # InvalidURL, NotAllowed, and the store's own failures
    storage.ObjectNotFound: 410,  # a recorded source object is gone
    storage.ArchivedObject: 409,  # restore first (body and Retry-After say more)
    storage.ObjectChanged: 409,  # bytes differ from what import recorded
    storage.RangeNotSatisfiable: 409,  # a recorded range past the end: the object shrank
    storage.AccessDenied: 502,  # our credentials or the bucket policy, not the client's
    storage.StoreUnavailable: 502,
    storage.StoreTimeout: 504,
}


def _status_for(exc: Exception) -> tuple[int, dict]:
    if isinstance(exc, ApiError):
        return exc.status, exc.headers
    status = next((STATUSES[cls] for cls in type(exc).__mro__ if cls in STATUSES), 500)
    if isinstance(exc, storage.ArchivedObject) and exc.restore_in_progress:
        return status, {"Retry-After": "3600"}
    return status, {}


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
    for exc_type in (ApiError, *STATUSES):
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
