"""What import produces: format-neutral image descriptions with a chunk layout.

Every image is described in the logical 5-D order (t, c, z, y, x). A level's
`layout` is a JSON-able dict that tells `pixels` where each chunk's bytes are and how
to decode them; `manifest` is an optional compact per-chunk table (TIFF tile offsets
and byte counts). OME-Zarr needs no manifest: chunk keys follow from the layout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

AXES = "tczyx"


class FormatError(Exception):
    """The object is not a readable image (corrupt, unsupported, or absurd metadata)."""


class UnsupportedFormat(FormatError):
    """The object is recognisably an image we do not support yet (e.g. an HCS plate)."""


class ChunkTooLarge(FormatError):
    """A chunk's bytes decode (or declare that they decode) to more than the chunk holds.

    Raised before the decoder allocates the output: a decompression bomb costs at most the
    expected chunk size. A FormatError, so the api answers 422 like any corrupt chunk."""


@dataclass(frozen=True)
class SourceObject:
    url: str
    size: int
    etag: str | None = None
    version: str | None = None
    last_modified: datetime | None = None
    storage_class: str | None = None


@dataclass
class ChannelSpec:
    label: str
    color: str | None = None  # "RRGGBB"
    window_start: float | None = None
    window_end: float | None = None
    window_min: float | None = None  # data range, if known
    window_max: float | None = None
    emission_wave: float | None = None
    active: bool = True
    inverted: bool = False
    family: str = "linear"
    coefficient: float = 1.0


@dataclass
class LevelSpec:
    shape: tuple[int, int, int, int, int]  # (t, c, z, y, x)
    chunks: tuple[int, int, int, int, int]  # chunk shape in the same order
    dtype: str  # numpy dtype string, e.g. "<u2", "|u1", "<f4"
    layout: dict  # format-specific, see pixels/zarr_chunks.py and pixels/tiff_tiles.py
    manifest: bytes | None = None


@dataclass
class ImageSpec:
    name: str
    format: str  # "ome-zarr-0.4", "ome-zarr-0.5", "ome-tiff", "tiff"
    url: str  # the image's root URL (Zarr group / TIFF object)
    axes: str  # original axis order, e.g. "czyx"
    levels: list[LevelSpec]
    channels: list[ChannelSpec]
    sources: list[SourceObject]
    physical_sizes: dict[str, tuple[float, str]] = field(default_factory=dict)  # axis -> (value, unit)
    description: str | None = None
    acquisition_date: datetime | None = None
    series: int = 0  # index of this image inside its source (OME-TIFF Image, multiscales entry)

    @property
    def shape(self) -> tuple[int, int, int, int, int]:
        return self.levels[0].shape

    @property
    def dtype(self) -> str:
        return self.levels[0].dtype


#: Refuse metadata that claims more than this many pixels per plane or in total.
MAX_PLANE_PIXELS = 2**36  # 65536 x 1048576
MAX_TOTAL_PIXELS = 2**46
MAX_CHUNK_BYTES = 512 * 2**20


def check_sizes(shape, chunks, itemsize: int, what: str) -> None:
    """Reject absurd sizes before anything is allocated."""
    import math

    if len(shape) != 5 or len(chunks) != 5:
        raise FormatError(f"{what}: expected 5 dimensions, got shape {shape}")
    if any(int(s) < 1 for s in shape) or any(int(c) < 1 for c in chunks):
        raise FormatError(f"{what}: every dimension must be at least 1, got shape {tuple(shape)} chunks {tuple(chunks)}")
    if shape[3] * shape[4] > MAX_PLANE_PIXELS:
        raise FormatError(f"{what}: metadata claims a plane of {shape[4]}x{shape[3]} pixels, "
                          f"above the limit of {MAX_PLANE_PIXELS:.3g} pixels per plane")
    if math.prod(shape) > MAX_TOTAL_PIXELS:
        raise FormatError(f"{what}: metadata claims {math.prod(shape):.3g} pixels, above the limit of {MAX_TOTAL_PIXELS:.3g}")
    if math.prod(chunks) * itemsize > MAX_CHUNK_BYTES:
        raise FormatError(f"{what}: chunk of {math.prod(chunks) * itemsize} bytes is above the limit of {MAX_CHUNK_BYTES}")


@dataclass(frozen=True)
class ImageLimits:
    """What reading one image's metadata may cost ([import] settings; defaults as documented)."""

    max_metadata_bytes: int = 16 * 2**20
    max_levels: int = 64


def check_import_limits(spec: ImageSpec, *, max_channels: int, max_levels: int, max_chunks_per_level: int) -> None:
    """Refuse an image whose metadata is legal but absurd for a server ([import] settings):
    200 000 channels, hundreds of levels, or a chunk grid of millions of tiny chunks would
    cost minutes and gigabytes at registration and in every overview afterwards."""
    import math

    what = spec.url
    channels = spec.levels[0].shape[1] if spec.levels else 0
    if channels > max_channels:
        raise FormatError(f"{what}: {channels} channels, above the limit of {max_channels} "
                          "([import] max_channels)")
    if len(spec.levels) > max_levels:
        raise FormatError(f"{what}: {len(spec.levels)} resolution levels, above the limit of {max_levels} "
                          "([import] max_levels)")
    for i, level in enumerate(spec.levels):
        grid = math.prod(math.ceil(int(s) / int(c)) for s, c in zip(level.shape, level.chunks))
        if grid > max_chunks_per_level:
            raise FormatError(f"{what}: level {i} is split into {grid} chunks of {tuple(level.chunks)}, above the "
                              f"limit of {max_chunks_per_level} chunks per level ([import] max_chunks_per_level)")


# --- HCS plates (screen -> plate -> well -> well sample (field) -> image) ---------------------

@dataclass
class WellSampleSpec:
    image: int  # index into PlateSpec.images
    acquisition: int | None = None  # PlateSpec.acquisitions[..].id this field was acquired in


@dataclass
class WellSpec:
    row: int  # 0-based index into PlateSpec.rows
    column: int  # 0-based index into PlateSpec.columns
    path: str  # e.g. "A/1" (OME-Zarr), or the OME-XML Well ID (OME-TIFF)
    samples: list[WellSampleSpec]  # fields in order: index i is field i


@dataclass
class AcquisitionSpec:
    id: int
    name: str | None = None
    description: str | None = None
    maximum_field_count: int | None = None
    start_time: int | None = None  # as stored in the source (OME-Zarr: epoch timestamp)
    end_time: int | None = None


@dataclass
class PlateSpec:
    """A plate and every field image in it; `images[i].url` is the field's own group / file."""

    name: str
    format: str  # as the images' format
    url: str  # the plate's root URL: a plate is re-imported (refreshed) by this URL
    rows: list[str]  # row names, e.g. ["A", "B"]
    columns: list[str]  # column names, e.g. ["1", "2", "3"]
    wells: list[WellSpec]
    images: list[ImageSpec]
    sources: list[SourceObject]  # the plate's (and wells') own metadata objects
    acquisitions: list[AcquisitionSpec] = field(default_factory=list)
    field_count: int = 0  # most fields in any well
    description: str | None = None
    row_naming: str = "letter"  # OMERO's RowNamingConvention / ColumnNamingConvention
    column_naming: str = "number"


def letter_label(i: int) -> str:
    """A plate row/column letter as omero-py's _letterGridLabel: 0 -> 'A', 26 -> 'AA', 100 -> 'CW'."""
    label = chr(ord("A") + i % 26)
    i //= 26
    while i > 0:
        i -= 1
        label = chr(ord("A") + i % 26) + label
        i //= 26
    return label
