"""OMERO.web's JSON API for HCS data: screens, plates and wells (omero-web `omeroweb/api/`
ScreensView, ScreenView, PlatesView, PlateView, WellsView, WellView), with omero-marshal's
Screen / Plate / Well / WellSample encoders (2016-06 schema).

Same conventions as json_api.py (paging, ordering, 404 for hidden or missing objects). Plate
acquisitions are not served as objects of their own (their ids are local to a plate).
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from .. import catalogue
from ..catalogue import plates as hcs
from ..catalogue.records import PlateRecord, ScreenRecord, WellRecord
from .auth import viewer_of
from .deps import db_of
from .json_api import (
    ChildCount,
    Filter,
    ListOptions,
    OmeroApiRoute,
    Options,
    _get,
    _int_or_none,
    _object_id,
    _page,
    _url,
)
from .json_marshal import OME_SCHEMA_URL, encode_image

router = APIRouter(prefix="/api", tags=["json api: screens, plates, wells"], route_class=OmeroApiRoute)


# -- omero-marshal encoders ---------------------------------------------------------------------

def _put(target: dict, key: str, value) -> None:
    if value is not None:
        target[key] = value


def encode_screen(screen: ScreenRecord) -> dict:
    """omero-marshal Screen201606Encoder (Plates not loaded)."""
    out = {"@id": screen.id, "@type": f"{OME_SCHEMA_URL}#Screen"}
    _put(out, "Name", screen.name)
    _put(out, "Description", screen.description)
    return out


def encode_plate(plate: PlateRecord) -> dict:
    """omero-marshal Plate201606Encoder (Wells not loaded)."""
    out = {"@id": plate.id, "@type": f"{OME_SCHEMA_URL}#Plate"}
    _put(out, "Name", plate.name)
    _put(out, "Description", plate.description)
    out["ColumnNamingConvention"] = plate.column_naming
    out["RowNamingConvention"] = plate.row_naming
    out["Columns"] = len(plate.column_names)
    out["Rows"] = len(plate.row_names)
    return out


def encode_well(well: WellRecord, images: dict[int, dict]) -> dict:
    """omero-marshal Well201606Encoder with its WellSamples (and their Images, where given)."""
    out = {"@id": well.id, "@type": f"{OME_SCHEMA_URL}#Well", "Column": well.column, "Row": well.row}
    if well.samples:
        samples = []
        for sample in well.samples:
            entry = {"@id": sample.id, "@type": f"{OME_SCHEMA_URL}#WellSample"}
            if sample.image_id in images:
                entry["Image"] = images[sample.image_id]
            samples.append(entry)
        out["WellSamples"] = samples
    return out


# -- links (omero-web's `urls` of each view) ------------------------------------------------------

def _screen_json(request: Request, screen: ScreenRecord, *, in_list: bool, child_count: bool) -> dict:
    out = encode_screen(screen)
    if child_count:
        out["omero:childCount"] = screen.plate_count
    out["url:plates"] = _url(request, f"m/screens/{screen.id}/plates/")
    if in_list:
        out["url:screen"] = _url(request, f"m/screens/{screen.id}/")
    return out


def _plate_json(request: Request, plate: PlateRecord, *, in_list: bool) -> dict:
    out = encode_plate(plate)
    out["url:screens"] = _url(request, f"m/plates/{plate.id}/screens/")
    out["url:wells"] = _url(request, f"m/plates/{plate.id}/wells/")
    if in_list:
        out["url:plate"] = _url(request, f"m/plates/{plate.id}/")
    else:  # PlateView.add_data
        out["omero:wellsampleIndex"] = list(plate.field_range)
        low_high = range(plate.field_range[0], plate.field_range[1] + 1) if plate.field_range else ()
        out["url:wellsampleindex_wells"] = [_url(request, f"m/plates/{plate.id}/wellsampleindex/{i}/wells/")
                                            for i in low_high]
    return out


def _wells_json(request: Request, wells: list[WellRecord], *, in_list: bool) -> list[dict]:
    """WellsView loads Images without Pixels; WellView (one well) with Pixels."""
    ids = sorted({s.image_id for w in wells for s in w.samples})
    records, _ = catalogue.list_images(db_of(request), ids=ids, viewer=viewer_of(request)) if ids else ([], 0)
    images = {}
    for record in records:
        image = encode_image(record, channels=False)
        if in_list:
            image.pop("Pixels", None)
        image["url:image"] = _url(request, f"m/images/{record.id}/")
        images[record.id] = image
    out = []
    for well in wells:
        entry = encode_well(well, images)
        if in_list:
            entry["url:well"] = _url(request, f"m/wells/{well.id}/")
        entry["url:plates"] = _url(request, f"m/wells/{well.id}/plates/")
        out.append(entry)
    return out


# -- screens --------------------------------------------------------------------------------------

def _screens(request: Request, opts: ListOptions, plate_id: int | None) -> dict:
    records, total = hcs.list_screens(db_of(request), plate_id=plate_id, offset=opts.offset, limit=opts.limit, order="name",
                                      viewer=viewer_of(request))
    return _page(opts, [_screen_json(request, s, in_list=True, child_count=opts.child_count) for s in records], total)


@router.get("/v0/m/screens/", summary="List screens")
def list_screens(request: Request, opts: Options, plate: Filter = None):
    return _screens(request, opts, _int_or_none(plate, "plate"))


@router.get("/v0/m/screens/{screen_id}/", summary="One screen")
def get_screen(request: Request, screen_id: str, childCount: ChildCount = None):  # noqa: N803
    screen = _get("Screen", _object_id(screen_id, "Screen"),
                  lambda i: hcs.get_screen(db_of(request), i, viewer=viewer_of(request)))
    return {"data": _screen_json(request, screen, in_list=False, child_count=childCount == "true")}


@router.get("/v0/m/plates/{plate_id}/screens/", summary="Screens that contain a plate")
def plate_screens(request: Request, plate_id: str, opts: Options):
    return _screens(request, opts, _object_id(plate_id, "Plate"))


# -- plates ---------------------------------------------------------------------------------------

def _plates(request: Request, opts: ListOptions, screen_id: int | None, well_id: int | None) -> dict:
    records, total = hcs.list_plates(db_of(request), screen_id=screen_id, well_id=well_id, orphaned=opts.orphaned,
                                     offset=opts.offset, limit=opts.limit, order="name", viewer=viewer_of(request))
    return _page(opts, [_plate_json(request, p, in_list=True) for p in records], total)


@router.get("/v0/m/plates/", summary="List plates")
def list_plates(request: Request, opts: Options, screen: Filter = None, well: Filter = None):
    return _plates(request, opts, _int_or_none(screen, "screen"), _int_or_none(well, "well"))


@router.get("/v0/m/screens/{screen_id}/plates/", summary="Plates in a screen")
def screen_plates(request: Request, screen_id: str, opts: Options, well: Filter = None):
    return _plates(request, opts, _object_id(screen_id, "Screen"), _int_or_none(well, "well"))


@router.get("/v0/m/wells/{well_id}/plates/", summary="Plates that contain a well")
def well_plates(request: Request, well_id: str, opts: Options):
    return _plates(request, opts, None, _object_id(well_id, "Well"))


@router.get("/v0/m/plates/{plate_id}/", summary="One plate")
def get_plate(request: Request, plate_id: str):
    plate = _get("Plate", _object_id(plate_id, "Plate"), lambda i: hcs.get_plate(db_of(request), i, viewer=viewer_of(request)))
    return {"data": _plate_json(request, plate, in_list=False)}


# -- wells ----------------------------------------------------------------------------------------

def _wells(request: Request, opts: ListOptions, plate_id: int | None, field_index: int | None) -> dict:
    records, total = hcs.list_wells(db_of(request), plate_id=plate_id, field_index=field_index, offset=opts.offset,
                                    limit=opts.limit, viewer=viewer_of(request))
    return _page(opts, _wells_json(request, records, in_list=True), total)


@router.get("/v0/m/wells/", summary="List wells (with their fields' images)")
def list_wells(request: Request, opts: Options, plate: Filter = None):
    return _wells(request, opts, _int_or_none(plate, "plate"), None)


@router.get("/v0/m/plates/{plate_id}/wells/", summary="Wells in a plate (column, then row)")
def plate_wells(request: Request, plate_id: str, opts: Options):
    return _wells(request, opts, _object_id(plate_id, "Plate"), None)


@router.get("/v0/m/plates/{plate_id}/wellsampleindex/{index}/wells/", summary="Wells with one field index")
def plate_field_wells(request: Request, plate_id: str, index: str, opts: Options):
    return _wells(request, opts, _object_id(plate_id, "Plate"), _object_id(index, "WellSample index"))


@router.get("/v0/m/wells/{well_id}/", summary="One well (its fields' images with Pixels)")
def get_well(request: Request, well_id: str):
    well = _get("Well", _object_id(well_id, "Well"), lambda i: hcs.get_well(db_of(request), i, viewer=viewer_of(request)))
    return {"data": _wells_json(request, [well], in_list=False)[0]}

