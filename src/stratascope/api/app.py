"""The FastAPI application: one router per public protocol, errors mapped in one place."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES

from .. import __version__
from ..services import Services, build_services
from . import docs, errors, metrics, webgateway
from .auth import AuthMiddleware
from .auth import router as auth_router
from .body_limit import BodyLimitMiddleware

#: compressed formats: gzipping them again costs CPU on the tile path and saves nothing
ALREADY_COMPRESSED = ("image/jpeg", "image/png", "image/webp", "image/tiff", "application/zip")


def create_app(services: Services | None = None) -> FastAPI:
    """The app over `services` (default: built from the environment and stratascope.toml; the
    app then closes them at shutdown; services passed in stay the caller's to close)."""
    owned = services is None
    services = services or build_services()

    @asynccontextmanager
    async def lifespan(_app):
        yield
        if owned:
            services.close()

    app = FastAPI(
        lifespan=lifespan,
        docs_url=None, redoc_url=None,  # served by api/docs.py from vendored files: no CDN, works offline
        title="stratascope",
        version=__version__,
        description="Microscopy images served straight from object storage: OMERO.web webgateway and "
        "JSON API, IIIF Image API 3, OME-Zarr over HTTP.",
    )
    app.state.services = services
    errors.install(app)
    metrics.install_listeners()
    # innermost: resolves the caller (token / session cookie) into request.state.principal
    app.add_middleware(AuthMiddleware, services=services)
    # chunk bytes and downloads are compressed already: gzip would only add CPU and bytes
    app.add_middleware(GZipMiddleware, minimum_size=2048,
                       exclude_content_types=(*DEFAULT_EXCLUDED_CONTENT_TYPES, "application/octet-stream", *ALREADY_COMPRESSED))
    app.add_middleware(
        CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "HEAD", "OPTIONS"],
        allow_headers=["*"], expose_headers=["ETag", "Content-Length", "Content-Range"],
    )
    app.add_middleware(metrics.TimingMiddleware)
    settings = services.settings
    # outermost: a body above the limit is refused before anything reads it
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    for router in _routers():
        app.include_router(router)
    return app


def _routers():
    routers = [webgateway.router, metrics.router, auth_router, docs.router]
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
