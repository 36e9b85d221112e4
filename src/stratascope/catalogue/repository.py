"""Catalogue reads and writes. The only module (with models/db) that talks SQL."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from ..formats.model import ChannelSpec, ImageSpec, LevelSpec, SourceObject
from .db import Catalogue
from .errors import CatalogueError, NotFound
from .models import Channel, Dataset, Image, Level, Plate, Project, Screen, SourceObjectRow, Well, WellSample, utcnow
from .queries import (
    dataset_access,
    image_visible,
    ordering,
    orphaned_image,
    project_visible,
    restricted,
    visible_dataset_ids,
)
from .records import DatasetRecord, ImageRecord, ProjectRecord

if TYPE_CHECKING:
    from .principal import Principal

#: Bump when the manifest layout changes so that re-import refreshes every image.
MANIFEST_VERSION = 1


def fingerprint(spec: ImageSpec) -> str:
    """Identifies the source content: unchanged sources give an unchanged fingerprint."""
    items = sorted((s.url, s.size, s.etag or "", s.version or "") for s in spec.sources)
    payload = json.dumps([MANIFEST_VERSION, spec.format, spec.series, items])
    return hashlib.sha256(payload.encode()).hexdigest()


def _ensure_dataset(session: Session, project: str | None, dataset: str | None) -> Dataset | None:
    if not project and not dataset:
        return None
    project_name = project or "Default project"
    proj = session.scalar(select(Project).where(Project.name == project_name))
    if proj is None:
        proj = Project(name=project_name)
        session.add(proj)
        session.flush()
    dataset_name = dataset or "Default dataset"
    ds = session.scalar(select(Dataset).where(Dataset.project_id == proj.id, Dataset.name == dataset_name))
    if ds is None:
        ds = Dataset(project_id=proj.id, name=dataset_name)
        session.add(ds)
        session.flush()
    return ds


def _fill_image(row: Image, spec: ImageSpec, name: str) -> None:
    t, c, z, y, x = spec.shape
    row.name, row.description, row.format, row.axes = name, spec.description, spec.format, spec.axes
    row.size_t, row.size_c, row.size_z, row.size_y, row.size_x = t, c, z, y, x
    row.dtype = spec.dtype
    row.physical_sizes = {axis: [value, unit] for axis, (value, unit) in spec.physical_sizes.items()}
    row.acquisition_date = spec.acquisition_date
    row.fingerprint = fingerprint(spec)
    row.status, row.status_message = "ok", None
    row.levels = [
        Level(index=i, shape=list(lv.shape), chunks=list(lv.chunks), dtype=lv.dtype, layout=lv.layout, manifest=lv.manifest)
        for i, lv in enumerate(spec.levels)
    ]
    row.channels = [
        Channel(
            index=i, label=ch.label, color=ch.color, window_start=ch.window_start, window_end=ch.window_end,
            window_min=ch.window_min, window_max=ch.window_max, emission_wave=ch.emission_wave,
            active=ch.active, inverted=ch.inverted, family=ch.family, coefficient=ch.coefficient,
        )
        for i, ch in enumerate(spec.channels)
    ]
    row.sources = [
        SourceObjectRow(url=s.url, size=s.size, etag=s.etag, version=s.version,
                        last_modified=s.last_modified, storage_class=s.storage_class)
        for s in spec.sources
    ]


def ensure_dataset(db: Catalogue, project: str | None, dataset: str | None) -> int | None:
    """Create the project/dataset if missing (done once before concurrent imports)."""
    if not project and not dataset:
        return None
    for attempt in range(3):
        try:
            with db.session(write=True) as session:
                ds = _ensure_dataset(session, project, dataset)
                return ds.id if ds else None
        except IntegrityError:  # another importer created it first: read it back
            if attempt == 2:
                raise
    return None


CONFLICT_ATTEMPTS = 3


def retry_on_conflict(work, what: str):
    """Run `work()` (one whole transaction) again when the database refused it for a unique
    row a concurrent transaction committed first (two imports of the same objects, or of
    images sharing a project): the next attempt reads that row and updates or keeps it.
    The database decides who was first (its unique constraints); nothing is locked here."""
    for attempt in range(CONFLICT_ATTEMPTS):
        try:
            return work()
        except IntegrityError as exc:
            if attempt == CONFLICT_ATTEMPTS - 1:
                raise CatalogueError(f"{what}: the catalogue kept refusing it as a duplicate of a row written "
                                     f"concurrently ({exc.orig})") from exc
    return None


def register_image(db: Catalogue, spec: ImageSpec, *, project: str | None = None, dataset: str | None = None,
                   name: str | None = None) -> tuple[int, str]:
    """Insert or refresh one image in a single transaction.

    Returns (image id, "imported" | "updated" | "moved" | "renamed" | "unchanged"). Nothing is
    written unless the whole image is valid, so a failure never leaves a half-registered image.
    Concurrent registrations of the same image both succeed: one "imported", the other "unchanged".
    """
    image_id, status, _, _ = register_image_reporting(db, spec, project=project, dataset=dataset, name=name)
    return image_id, status


def register_image_reporting(db: Catalogue, spec: ImageSpec, *, project: str | None = None,
                             dataset: str | None = None, name: str | None = None
                             ) -> tuple[int, str, str | None, str]:
    """`register_image`, plus what a re-import changed ("moved from P / D to P2 / D2", ...) or
    None, and the image's name in the catalogue now (an unchanged image keeps an earlier --name)."""
    def work():
        with db.session(write=True) as session:
            changes: list[str] = []
            image_id, status = upsert_image(session, spec, _ensure_dataset(session, project, dataset),
                                            name or spec.name, rename=name, changes=changes)
            return image_id, status, "; ".join(changes) or None, session.get(Image, image_id).name

    return retry_on_conflict(work, f"registering {spec.url}")


