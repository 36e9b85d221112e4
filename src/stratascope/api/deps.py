"""How handlers reach the services object: the app holds it (set by `create_app`)."""

from __future__ import annotations

from starlette.requests import Request

from ..catalogue.db import Catalogue
from ..services import Services


def services_of(request: Request) -> Services:
    """The services of the app serving `request` (a plain accessor: cheaper than Depends on the tile path)."""
    return request.app.state.services


def db_of(request: Request) -> Catalogue:
    """The catalogue of the app serving `request`."""
    return request.app.state.services.catalogue
