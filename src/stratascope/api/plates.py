"""omero-web's plate grid: `/webgateway/plate/{id}/[{field}/[{acquisition}/]]` (webgateway
`plateGrid_json` and `plategrid.PlateGrid`), the JSON the OMERO.web plate view draws.

{"grid": [[cell | null per column] per row], "collabels": [...], "rowlabels": [...],
 "image_sizes": [{"x", "y", "image_id"}]}, where a cell is {"type": "Image", "id", "name",
"description", "author", "date" (epoch seconds), "wellId", "field", "thumb_url"}.

As omero-web: the grid spans rows/columns 0..max used (`layout=trim`), grows to a multiple of
8 x 12 (`expand`, the default of omero.web.plate_layout) or starts at the first used row and
column (`shrink`); `size=N` makes thumb_url ask for N-pixel thumbnails. Row labels are letters
(A..Z, AA..) and column labels numbers unless the plate's naming conventions say otherwise;
within the plate's own rows/columns its stored names are used.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from ..catalogue import NotFound
from ..catalogue import plates as hcs
from ..catalogue.records import PlateGridCell, PlateRecord
from ..formats.model import letter_label
from .auth import viewer_of
from .deps import db_of
from .errors import ApiError, BadParameter

router = APIRouter(prefix="/webgateway", tags=["webgateway"])
PlateId = Annotated[int, Path(ge=1, le=2**62)]
Index = Annotated[int, Path(ge=0, le=2**31 - 1)]
LAYOUTS = ("shrink", "trim", "expand")
DEFAULT_LAYOUT = "expand"  # omero-web's omero.web.plate_layout default


def _labels(count: int, names: tuple[str, ...], naming: str) -> list:
    """Number labels are ints (omero-py returns range(1, n + 1)); stored names win where they exist."""
    labels: list = []
    for i in range(count):
        name = names[i] if i < len(names) else None
        if naming == "number":
            labels.append(int(name) if name is not None and name.isdigit() else (name or i + 1))
        else:
            labels.append(name if name is not None else letter_label(i))
    return labels


def grid_json(plate: PlateRecord, cells: list[PlateGridCell], field: int, layout: str, thumb_size: int | None,
              all_wells: tuple[int, int, int, int] | None) -> dict:
    """`all_wells` = (min row, min column, max row, max column) over every well of the plate."""
    if all_wells is None:
        rows = columns = min_row = min_col = 0
    else:
        min_row, min_col, max_row, max_col = all_wells
        rows, columns = max_row + 1, max_col + 1
    if layout == "expand" and rows and columns:  # omero-py setGridSizeConstraints(8, 12)
        scale = 1
        while rows > 8 * scale or columns > 12 * scale:
            scale *= 2
        rows, columns = 8 * scale, 12 * scale
    if layout != "shrink":
        min_row = min_col = 0
    row_labels = _labels(rows, plate.row_names, plate.row_naming)[min_row:]
    col_labels = _labels(columns, plate.column_names, plate.column_naming)[min_col:]
    grid: list[list[dict | None]] = [[None] * len(col_labels) for _ in row_labels]
    for cell in cells:
        thumb = f"/webgateway/render_thumbnail/{cell.image_id}/" + (f"{thumb_size}/" if thumb_size else "")
        grid[cell.row - min_row][cell.column - min_col] = {
            "type": "Image", "id": cell.image_id, "name": cell.image_name, "description": cell.description or "",
            "author": "",  # images have no owner here
            "date": int(cell.date.timestamp()), "wellId": cell.well_id, "field": field, "thumb_url": thumb,
        }
    sizes = [{"x": cells[0].size[0], "y": cells[0].size[1], "image_id": cells[0].image_id}] if cells else []
    return {"grid": grid, "collabels": col_labels, "rowlabels": row_labels, "image_sizes": sizes}


@router.get("/plate/{plate_id}/", summary="Plate grid of field 0 (omero-web plateGrid_json)")
@router.get("/plate/{plate_id}/{field}/", summary="Plate grid of one field")
@router.get("/plate/{plate_id}/{field}/{acquisition}/", summary="Plate grid of one field of one acquisition")
def plate_grid(request: Request, plate_id: PlateId, field: Index | None = None, acquisition: Index | None = None,
               layout: Annotated[str | None, Query(description="expand (default), trim or shrink")] = None,
               size: Annotated[str | None, Query(description="Thumbnail size in thumb_url")] = None):
    field = field or 0
    if layout not in LAYOUTS:  # omero-web: anything else means the configured default
        layout = DEFAULT_LAYOUT
    thumb_size = None
    if size is not None:
        try:
            thumb_size = int(size)
        except ValueError:
            raise BadParameter(f"size must be an integer, got {size!r:.40}") from None
        if not 1 <= thumb_size <= 1024:
            raise BadParameter("size must be 1..1024")
    try:
        plate, cells = hcs.plate_grid(db_of(request), plate_id, field, acquisition=acquisition, viewer=viewer_of(request))
    except NotFound:
        raise ApiError(404, f"plate {plate_id} not found") from None
    return JSONResponse(grid_json(plate, cells, field, layout, thumb_size, hcs.well_bounds(db_of(request), plate_id)))
