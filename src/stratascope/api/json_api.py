"""OMERO.web's JSON API (`/api/`, omero-web `omeroweb/api/`): same URLs, query parameters and
JSON as omero-web 5.x with omero-marshal, for projects, datasets and images.

Quirks kept on purpose (omero-web `api_query.validate_opts`): a negative or missing `limit`
means the default, a `limit` above `maxLimit` is clamped, a negative `offset` means 0, and
`childCount` / `normalize` / `orphaned` are on only for the exact string "true".
A parent that does not exist gives an empty list (omero-web filters, it does not look up).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.routing import APIRoute

from .. import catalogue
from . import errors
from .auth import viewer_of
from .deps import db_of
from .errors import ApiError, BadParameter
from .json_marshal import OME_SCHEMA_URL, encode_dataset, encode_image, encode_project

#: omero-web api_settings: API_VERSION, API_VERSIONS, omero.web.api.limit / max_limit.
API_VERSION = "0.2"
API_VERSIONS = ("0",)
DEFAULT_LIMIT = 200
MAX_LIMIT = 500
#: Larger numbers cannot be SQL integers; no object has such an id.
_MAX_SQL_INT = 2**63 - 1


class OmeroApiRoute(APIRoute):
    """Adds `X-OMERO-ApiVersion` to every reply, errors included (omero-web's json_response)."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def with_version_header(request: Request) -> Response:
            try:
                response = await handler(request)
            except Exception as exc:  # mapped exactly as the app-wide handlers would map it
                response = errors.error_response(exc)
            response.headers["X-OMERO-ApiVersion"] = API_VERSION
            return response

        return with_version_header


router = APIRouter(prefix="/api", tags=["json api"], route_class=OmeroApiRoute)


# -- query parameters -----------------------------------------------------------------

def _int_or_none(raw: str | None, name: str) -> int | None:
    """omero-web's getIntOrDefault: Python int(); its ValueError message is the 400 body."""
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadParameter(str(exc)) from None
    if abs(value) > _MAX_SQL_INT:
        raise BadParameter(f"{name}={raw} is out of range")
    return value


@dataclass(frozen=True)
class ListOptions:
    offset: int
    limit: int
    child_count: bool
    normalize: bool
    orphaned: bool


def list_options(
    offset: Annotated[str | None, Query(description="Index of the first object (default 0)")] = None,
    limit: Annotated[str | None, Query(description=f"Page size (default {DEFAULT_LIMIT}, at most {MAX_LIMIT})")] = None,
    childCount: Annotated[str | None, Query(description="`true` adds omero:childCount to containers")] = None,
    normalize: Annotated[str | None, Query(description="`true` adds experimenters / experimenterGroups")] = None,
    orphaned: Annotated[str | None, Query(description="`true`: only objects without a parent container")] = None,
    owner: Annotated[str | None, Query(description="Experimenter id (accepted; there are no owners yet)")] = None,
    group: Annotated[str | None, Query(description="Group id (accepted; there are no groups yet)")] = None,
) -> ListOptions:
    first, size = _int_or_none(offset, "offset"), _int_or_none(limit, "limit")
    _int_or_none(owner, "owner"), _int_or_none(group, "group")
    size = DEFAULT_LIMIT if size is None or size < 0 else min(size, MAX_LIMIT)
    first = 0 if first is None or first < 0 else first
    return ListOptions(first, size, childCount == "true", normalize == "true", orphaned == "true")


Options = Annotated[ListOptions, Depends(list_options)]
ChildCount = Annotated[str | None, Query(description="`true` adds omero:childCount")]
Filter = Annotated[str | None, Query(description="Filter by this parent / child id")]


def _object_id(raw: str, kind: str) -> int:
    """omero-web's URL patterns take `[0-9]+`; anything else, or an id that cannot exist, is 404."""
    if not raw.isascii() or not raw.isdigit() or int(raw) > _MAX_SQL_INT:
        raise ApiError(404, f"{kind} {raw} not found")
    return int(raw)


def _get(kind: str, object_id: int, fetch: Callable):
    try:
        return fetch(object_id)
    except catalogue.NotFound:
        raise ApiError(404, f"{kind} {object_id} not found") from None


# -- links ----------------------------------------------------------------------------

def _url(request: Request, path: str = "") -> str:
    """Absolute URL under /api/v0/ from the request's own base (omero-web build_url)."""
    return f"{str(request.base_url).rstrip('/')}/api/v0/{path}"


def _page(opts: ListOptions, objects: list[dict], total: int) -> dict:
    body: dict = {"data": objects}
    if opts.normalize:  # omero-web api_marshal.normalize_objects; there are no owners or groups yet
        body.update({"experimenters": [], "experimenterGroups": []})
    body["meta"] = {"offset": opts.offset, "limit": opts.limit, "maxLimit": MAX_LIMIT, "totalCount": total}
    return body


def _project_json(request: Request, project, *, in_list: bool, child_count: bool) -> dict:
    out = encode_project(project)
    if child_count:
        out["omero:childCount"] = project.dataset_count
    out["url:datasets"] = _url(request, f"m/projects/{project.id}/datasets/")
    if in_list:
        out["url:project"] = _url(request, f"m/projects/{project.id}/")
    return out


def _dataset_json(request: Request, dataset, *, in_list: bool, child_count: bool) -> dict:
    out = encode_dataset(dataset)
    if child_count:
        out["omero:childCount"] = dataset.image_count
    out["url:images"] = _url(request, f"m/datasets/{dataset.id}/images/")
    if in_list:
        out["url:dataset"] = _url(request, f"m/datasets/{dataset.id}/")
    out["url:projects"] = _url(request, f"m/datasets/{dataset.id}/projects/")
    return out


def _image_json(request: Request, image, *, in_list: bool) -> dict:
    out = encode_image(image, channels=not in_list)
    if in_list:
        out["url:image"] = _url(request, f"m/images/{image.id}/")
    # omero-web ImageView also links url:rois; there are no ROIs here, so no link that would 404
    out["url:datasets"] = _url(request, f"m/images/{image.id}/datasets/")
    return out


# -- entry points ---------------------------------------------------------------------

@router.get("/", summary="Supported API versions")
def api_versions(request: Request):
    return {"data": [{"version": v, "url:base": f"{str(request.base_url).rstrip('/')}/api/v{v}/"}
                     for v in API_VERSIONS]}


#: omero-web api_base's keys, in its order; only those whose route the app serves are listed
_BASE_LINKS = {"experimenters": "m/experimenters/", "experimentergroups": "m/experimentergroups/",
               "projects": "m/projects/", "datasets": "m/datasets/", "images": "m/images/",
               "screens": "m/screens/", "plates": "m/plates/", "rois": "m/rois/", "token": "token/",
               "servers": "servers/", "login": "login/", "save": "m/save/"}


def _served_paths(request: Request) -> set[str]:
    """The paths the app answers, from its OpenAPI document (built once, then cached by FastAPI)."""
    return set(request.app.openapi().get("paths", {}))


@router.get("/v0/", summary="Starting URLs (omero-web api_base)")
def api_base(request: Request):
    # omero-web's list, less the URLs this app does not answer (experimenters, groups, rois,
    # token, servers, login, save today): an advertised link never leads to a 404
    served = _served_paths(request)
    links = {f"url:{key}": _url(request, path) for key, path in _BASE_LINKS.items()
             if f"/api/v0/{path}" in served}
    links["url:schema"] = OME_SCHEMA_URL
    return links


# -- projects -------------------------------------------------------------------------

def _projects(request: Request, opts: ListOptions, dataset_id: int | None) -> dict:
    if dataset_id is None:
        records, total = catalogue.list_projects(db_of(request), offset=opts.offset, limit=opts.limit, order="name",
                                                 viewer=viewer_of(request))
    else:  # a dataset belongs to exactly one project here
        try:
            viewer, db = viewer_of(request), db_of(request)
            parent = catalogue.get_dataset(db, dataset_id, viewer=viewer).project_id
            if parent is None:  # a project the caller may not see (catalogue leaves it unnamed)
                raise catalogue.NotFound(f"dataset {dataset_id} has no visible project")
            parents = [catalogue.get_project(db, parent, viewer=viewer)]
        except catalogue.NotFound:
            parents = []
        records, total = parents[opts.offset:opts.offset + opts.limit], len(parents)
    data = [_project_json(request, p, in_list=True, child_count=opts.child_count) for p in records]
    return _page(opts, data, total)


@router.get("/v0/m/projects/", summary="List projects")
def list_projects(request: Request, opts: Options, dataset: Filter = None):
    return _projects(request, opts, _int_or_none(dataset, "dataset"))


@router.get("/v0/m/projects/{project_id}/", summary="One project")
def get_project(request: Request, project_id: str, childCount: ChildCount = None):
    project = _get("Project", _object_id(project_id, "Project"),
                   lambda i: catalogue.get_project(db_of(request), i, viewer=viewer_of(request)))
    return {"data": _project_json(request, project, in_list=False, child_count=childCount == "true")}


@router.get("/v0/m/datasets/{dataset_id}/projects/", summary="Projects that contain a dataset")
def dataset_projects(request: Request, dataset_id: str, opts: Options):
    return _projects(request, opts, _object_id(dataset_id, "Dataset"))


# -- datasets -------------------------------------------------------------------------

def _datasets(request: Request, opts: ListOptions, project_id: int | None, image_id: int | None) -> dict:
    if opts.orphaned:  # every dataset here belongs to a project
        return _page(opts, [], 0)
    records, total = catalogue.list_datasets(db_of(request), project_id=project_id, image_id=image_id, offset=opts.offset,
                                             limit=opts.limit, order="name", viewer=viewer_of(request))
    data = [_dataset_json(request, d, in_list=True, child_count=opts.child_count) for d in records]
    return _page(opts, data, total)


@router.get("/v0/m/datasets/", summary="List datasets")
def list_datasets(request: Request, opts: Options, project: Filter = None, image: Filter = None):
    return _datasets(request, opts, _int_or_none(project, "project"), _int_or_none(image, "image"))


@router.get("/v0/m/projects/{project_id}/datasets/", summary="Datasets in a project")
def project_datasets(request: Request, project_id: str, opts: Options, image: Filter = None):
    return _datasets(request, opts, _object_id(project_id, "Project"), _int_or_none(image, "image"))


@router.get("/v0/m/images/{image_id}/datasets/", summary="Datasets that contain an image")
def image_datasets(request: Request, image_id: str, opts: Options, project: Filter = None):
    return _datasets(request, opts, _int_or_none(project, "project"), _object_id(image_id, "Image"))


@router.get("/v0/m/datasets/{dataset_id}/", summary="One dataset")
def get_dataset(request: Request, dataset_id: str, childCount: ChildCount = None):
    dataset = _get("Dataset", _object_id(dataset_id, "Dataset"),
                   lambda i: catalogue.get_dataset(db_of(request), i, viewer=viewer_of(request)))
    return {"data": _dataset_json(request, dataset, in_list=False, child_count=childCount == "true")}


# -- images ---------------------------------------------------------------------------

def _images(request: Request, opts: ListOptions, dataset_id: int | None, project_id: int | None) -> dict:
    # orphaned=true (omero-web ImagesView -> ImageWrapper): images in no dataset and no well; like
    # omero-web it is ANDed with a dataset filter (so ?dataset=1&orphaned=true is empty)
    records, total = catalogue.list_images(db_of(request), dataset_id=dataset_id, project_id=project_id, offset=opts.offset,
                                           limit=opts.limit, order="name", viewer=viewer_of(request),
                                           orphaned=opts.orphaned)
    return _page(opts, [_image_json(request, i, in_list=True) for i in records], total)


@router.get("/v0/m/images/", summary="List images (with Pixels, without Channels)")
def list_images(request: Request, opts: Options, dataset: Filter = None, project: Filter = None):
    return _images(request, opts, _int_or_none(dataset, "dataset"), _int_or_none(project, "project"))


@router.get("/v0/m/datasets/{dataset_id}/images/", summary="Images in a dataset")
def dataset_images(request: Request, dataset_id: str, opts: Options):
    return _images(request, opts, _object_id(dataset_id, "Dataset"), None)


@router.get("/v0/m/images/{image_id}/", summary="One image (with Pixels and Channels)")
def get_image(request: Request, image_id: str):
    image = _get("Image", _object_id(image_id, "Image"),
                 lambda i: catalogue.get_image(db_of(request), i, full=False, viewer=viewer_of(request)))
    return {"data": _image_json(request, image, in_list=False)}