def refile_image(db: Catalogue, image_id: int, *, project: str | None = None, dataset: str | None = None,
                 name: str | None = None) -> tuple[str, str | None]:
    """Move an already registered, unchanged image to project/dataset and/or rename it.

    Returns ("moved" | "renamed" | "unchanged", what changed or None)."""
    with db.session(write=True) as session:
        row = session.get(Image, image_id)
        if row is None:
            raise NotFound(f"image {image_id} not found")
        changes: list[str] = []
        status = _refile(session, row, _ensure_dataset(session, project, dataset), name, changes)
        return status, "; ".join(changes) or None


def _where(session: Session, dataset_id: int | None) -> str:
    ds = session.get(Dataset, dataset_id) if dataset_id is not None else None
    return f"{ds.project.name} / {ds.name}" if ds is not None else "no dataset"


def _refile(session: Session, row: Image, ds: Dataset | None, name: str | None, changes: list[str]) -> str:
    """Apply --project/--dataset (ds) and --name (name) to an unchanged image; say what changed."""
    status = "unchanged"
    if name is not None and row.name != name:
        changes.append(f"renamed from {row.name!r} to {name!r}")
        row.name = name
        status = "renamed"
    if ds is not None and row.dataset_id != ds.id:
        changes.append(f"moved from {_where(session, row.dataset_id)} to {ds.project.name} / {ds.name}")
        row.dataset_id = ds.id
        status = "moved"  # moved (and maybe renamed too: the detail says both)
    if changes:
        row.updated_at = utcnow()
    return status


