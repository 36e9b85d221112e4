"""HCS catalogue: screens, plates, wells, well samples (fields). See docs/plates.md.

A plate is registered in one transaction with all its field images, so an import never
leaves half a plate. Plates outside any screen are public; a screen carries an owning
group and a public flag like a project, and the images of its plates inherit them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from ..formats.model import PlateSpec
from .db import Catalogue
from .errors import NotFound
from .models import Image, Plate, Screen, Well, WellSample, utcnow
from .queries import ordering, plate_visible, restricted, screen_visible
from .records import (
    ImagePlacement,
    PlateGridCell,
    PlateRecord,
    ScreenRecord,
    WellRecord,
    WellSampleRecord,
)
from .repository import retry_on_conflict, upsert_image

if TYPE_CHECKING:
    from .principal import Principal


# -- writes ------------------------------------------------------------------------------------

def _ensure_screen(session: Session, name: str | None) -> Screen | None:
    if not name:
        return None
    screen = session.scalar(select(Screen).where(Screen.name == name))
    if screen is None:
        screen = Screen(name=name)
        session.add(screen)
        session.flush()
    return screen


def ensure_screen(db: Catalogue, name: str | None) -> int | None:
    """Create the screen if missing (once, before concurrent plate imports)."""
    if not name:
        return None
    for attempt in range(3):
        try:
            with db.session(write=True) as session:
                return _ensure_screen(session, name).id
        except IntegrityError:  # another importer created it first
            if attempt == 2:
                raise
    return None


def register_plate(db: Catalogue, spec: PlateSpec, *, screen: str | None = None) -> tuple[int, str, list[tuple[int, str]]]:
    """Insert or refresh a plate and all its fields in one transaction.

    Returns (plate id, "imported" | "updated" | "unchanged", [(image id, status) per spec.images]).
    Well and well sample ids stay the same when the layout did not change.
    Concurrent imports of the same plate both succeed (the later one finds the earlier's rows).
    """
    def work():
        with db.session(write=True) as session:
            screen_row = _ensure_screen(session, screen)
            plate = session.scalar(select(Plate).where(Plate.url == spec.url)
                                   .options(selectinload(Plate.wells).selectinload(Well.samples)))
            images = [upsert_image(session, image, None, image.name) for image in spec.images]
            status = "imported" if plate is None else "unchanged"
            if plate is None:
                plate = Plate(url=spec.url, wells=[])
            layout = _layout(spec, [image_id for image_id, _ in images])
            meta = dict(name=spec.name, description=spec.description, format=spec.format,
                        row_names=list(spec.rows), column_names=list(spec.columns), row_naming=spec.row_naming,
                        column_naming=spec.column_naming, field_count=spec.field_count,
                        acquisitions=[vars(a) for a in spec.acquisitions],
                        sources=[[s.url, s.size, s.etag, s.version] for s in spec.sources])
            if screen_row is not None and plate.screen_id != screen_row.id:
                plate.screen_id = screen_row.id
            changed = [key for key, value in meta.items() if getattr(plate, key) != value]
            for key in changed:
                setattr(plate, key, meta[key])
            old_layout = {(w.row, w.column, w.path): [(s.field_index, s.image_id, s.acquisition) for s in w.samples]
                          for w in plate.wells}
            if plate.id is None:
                session.add(plate)
            if old_layout != layout:
                _replace_wells(session, plate, layout, old_layout)
                changed.append("wells")
            if status == "unchanged" and (changed or any(s != "unchanged" for _, s in images)):
                status = "updated"
            if status != "unchanged":
                plate.updated_at = utcnow()
            session.flush()
            return plate.id, status, images

    return retry_on_conflict(work, f"registering plate {spec.url}")


def _layout(spec: PlateSpec, image_ids: list[int]) -> dict:
    return {(w.row, w.column, w.path): [(i, image_ids[s.image], s.acquisition) for i, s in enumerate(w.samples)]
            for w in spec.wells}


def _replace_wells(session: Session, plate: Plate, layout: dict, old_layout: dict) -> None:
    kept = {image_id for samples in layout.values() for _, image_id, _ in samples}
    dropped = {image_id for samples in old_layout.values() for _, image_id, _ in samples} - kept
    plate.wells.clear()
    session.flush()
    for (row, column, path), samples in layout.items():
        plate.wells.append(Well(row=row, column=column, path=path, samples=[
            WellSample(field_index=index, image_id=image_id, acquisition=acquisition)
            for index, image_id, acquisition in samples]))
    for image_id in dropped:  # fields no longer in the plate: not left behind as loose images
        image = session.get(Image, image_id)
        if image is not None:
            session.delete(image)


# -- reads ---------------------------------------------------------------------------------------

def list_screens(db: Catalogue, *, plate_id: int | None = None, offset: int = 0, limit: int | None = None, order: str = "id",
                 viewer: Principal | None = None) -> tuple[list[ScreenRecord], int]:
    plates = select(Plate.screen_id, func.count(Plate.id).label("n")).group_by(Plate.screen_id).subquery()
    query = select(Screen, func.coalesce(plates.c.n, 0)).outerjoin(plates, plates.c.screen_id == Screen.id)
    count = select(func.count(Screen.id))
    filters = []
    if plate_id is not None:
        filters.append(Screen.id.in_(select(Plate.screen_id).where(Plate.id == plate_id)))
    if restricted(viewer):
        filters.append(screen_visible(viewer))
    for f in filters:
        query, count = query.where(f), count.where(f)
    query = query.order_by(*ordering(Screen, order)).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    with db.session() as session:
        rows = session.execute(query).all()
        return [ScreenRecord(s.id, s.name, s.description, n) for s, n in rows], session.scalar(count)


def get_screen(db: Catalogue, screen_id: int, *, viewer: Principal | None = None) -> ScreenRecord:
    query = select(Screen).where(Screen.id == screen_id)
    if restricted(viewer):
        query = query.where(screen_visible(viewer))
    with db.session() as session:
        screen = session.scalar(query)
        if screen is None:
            raise NotFound(f"screen {screen_id} not found")
        n = session.scalar(select(func.count(Plate.id)).where(Plate.screen_id == screen_id))
        return ScreenRecord(screen.id, screen.name, screen.description, n)


def _plate_record(session: Session, plate: Plate) -> PlateRecord:
    wells = session.scalar(select(func.count(Well.id)).where(Well.plate_id == plate.id))
    low, high = session.execute(select(func.min(WellSample.field_index), func.max(WellSample.field_index))
                                .join(Well, Well.id == WellSample.well_id).where(Well.plate_id == plate.id)).one()
    return PlateRecord(
        id=plate.id, name=plate.name, description=plate.description, url=plate.url, format=plate.format,
        screen_id=plate.screen_id, screen_name=plate.screen.name if plate.screen else None,
        row_names=tuple(plate.row_names), column_names=tuple(plate.column_names), row_naming=plate.row_naming,
        column_naming=plate.column_naming, field_count=plate.field_count,
        acquisitions=tuple(plate.acquisitions or ()), well_count=wells,
        field_range=() if low is None else (low, high),
    )


def list_plates(db: Catalogue, *, screen_id: int | None = None, well_id: int | None = None, orphaned: bool = False,
                offset: int = 0, limit: int | None = None, order: str = "id",
                viewer: Principal | None = None) -> tuple[list[PlateRecord], int]:
    query = select(Plate).options(selectinload(Plate.screen))
    count = select(func.count(Plate.id))
    filters = []
    if screen_id is not None:
        filters.append(Plate.screen_id == screen_id)
    if well_id is not None:
        filters.append(Plate.id.in_(select(Well.plate_id).where(Well.id == well_id)))
    if orphaned:
        filters.append(Plate.screen_id.is_(None))
    if restricted(viewer):
        filters.append(plate_visible(viewer))
    for f in filters:
        query, count = query.where(f), count.where(f)
    query = query.order_by(*ordering(Plate, order)).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    with db.session() as session:
        return [_plate_record(session, p) for p in session.scalars(query)], session.scalar(count)


def get_plate(db: Catalogue, plate_id: int, *, viewer: Principal | None = None) -> PlateRecord:
    query = select(Plate).where(Plate.id == plate_id).options(selectinload(Plate.screen))
    if restricted(viewer):
        query = query.where(plate_visible(viewer))
    with db.session() as session:
        plate = session.scalar(query)
        if plate is None:
            raise NotFound(f"plate {plate_id} not found")
        return _plate_record(session, plate)


def _well_record(well: Well) -> WellRecord:
    samples = tuple(WellSampleRecord(s.id, s.field_index, s.image_id, s.acquisition) for s in well.samples)
    return WellRecord(well.id, well.plate_id, well.row, well.column, well.path, samples)


def list_wells(db: Catalogue, *, plate_id: int | None = None, field_index: int | None = None, offset: int = 0,
               limit: int | None = None, viewer: Principal | None = None) -> tuple[list[WellRecord], int]:
    """Wells in omero-web's order (column, then row); `field_index` keeps only that field's sample."""
    query = select(Well).options(selectinload(Well.samples))
    count = select(func.count(Well.id))
    filters = []
    if plate_id is not None:
        filters.append(Well.plate_id == plate_id)
    if field_index is not None:
        filters.append(Well.id.in_(select(WellSample.well_id).where(WellSample.field_index == field_index)))
    if restricted(viewer):
        filters.append(Well.plate_id.in_(select(Plate.id).where(plate_visible(viewer))))
    for f in filters:
        query, count = query.where(f), count.where(f)
    query = query.order_by(Well.column, Well.row, Well.id).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    with db.session() as session:
        wells = [_well_record(w) for w in session.scalars(query)]
        total = session.scalar(count)
    if field_index is not None:
        wells = [WellRecord(w.id, w.plate_id, w.row, w.column, w.path,
                            tuple(s for s in w.samples if s.field_index == field_index)) for w in wells]
    return wells, total


def get_well(db: Catalogue, well_id: int, *, viewer: Principal | None = None) -> WellRecord:
    query = select(Well).where(Well.id == well_id).options(selectinload(Well.samples))
    if restricted(viewer):
        query = query.where(Well.plate_id.in_(select(Plate.id).where(plate_visible(viewer))))
    with db.session() as session:
        well = session.scalar(query)
        if well is None:
            raise NotFound(f"well {well_id} not found")
        return _well_record(well)


def plate_grid(db: Catalogue, plate_id: int, field_index: int, *, acquisition: int | None = None,
               viewer: Principal | None = None) -> tuple[PlateRecord, list[PlateGridCell]]:
    """The plate and, per well that has this field, the field's image (omero-web PlateGrid).

    With `acquisition`, only that acquisition's samples count and `field_index` is relative to
    each well's first sample of it (omero-web's acqid filter)."""
    plate = get_plate(db, plate_id, viewer=viewer)
    query = (select(Well.row, Well.column, Well.id, Image.id, Image.name, Image.description,
                    Image.acquisition_date, Image.imported_at, Image.size_x, Image.size_y, WellSample.field_index)
             .join(WellSample, WellSample.well_id == Well.id).join(Image, Image.id == WellSample.image_id)
             .where(Well.plate_id == plate_id).order_by(Well.row, Well.column, WellSample.field_index))
    if acquisition is None:
        query = query.where(WellSample.field_index == field_index)
    else:
        query = query.where(WellSample.acquisition == acquisition)
    cells, first_of_well = [], {}
    with db.session() as session:
        for row, column, well_id, image_id, name, description, acquired, imported, sx, sy, index in session.execute(query):
            first = first_of_well.setdefault(well_id, index)
            if acquisition is None or index - first == field_index:
                cells.append(PlateGridCell(row, column, well_id, image_id, name, description, acquired or imported,
                                           (sx, sy)))
    return plate, cells


def image_placement(db: Catalogue, image_id: int) -> ImagePlacement | None:
    """The well sample holding an image (None for an image outside any plate)."""
    query = (select(WellSample.id, Well.id, Plate.id, Plate.name, WellSample.field_index, Screen.id, Screen.name)
             .join(Well, Well.id == WellSample.well_id).join(Plate, Plate.id == Well.plate_id)
             .outerjoin(Screen, Screen.id == Plate.screen_id).where(WellSample.image_id == image_id).limit(1))
    with db.session() as session:
        row = session.execute(query).first()
    return None if row is None else ImagePlacement(*row)


def well_bounds(db: Catalogue, plate_id: int) -> tuple[int, int, int, int] | None:
    """(min row, min column, max row, max column) over a plate's wells; None without wells."""
    query = select(func.min(Well.row), func.min(Well.column), func.max(Well.row), func.max(Well.column)).where(
        Well.plate_id == plate_id)
    with db.session() as session:
        bounds = session.execute(query).one()
    return None if bounds[0] is None else tuple(bounds)
