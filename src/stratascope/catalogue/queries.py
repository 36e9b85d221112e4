"""Query pieces shared by repository.py and plates.py: ordering, and who may see what.

Access control (docs/access.md): projects and datasets carry an owning group and a public
flag; a dataset's NULLs mean "as its project". Images inherit from their dataset; images
outside any dataset are public unless their plate's screen is hidden (docs/plates.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select, true

from .models import Dataset, Image, Plate, Project, Screen, Well, WellSample

if TYPE_CHECKING:
    from .principal import Principal


def ordering(model, order: str):
    """"id" (default) or "name": case-insensitive name with id as tie-break (omero-web's order)."""
    if order == "name":
        return (func.lower(model.name), model.id)
    if order == "id":
        return (model.id,)
    raise ValueError(f"unknown order {order!r}: expected 'id' or 'name'")


def restricted(viewer: Principal | None) -> bool:
    """None is the CLI (the admin's own tool) and admins see everything: no filter."""
    return viewer is not None and not viewer.is_admin


def project_visible(viewer: Principal):
    clause = Project.public.is_(true())
    if viewer.group_ids:
        clause = clause | Project.group_id.in_(sorted(viewer.group_ids))
    return clause


def visible_dataset_ids(viewer: Principal):
    clause = func.coalesce(Dataset.public, Project.public).is_(true())
    if viewer.group_ids:
        clause = clause | func.coalesce(Dataset.group_id, Project.group_id).in_(sorted(viewer.group_ids))
    return select(Dataset.id).join(Project, Project.id == Dataset.project_id).where(clause)


def orphaned_image():
    """Images in no dataset and no plate well: omero-py's ImageWrapper query for `orphaned`
    (no DatasetImageLink, no WellSample), what OMERO.web lists as "Orphaned Images"."""
    return Image.dataset_id.is_(None) & Image.id.not_in(select(WellSample.image_id))


def image_visible(viewer: Principal):
    # images of plates follow their screen (docs/plates.md)
    loose = Image.dataset_id.is_(None) & Image.id.not_in(hidden_plate_image_ids(viewer))
    return loose | Image.dataset_id.in_(visible_dataset_ids(viewer))


def dataset_access(row: Dataset) -> tuple[bool, int | None]:
    public = row.project.public if row.public is None else row.public
    group_id = row.project.group_id if row.group_id is None else row.group_id
    return bool(public), group_id


def screen_visible(viewer: Principal):
    clause = Screen.public.is_(true())
    if viewer.group_ids:
        clause = clause | Screen.group_id.in_(sorted(viewer.group_ids))
    return clause


def plate_visible(viewer: Principal):
    return Plate.screen_id.is_(None) | Plate.screen_id.in_(select(Screen.id).where(screen_visible(viewer)))


def hidden_plate_image_ids(viewer: Principal):
    """SELECT of image ids in plates `viewer` may not see (for the images' own visibility)."""
    hidden = select(Plate.id).where(~plate_visible(viewer))
    return (select(WellSample.image_id).join(Well, Well.id == WellSample.well_id)
            .where(Well.plate_id.in_(hidden)))