def upsert_image(session: Session, spec: ImageSpec, ds: Dataset | None, name: str, *, rename: str | None = None,
                 changes: list[str] | None = None) -> tuple[int, str]:
    """register_image's work inside a caller's transaction (also used for a plate's fields).

    `rename`: a name asked for explicitly (--name), applied to an unchanged image too; `changes`
    receives what a re-import of an unchanged image changed."""
    row = session.scalar(select(Image).where(Image.url == spec.url, Image.series == spec.series))
    if row is not None and row.fingerprint == fingerprint(spec) and row.status == "ok":
        return row.id, _refile(session, row, ds, rename, changes if changes is not None else [])
    status = "imported" if row is None else "updated"
    if row is None:
        row = Image(url=spec.url, series=spec.series, revision=1)
        session.add(row)
    else:
        row.revision = (row.revision or 0) + 1
        row.levels.clear()
        row.channels.clear()
        row.sources.clear()
        session.flush()
    _fill_image(row, spec, name)
    row.updated_at = utcnow()
    if ds is not None:
        row.dataset_id = ds.id
    session.flush()
    return row.id, status


def recorded_sources(db: Catalogue, url: str) -> dict[int, list[SourceObject]]:
    """Sources recorded for every image registered from `url` (keyed by series).

    Empty when any image from `url` is marked missing/changed, so that an import of the
    URL reads it again (and repairs it) instead of taking the "unchanged" shortcut.
    """
    with db.session() as session:
        rows = session.scalars(select(Image).where(Image.url == url).options(selectinload(Image.sources))).all()
        if any(row.status != "ok" for row in rows):
            return {}
        return {row.series: [_source(s) for s in row.sources] for row in rows}


def source_urls_under(db: Catalogue, prefix: str) -> set[str]:
    """Every source object URL recorded by any image that starts with `prefix`."""
    query = select(SourceObjectRow.url).where(SourceObjectRow.url.startswith(prefix, autoescape=True))
    with db.session() as session:
        return set(session.scalars(query))


def mark_verified(db: Catalogue, image_id: int, revision: int, status: str, message: str | None) -> bool:
    """Set an image's status after a verify, unless it was re-imported meanwhile (revision moved).

    Returns whether the row was changed."""
    with db.session(write=True) as session:
        row = session.get(Image, image_id)
        if row is None or row.revision != revision:
            return False
        if (row.status, row.status_message) == (status, message):
            return False
        row.status, row.status_message = status, message
        return True


def image_ids_for_url(db: Catalogue, url: str) -> list[int]:
    with db.session() as session:
        return list(session.scalars(select(Image.id).where(Image.url == url).order_by(Image.series)))


def images_named(db: Catalogue, name: str, *, limit: int = 10, viewer: Principal | None = None) -> list[tuple[int, str]]:
    """(id, name) of images called `name` or `name.<suffix>` (lookup by name, e.g. IIIF identifiers)."""
    escaped = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    query = (select(Image.id, Image.name)
             .where((Image.name == name) | Image.name.like(escaped + ".%", escape="\\"))
             .order_by(Image.id).limit(limit))
    if restricted(viewer):
        query = query.where(image_visible(viewer))
    with db.session() as session:
        return [(row.id, row.name) for row in session.execute(query)]


def _source(row: SourceObjectRow) -> SourceObject:
    return SourceObject(row.url, row.size, row.etag, row.version, row.last_modified, row.storage_class)


def _record(row: Image, *, full: bool, viewer: Principal | None = None) -> ImageRecord:
    """The record as `viewer` may see it (a project hidden from them is not named)."""
    ds = row.dataset
    proj = ds.project if ds else None
    levels: tuple = ()
    if full:
        levels = tuple(
            LevelSpec(tuple(lv.shape), tuple(lv.chunks), lv.dtype, lv.layout, lv.manifest) for lv in row.levels
        )
    return ImageRecord(
        id=row.id, name=row.name, description=row.description, format=row.format, url=row.url,
        series=row.series, axes=row.axes,
        shape=(row.size_t, row.size_c, row.size_z, row.size_y, row.size_x), dtype=row.dtype,
        physical_sizes={k: tuple(v) for k, v in (row.physical_sizes or {}).items()},
        acquisition_date=row.acquisition_date, revision=row.revision, status=row.status,
        status_message=row.status_message, imported_at=row.imported_at, updated_at=row.updated_at,
        dataset_id=ds.id if ds else None, dataset_name=ds.name if ds else None,
        dataset_description=ds.description if ds else None,
        project_id=proj.id if proj else None, project_name=proj.name if proj else None,
        project_description=proj.description if proj else None,
        levels=levels,
        channel_ids=tuple(ch.id for ch in row.channels),
        channels=tuple(
            ChannelSpec(ch.label, ch.color, ch.window_start, ch.window_end, ch.window_min, ch.window_max,
                        ch.emission_wave, ch.active, ch.inverted, ch.family, ch.coefficient)
            for ch in row.channels
        ),
        sources=tuple(_source(s) for s in row.sources),
        project_access=(bool(proj.public), proj.group_id) if proj else None,
    ).seen_by(viewer if restricted(viewer) else None)


