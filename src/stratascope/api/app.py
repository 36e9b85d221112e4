"""The FastAPI application: one router per public protocol, errors mapped in one place."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES

from .. import __version__
from ..auth.throttle import LoginThrottle
from ..auth.web import AuthMiddleware
from ..config import get_settings
from . import errors, metrics
from .body_limit import BodyLimitMiddleware

#: compressed formats: gzipping them again costs CPU on the tile path and saves nothing
ALREADY_COMPRESSED = ("image/jpeg", "image/png", "image/webp", "image/tiff", "application/zip")


def create_app() -> FastAPI:
    app = FastAPI(
        title="stratascope",
        version=__version__,
        description="Microscopy images served straight from object storage: OMERO.web webgateway and "
        "JSON API, IIIF Image API 3, OME-Zarr over HTTP.",
    )
    errors.install(app)
    metrics.install_listeners()
    # innermost: resolves the caller (token / session cookie) into request.state.principal
    app.add_middleware(AuthMiddleware)
    # chunk bytes and downloads are compressed already: gzip would only add CPU and bytes
    app.add_middleware(GZipMiddleware, minimum_size=2048,
                       exclude_content_types=(*DEFAULT_EXCLUDED_CONTENT_TYPES, "application/octet-stream", *ALREADY_COMPRESSED))
    app.add_middleware(
        CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "HEAD", "OPTIONS"],
        allow_headers=["*"], expose_headers=["ETag", "Content-Length", "Content-Range"],
    )
    app.add_middleware(metrics.TimingMiddleware)
    settings = get_settings()
    # outermost: a body above the limit is refused before anything reads it
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.state.login_throttle = LoginThrottle.from_settings(settings)
    for router in _routers():
        app.include_router(router)
    return app


def _routers():
    from ..auth import web as auth_web
    from . import metrics as metrics_module
    from . import webgateway

    routers = [webgateway.router, metrics_module.router, auth_web.router]
    for name in ("json_api", "json_plates", "plates", "iiif", "zarr_http", "viewer"):
        module = _optional(name)
        if module is not None:
            routers.append(module.router)
    return routers


def _optional(name: str):
    import importlib

    try:
        return importlib.import_module(f"{__package__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"{__package__}.{name}":
            return None
        raise
