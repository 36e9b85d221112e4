"""Plain records handed out of the catalogue (SQLAlchemy rows never leave it)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from ..formats.model import ChannelSpec, LevelSpec, SourceObject


@dataclass(frozen=True)
class ProjectRecord:
    id: int
    name: str
    description: str | None
    dataset_count: int = 0


@dataclass(frozen=True)
class DatasetRecord:
    id: int
    name: str
    description: str | None
    #: None when the caller may not see the project (a public dataset in a private project)
    project_id: int | None
    project_name: str | None
    image_count: int = 0


@dataclass(frozen=True)
class ImageRecord:
    id: int
    name: str
    description: str | None
    format: str
    url: str
    series: int
    axes: str
    shape: tuple[int, int, int, int, int]  # (t, c, z, y, x) at full resolution
    dtype: str
    physical_sizes: dict
    acquisition_date: datetime | None
    revision: int
    status: str
    status_message: str | None
    imported_at: datetime
    updated_at: datetime
    dataset_id: int | None = None
    dataset_name: str | None = None
    dataset_description: str | None = None
    project_id: int | None = None
    project_name: str | None = None
    project_description: str | None = None
    levels: tuple[LevelSpec, ...] = field(default=(), repr=False)
    channels: tuple[ChannelSpec, ...] = ()
    channel_ids: tuple[int, ...] = ()  # catalogue ids of `channels`, same order (JSON API @id)
    sources: tuple[SourceObject, ...] = ()
    #: (public, owning group) of the project, for `seen_by`; None outside any project
    project_access: tuple[bool, int | None] | None = field(default=None, repr=False, compare=False)

    def seen_by(self, viewer) -> ImageRecord:
        """This record as `viewer` (a Principal; None is the CLI) may see it: a project they may
        not read is not named (a public dataset in a private project). omero-web's imageMarshal
        then shows what it shows for an image without a visible parent ("Multiple", no id)."""
        if viewer is None or self.project_access is None or viewer.can_read(*self.project_access):
            return self
        return replace(self, project_id=None, project_name=None, project_description=None, project_access=None)

    @property
    def size_t(self) -> int:
        return self.shape[0]

    @property
    def size_c(self) -> int:
        return self.shape[1]

    @property
    def size_z(self) -> int:
        return self.shape[2]

    @property
    def size_y(self) -> int:
        return self.shape[3]

    @property
    def size_x(self) -> int:
        return self.shape[4]

    @property
    def cache_tag(self) -> str:
        """Changes whenever the image is re-imported with different content (ETags, cache keys)."""
        return f"{self.id}.{self.revision}"


@dataclass(frozen=True)
class ScreenRecord:
    id: int
    name: str
    description: str | None
    plate_count: int = 0


@dataclass(frozen=True)
class PlateRecord:
    id: int
    name: str
    description: str | None
    url: str
    format: str
    screen_id: int | None
    screen_name: str | None
    row_names: tuple[str, ...]
    column_names: tuple[str, ...]
    row_naming: str  # "letter" | "number" (OMERO's naming conventions)
    column_naming: str
    field_count: int
    acquisitions: tuple[dict, ...] = ()
    well_count: int = 0
    #: (min, max) field index over the plate's well samples, () when it has none
    field_range: tuple[int, ...] = ()


@dataclass(frozen=True)
class WellSampleRecord:
    id: int
    field_index: int
    image_id: int
    acquisition: int | None = None


@dataclass(frozen=True)
class WellRecord:
    id: int
    plate_id: int
    row: int
    column: int
    path: str
    samples: tuple[WellSampleRecord, ...] = ()


@dataclass(frozen=True)
class PlateGridCell:
    """One well at one field, for the plate grid (omero-web PlateGrid)."""

    row: int
    column: int
    well_id: int
    image_id: int
    image_name: str
    description: str | None
    date: datetime  # acquisition date, else import time
    size: tuple[int, int]  # (x, y) of the image


@dataclass(frozen=True)
class ImagePlacement:
    """Where an image sits in a plate (imgData meta.wellId / wellSampleId)."""

    well_sample_id: int
    well_id: int
    plate_id: int
    plate_name: str
    field_index: int
    screen_id: int | None = None
    screen_name: str | None = None