def _image_query(full: bool):
    options = [selectinload(Image.channels), selectinload(Image.sources),
               selectinload(Image.dataset).selectinload(Dataset.project)]
    if full:
        options.append(selectinload(Image.levels))
    return select(Image).options(*options)


def get_image(db: Catalogue, image_id: int, *, full: bool = True, viewer: Principal | None = None) -> ImageRecord:
    """One image; NotFound also when `viewer` may not read it (None: no restriction, the CLI)."""
    query = _image_query(full).where(Image.id == image_id)
    if restricted(viewer):
        query = query.where(image_visible(viewer))
    with db.session() as session:
        row = session.scalar(query)
        if row is None:
            raise NotFound(f"image {image_id} not found")
        return _record(row, full=full, viewer=viewer)


def list_images(db: Catalogue, *, project_id: int | None = None, dataset_id: int | None = None, name: str | None = None,
                ids: list[int] | None = None, offset: int = 0, limit: int | None = None,
                order: str = "id", viewer: Principal | None = None,
                orphaned: bool = False) -> tuple[list[ImageRecord], int]:
    """Images (without level manifests) in id (or name) order, and the total count for paging.
    `orphaned`: only images in no dataset and no plate (combined with the other filters)."""
    query = _image_query(False)
    count = select(func.count(Image.id))
    filters = []
    if dataset_id is not None:
        filters.append(Image.dataset_id == dataset_id)
    if project_id is not None:
        filters.append(Image.dataset_id.in_(select(Dataset.id).where(Dataset.project_id == project_id)))
        if restricted(viewer):  # a hidden project is never named, not even by what it holds
            filters.append(Image.dataset_id.in_(select(Dataset.id).join(Project, Project.id == Dataset.project_id)
                                                .where(project_visible(viewer))))
    if name:
        filters.append(Image.name.ilike(f"%{name}%"))
    if ids is not None:
        filters.append(Image.id.in_(ids))
    if orphaned:
        filters.append(orphaned_image())
    if restricted(viewer):
        filters.append(image_visible(viewer))
    for f in filters:
        query, count = query.where(f), count.where(f)
    query = query.order_by(*ordering(Image, order)).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    with db.session() as session:
        return [_record(r, full=False, viewer=viewer) for r in session.scalars(query)], session.scalar(count)


def _projects_query(viewer: Principal | None = None):
    datasets = select(Dataset.project_id, func.count(Dataset.id).label("n"))
    if restricted(viewer):  # count only the datasets the viewer may see
        datasets = datasets.where(Dataset.id.in_(visible_dataset_ids(viewer)))
    counts = datasets.group_by(Dataset.project_id).subquery()
    query = select(Project, func.coalesce(counts.c.n, 0)).outerjoin(counts, counts.c.project_id == Project.id)
    return query.where(project_visible(viewer)) if restricted(viewer) else query


def list_projects(db: Catalogue, *, offset: int = 0, limit: int | None = None, order: str = "id",
                  viewer: Principal | None = None) -> tuple[list[ProjectRecord], int]:
    query = _projects_query(viewer).order_by(*ordering(Project, order)).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    count = select(func.count(Project.id))
    if restricted(viewer):
        count = count.where(project_visible(viewer))
    with db.session() as session:
        rows = session.execute(query).all()
        total = session.scalar(count)
        return [ProjectRecord(p.id, p.name, p.description, n) for p, n in rows], total


def get_project(db: Catalogue, project_id: int, *, viewer: Principal | None = None) -> ProjectRecord:
    with db.session() as session:
        row = session.execute(_projects_query(viewer).where(Project.id == project_id)).first()
        if row is None:
            raise NotFound(f"project {project_id} not found")
        project, n = row
        return ProjectRecord(project.id, project.name, project.description, n)


def list_datasets(db: Catalogue, *, project_id: int | None = None, image_id: int | None = None, offset: int = 0,
                  limit: int | None = None, order: str = "id",
                  viewer: Principal | None = None) -> tuple[list[DatasetRecord], int]:
    counts = select(Image.dataset_id, func.count(Image.id).label("n")).group_by(Image.dataset_id).subquery()
    query = (select(Dataset, Project, func.coalesce(counts.c.n, 0)).join(Project, Project.id == Dataset.project_id)
             .outerjoin(counts, counts.c.dataset_id == Dataset.id))
    count = select(func.count(Dataset.id))
    if project_id is not None:
        query, count = query.where(Dataset.project_id == project_id), count.where(Dataset.project_id == project_id)
        if restricted(viewer):  # a hidden project is never named, not even by what it holds
            shown = Dataset.project_id.in_(select(Project.id).where(project_visible(viewer)))
            query, count = query.where(shown), count.where(shown)
    if image_id is not None:
        sub = select(Image.dataset_id).where(Image.id == image_id)
        query, count = query.where(Dataset.id.in_(sub)), count.where(Dataset.id.in_(sub))
    if restricted(viewer):
        visible = Dataset.id.in_(visible_dataset_ids(viewer))
        query, count = query.where(visible), count.where(visible)
    query = query.order_by(*ordering(Dataset, order)).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    with db.session() as session:
        rows = session.execute(query).all()
        return ([_dataset_record(d, p, n, viewer) for d, p, n in rows], session.scalar(count))


def _dataset_record(row: Dataset, project: Project, n: int, viewer: Principal | None) -> DatasetRecord:
    """A project `viewer` may not read is not named."""
    if restricted(viewer) and not viewer.can_read(bool(project.public), project.group_id):
        return DatasetRecord(row.id, row.name, row.description, None, None, n)
    return DatasetRecord(row.id, row.name, row.description, project.id, project.name, n)


def get_dataset(db: Catalogue, dataset_id: int, *, viewer: Principal | None = None) -> DatasetRecord:
    with db.session() as session:
        row = session.get(Dataset, dataset_id)
        if row is not None and restricted(viewer) and not viewer.can_read(*dataset_access(row)):
            row = None
        if row is None:
            raise NotFound(f"dataset {dataset_id} not found")
        n = session.scalar(select(func.count(Image.id)).where(Image.dataset_id == dataset_id))
        return _dataset_record(row, row.project, n, viewer)


def set_image_status(db: Catalogue, image_id: int, status: str, message: str | None = None) -> None:
    with db.session(write=True) as session:
        row = session.get(Image, image_id)
        if row is None:
            raise NotFound(f"image {image_id} not found")
        row.status, row.status_message = status, message


def set_channel_ranges(db: Catalogue, image_id: int, ranges: list[tuple[float, float]]) -> None:
    """Record per-channel data min/max gathered at import (for automatic windows)."""
    with db.session(write=True) as session:
        rows = session.scalars(select(Channel).where(Channel.image_id == image_id).order_by(Channel.index)).all()
        for row, (low, high) in zip(rows, ranges):
            if row.window_min is None:
                row.window_min = float(low)
            if row.window_max is None:
                row.window_max = float(high)


def image_access(db: Catalogue, image_id: int) -> tuple[bool, int | None]:
    """(public, owning group id) in effect for an image, for `Principal.can_read`; NotFound if absent.

    ONE statement whether the image exists or not (api/lookup.py: a hidden id and an unknown id
    cost the same, so timing tells nothing). Images in a dataset follow it (NULLs: as its
    project); others follow their plate's screen (docs/plates.md), else they are public."""
    query = (select(Image.id, func.coalesce(Dataset.public, Project.public), func.coalesce(Dataset.group_id,
                                                                                          Project.group_id),
                    Image.dataset_id, Screen.id, Screen.public, Screen.group_id)
             .outerjoin(Dataset, Dataset.id == Image.dataset_id).outerjoin(Project, Project.id == Dataset.project_id)
             .outerjoin(WellSample, WellSample.image_id == Image.id).outerjoin(Well, Well.id == WellSample.well_id)
             .outerjoin(Plate, Plate.id == Well.plate_id).outerjoin(Screen, Screen.id == Plate.screen_id)
             .where(Image.id == image_id).order_by(Screen.id.is_(None)).limit(1))
    with db.session() as session:
        row = session.execute(query).first()
    if row is None:
        raise NotFound(f"image {image_id} not found")
    _, public, group_id, dataset_id, screen_id, screen_public, screen_group = row
    if dataset_id is not None:
        return bool(public), group_id
    if screen_id is not None:
        return bool(screen_public), screen_group
    return True, None


def _container(session: Session, kind: str, ident: str) -> Project | Dataset:
    """A project, dataset or screen by id, or by name (a dataset name must be unique across projects)."""
    model = {"project": Project, "dataset": Dataset, "screen": Screen}[kind]
    row = session.get(model, int(ident)) if ident.isdigit() and len(ident) <= 18 else None
    if row is None:
        rows = session.scalars(select(model).where(model.name == ident)).all()
        if len(rows) > 1:
            raise NotFound(f"{len(rows)} {kind}s are named {ident!r}: use the id")
        row = rows[0] if rows else None
    if row is None:
        raise NotFound(f"{kind} {ident} not found")
    return row


def set_visibility(db: Catalogue, kind: str, ident: str, *, public: bool | None = None, group_id: int | None = None,
                   clear_group: bool = False, inherit: bool = False) -> int:
    """Mark a project/dataset public or private and/or give it to a group; returns its id.

    `inherit` makes a dataset's visibility "as its project" again; `clear_group` removes the owner
    (for a dataset: the project's group applies again)."""
    with db.session(write=True) as session:
        row = _container(session, kind, ident)
        if inherit:
            if kind != "dataset":
                raise ValueError("only a dataset can inherit its visibility (from its project)")
            row.public = None
        elif public is not None:
            row.public = public
        if group_id is not None or clear_group:
            row.group_id = group_id
        return row.id


def create_project(db: Catalogue, name: str, *, public: bool = True, group_id: int | None = None) -> int:
    """An empty project (e.g. private, before importing into it); the existing one's id if present."""
    with db.session(write=True) as session:
        row = session.scalar(select(Project).where(Project.name == name))
        if row is None:
            row = Project(name=name, public=public, group_id=group_id)
            session.add(row)
            session.flush()
        return row.id


def add_levels(db: Catalogue, image_id: int, revision: int, levels: list[LevelSpec]) -> bool:
    """Append derived levels (overviews made at import) without bumping the revision.

    Each level's layout["level"] must be the index it gets. Nothing is added if the image was
    re-imported meanwhile (revision moved) or its level count changed since the levels were
    planned (another process added them first). Returns whether levels were added."""
    with db.session(write=True) as session:
        row = session.get(Image, image_id)
        if row is None:
            raise NotFound(f"image {image_id} not found")
        if row.revision != revision:
            return False
        start = len(row.levels)
        if any(lv.layout.get("level") != start + i for i, lv in enumerate(levels)):
            return False  # planned against another level count (a concurrent add_levels won)
        row.levels.extend(
            Level(index=start + i, shape=list(lv.shape), chunks=list(lv.chunks), dtype=lv.dtype, layout=lv.layout,
                  manifest=lv.manifest)
            for i, lv in enumerate(levels)
        )
        return True
