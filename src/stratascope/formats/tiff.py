"""TIFF / BigTIFF / OME-TIFF import: metadata and a tile manifest, never pixels.

`read_tiff(url)` walks the IFDs once with tifffile over ranged reads (`RangedFile`)
and returns one `ImageSpec` per OME Image (or per plain TIFF series). Pyramids stored
as SubIFDs (OME-TIFF) or as reduced-resolution IFD series become levels.

Per level, serving needs nothing from the file but the tile bytes:

`LevelSpec.manifest` — the byte locations of every segment (tile, or strip): an int64
array of shape (T, Cg, Z, tiles_y, tiles_x, 2) holding (offset, bytecount), written
with `np.save` and compressed with zlib (`dump_manifest` / `load_manifest`). Cg is the
number of chunks along c: the number of channel planes when samples are contiguous
(a chunk then holds all samples, e.g. RGB), or planes x samples when samples are
stored separately (PlanarConfiguration 2). Bytecount 0 means "absent: fill".

`LevelSpec.layout` — JSON-able:

    {"kind": "tiff", "url": str, "version": str|None, "etag": str|None,
     "compression": int (TIFF Compression tag), "predictor": int, "fillorder": int,
     "jpegtables": base64 str|None, "jpeg_colorspace": [in, out]|None (imagecodecs args),
     "photometric": int, "samples": int (SamplesPerPixel), "planar": 1|2,
     "tiled": bool, "tile": [h, w] (strips: [rows per strip, image width]),
     "image": [height, width], "dtype": decoded numpy dtype str ("<u2"),
     "file_dtype": dtype in file byte order (">u2"), "bitspersample": int,
     "manifest": {"shape": [T, Cg, Z, ty, tx, 2], "encoding": "npy+zlib"}}

Chunks are (1, samples or 1, 1, tile_h, tile_w) in (t, c, z, y, x); see
pixels/tiff_tiles.py for the decoder.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import math
import re
import zlib
from datetime import datetime
from typing import BinaryIO, cast

import numpy as np

from ..storage import SourceReader, StorageError
from .model import (
    ChannelSpec,
    FormatError,
    ImageSpec,
    LevelSpec,
    PlateSpec,
    SourceObject,
    UnsupportedFormat,
    check_sizes,
)
from .naming import image_name
from .ome_tiff_plate import has_plate, tiff_plate
from .ome_xml import RGB_COLORS, RGB_NAMES, OmeImage, expand_channels, parse_ome_xml
from .ranged_file import RangedFile

log = logging.getLogger(__name__)

PARSE_TIMEOUT = 180.0
TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
JPEG_COMPRESSIONS = {6, 7, 33007, 34892}
AXIS_TARGET = {"T": "t", "C": "c", "Z": "z"}
UNSUPPORTED_COMPRESSIONS = {2, 3, 4, 65000, 65001, 65002}  # bilevel CCITT, EER
MAX_MANIFEST_ENTRIES = 2**25  # int64 entries: 256 MiB; far above any real TIFF
STRIP_CHUNK_BYTES = 2**20  # uncompressed contiguous planes are served in chunks of about this size
MICROMETERS_PER_UNIT = {2: 25400.0, 3: 10000.0, 4: 1000.0, 5: 1.0}  # ResolutionUnit -> µm


def dump_manifest(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array, dtype="<i8"), allow_pickle=False)
    return zlib.compress(buffer.getvalue(), 6)


def load_manifest(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(zlib.decompress(data)), allow_pickle=False)


async def read_tiff(url: str, reader: SourceReader) -> list[ImageSpec] | PlateSpec:
    """Import a TIFF / OME-TIFF object: one ImageSpec per image, with tile manifests, or the
    plate (ome_tiff_plate.py) when its OME-XML describes one."""
    info = await reader.head(url)
    source = SourceObject(url=url, size=info.size, etag=info.etag, version=info.version,
                          last_modified=info.last_modified, storage_class=info.storage_class)
    if info.size < 8:
        raise FormatError(f"{url}: not a TIFF file (only {info.size} bytes)")
    name = url.rstrip("/").rsplit("/", 1)[-1]
    fileobj = RangedFile(reader, url, info.size, asyncio.get_running_loop(), version=info.version, name=name)
    try:
        omexml, parsed = await asyncio.wait_for(asyncio.to_thread(_parse, fileobj, source), PARSE_TIMEOUT)
    except TimeoutError:
        fileobj.cancel()
        raise FormatError(f"{url}: reading the TIFF structure took longer than {PARSE_TIMEOUT:.0f} s") from None
    log.debug("%s: parsed with %d ranged reads (%d bytes)", url, fileobj.requests, fileobj.transferred)
    # ome-types is slow to import (~10 s, once) and to parse: keep it off the event loop
    ome_images = await asyncio.to_thread(parse_ome_xml, omexml) if omexml else []
    ome_index: list[int | None] = []
    specs = _image_specs(parsed, ome_images, source, name, ome_index)
    if has_plate(omexml):
        plate = await asyncio.to_thread(tiff_plate, omexml, specs, ome_index, source, url)
        if plate is not None:
            return plate
    return specs


# ----------------------------------------------------------------------------- thread side


def _parse(fileobj: RangedFile, source: SourceObject):
    """Runs in a worker thread: tifffile walks the IFDs; returns plain data."""
    import tifffile

    url = source.url
    try:
        magic = fileobj.read(4)
        if magic not in TIFF_MAGIC:
            raise FormatError(f"{url}: not a TIFF file (starts with {magic!r})")
        fileobj.seek(0)
        # _multifile=False: never open sibling files named in OME-XML
        # RangedFile has the read/seek/tell/size subset of a binary file that tifffile uses
        with tifffile.TiffFile(cast(BinaryIO, fileobj), name=fileobj.name, _multifile=False) as tif:
            omexml = tif.ome_metadata if tif.is_ome else None
            if omexml:
                _refuse_multifile(omexml, url)
            series_list = tif.series
            if not series_list:
                raise FormatError(f"{url}: the TIFF contains no readable images (corrupt header or first IFD)")
            parsed: list[dict] = []  # one series each, before they become ImageSpecs
            for index, series in enumerate(series_list):
                base = parsed[-1]["levels"][-1] if parsed else None
                if base and series.keyframe.is_reduced and _is_lower_level(base, series):
                    # reduced-resolution images tifffile left as series of their own
                    # (e.g. SubIFDs of "shaped" files) are levels of the previous one
                    parsed[-1]["levels"].extend(_level(tif, lv, source, base["planes"]) for lv in series.levels)
                else:
                    parsed.append(_series(tif, series, index, source))
    except (FormatError, StorageError):
        raise
    except MemoryError:
        raise FormatError(f"{url}: TIFF metadata is too large to read") from None
    except Exception as exc:
        if fileobj.error is not None:  # a storage failure surfaced as a parser error
            raise fileobj.error from exc
        message = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise FormatError(f"{url}: not a readable TIFF ({message})") from exc
    if fileobj.error is not None:  # tifffile swallowed it; the parse is incomplete
        raise fileobj.error
    return omexml, parsed


def _refuse_multifile(omexml: str, url: str) -> None:
    names = set(re.findall(r'FileName="([^"]*)"', omexml))
    if len(names) > 1:
        raise UnsupportedFormat(f"{url}: multi-file OME-TIFF ({len(names)} files) is not supported yet")


def _is_lower_level(base: dict, series) -> bool:
    """Same planes (sizes of the non-YXS axes) and dtype, no larger in y and x."""
    key = series.keyframe
    leading = tuple(n for a, n in zip(series.get_axes(False), series.get_shape(False)) if a not in "YXS")
    return (_squeezed(leading) == _squeezed(base["planes"][0]) and key.dtype is not None
            and np.dtype(key.dtype).newbyteorder("=").str == base["layout"]["dtype"]
            and key.shaped[2] <= base["shape"][3] and key.shaped[3] <= base["shape"][4])


def _squeezed(shape) -> tuple[int, ...]:
    return tuple(n for n in shape if n != 1)


def _series(tif, series, index: int, source: SourceObject) -> dict:
    levels = [_level(tif, level, source) for level in series.levels]
    base = levels[0]
    for i, level in enumerate(levels[1:], 1):
        if level["shape"][:3] != base["shape"][:3]:
            raise FormatError(f"{source.url}: series {index} level {i} has planes {level['shape'][:3]}, "
                              f"level 0 has {base['shape'][:3]}")
    meta = _series_metadata(tif, series, base)
    return {"index": index, "kind": series.kind, "name": series.name, "levels": levels, **meta}


def _plane_axes(level, url: str) -> tuple[list[tuple[str, int]], dict[str, int]]:
    """Non-page axes of a series (those that index IFDs) and the position of each of
    t/c/z among them."""
    axes, shape = level.get_axes(False), level.get_shape(False)
    leading = [(a, int(n)) for a, n in zip(axes, shape) if a not in "YXS"]
    targets: dict[str, int] = {}  # "t"/"c"/"z" -> position in `leading`
    for position, (axis, size) in enumerate(leading):
        if size == 1:
            continue
        # T, C, Z keep their meaning; other axes (I, Q, ...) take the first free of z, t, c
        target = AXIS_TARGET.get(axis) or next((t for t in "ztc" if t not in targets), None)
        if target is None or target in targets:
            raise UnsupportedFormat(f"{url}: cannot map TIFF axes {axes!r} {tuple(shape)} onto t, c, z")
        targets[target] = position
    return leading, targets


def _level(tif, level, source: SourceObject, planes_like=None) -> dict:
    """One resolution level; `planes_like` reuses the plane axes mapping of level 0."""
    url = source.url
    key = level.keyframe
    meta = _codec_and_geometry(key, tif.byteorder, url)
    leading, targets = _plane_axes(level, url)
    lead_shape = tuple(n for _, n in leading) or (1,)
    if planes_like is not None:
        # same plane sizes as level 0, possibly under other axis letters: use level 0's mapping
        lead_shape, targets = planes_like
    planes = math.prod(lead_shape)
    size_of = {t: lead_shape[i] for t, i in targets.items()}
    T, Cp, Z = size_of.get("t", 1), size_of.get("c", 1), size_of.get("z", 1)
    samples, planar = meta["samples"], meta["planar"]
    H, W = meta["image"]
    th, tw = meta["tile"]
    shape = (T, Cp * samples, Z, H, W)
    chunk_c = samples if planar == 1 else 1
    chunks = (1, chunk_c, 1, th, tw)
    itemsize = np.dtype(meta["dtype"]).itemsize
    check_sizes(shape, (1, 1, 1, 1, 1), itemsize, url)  # absurd image sizes, before any allocation
    ty, tx = math.ceil(H / th), math.ceil(W / tw)
    separate = samples if planar == 2 else 1
    manifest_shape = (T, Cp * separate, Z, ty, tx, 2)
    if math.prod(manifest_shape) > MAX_MANIFEST_ENTRIES:
        raise FormatError(f"{url}: {math.prod(manifest_shape) // 2} tiles is above the limit")
    manifest = np.zeros(manifest_shape, dtype=np.int64)
    for flat, offsets, counts in _plane_segments(level, key, planes, url):
        expected = separate * ty * tx
        if len(offsets) != expected or len(counts) != expected:
            raise FormatError(f"{url}: an IFD lists {len(offsets)} tile/strip offsets, expected {expected}")
        index = np.unravel_index(flat, lead_shape)
        t, cp, z = (int(index[targets[a]]) if a in targets else 0 for a in "tcz")
        offs = np.asarray(offsets, dtype=np.int64).reshape(separate, ty, tx)
        cnts = np.asarray(counts, dtype=np.int64).reshape(separate, ty, tx)
        cslice = slice(cp * separate, (cp + 1) * separate)
        manifest[t, cslice, z, :, :, 0] = offs
        manifest[t, cslice, z, :, :, 1] = cnts
    if _rechunkable(meta):
        manifest = _rechunk_uncompressed_strips(manifest, meta)
        chunks = (1, chunk_c, 1, *meta["tile"])
        manifest_shape = manifest.shape
    check_sizes(shape, chunks, itemsize, url)
    offs, cnts = manifest[..., 0], manifest[..., 1]
    if (cnts < 0).any() or ((cnts > 0) & ((offs < 8) | (offs + cnts > source.size))).any():
        raise FormatError(f"{url}: tile data lies outside the file (truncated or corrupt TIFF)")
    meta.update(kind="tiff", url=url, version=source.version, etag=source.etag,
                manifest={"shape": list(manifest_shape), "encoding": "npy+zlib"})
    return {"shape": shape, "chunks": chunks, "layout": meta, "manifest": dump_manifest(manifest),
            "axes": _our_axes(level, targets), "planes": (lead_shape, targets)}


def _rechunkable(meta: dict) -> bool:
    return (not meta["tiled"] and meta["compression"] == 1 and meta["predictor"] == 1
            and meta["fillorder"] == 1)


def _rechunk_uncompressed_strips(manifest: np.ndarray, meta: dict) -> np.ndarray:
    """Uncompressed planes stored contiguously are addressable by row: serve them in
    chunks of about STRIP_CHUNK_BYTES whatever the writer's RowsPerStrip (one huge strip
    per plane, or thousands of one-row strips). Planes that are not contiguous keep
    their strips."""
    height, width = meta["image"]
    rows_per_strip = meta["tile"][0]
    samples = meta["samples"] if meta["planar"] == 1 else 1
    row_bytes = width * samples * np.dtype(meta["dtype"]).itemsize
    offs, cnts = manifest[..., 0, 0], manifest[..., 0, 1]  # (T, Cg, Z, strips); tx is 1 for strips
    strip_rows = np.minimum(rows_per_strip, height - np.arange(offs.shape[-1]) * rows_per_strip)
    exact = (cnts == strip_rows * row_bytes).all()
    contiguous = (offs[..., 1:] == offs[..., :-1] + cnts[..., :-1]).all()
    rows = max(1, min(height, STRIP_CHUNK_BYTES // row_bytes))
    if not (exact and contiguous) or rows == rows_per_strip:
        return manifest
    count = math.ceil(height / rows)
    starts = np.arange(count, dtype=np.int64) * rows
    rechunked = np.zeros((*offs.shape[:3], count, 1, 2), dtype=np.int64)
    rechunked[..., 0, 0] = offs[..., :1] + starts * row_bytes
    rechunked[..., 0, 1] = np.minimum(rows, height - starts) * row_bytes
    meta["tile"] = [rows, width]
    meta["manifest"] = {"shape": list(rechunked.shape), "encoding": "npy+zlib"}
    return rechunked


def _our_axes(level, targets: dict[str, int]) -> str:
    """The series' own axis order in our letters, e.g. "TCYXS" -> "tcyx", "QQYX" -> "ztyx"."""
    by_position = {position: target for target, position in targets.items()}
    out, position = "", 0
    for axis, size in zip(level.get_axes(False), level.get_shape(False)):
        if axis in "YX":
            letter = axis.lower()
        elif axis == "S":
            letter = "c" if size > 1 else ""
        else:
            letter = by_position.get(position, "")
            position += 1
        if letter and letter not in out:
            out += letter
    return out


def _codec_and_geometry(key, byteorder: str, url: str) -> dict:
    """What decoding a segment of this IFD needs; refuses what we cannot decode."""
    from tifffile import TIFF
    from tifffile.tifffile import jpeg_decode_colorspace

    if key.dtype is None or key.sampleformat == 5:
        raise UnsupportedFormat(f"{url}: unsupported samples (SampleFormat {key.sampleformat}, "
                                f"{key.bitspersample} bits)")
    _, depth, height, width, _ = key.shaped
    if depth != 1:
        raise UnsupportedFormat(f"{url}: volumetric tiles (ImageDepth {depth}) are not supported")
    compression, predictor = int(key.compression), int(key.predictor)
    image_codec = compression in TIFF.IMAGE_COMPRESSIONS
    if compression in UNSUPPORTED_COMPRESSIONS:
        raise UnsupportedFormat(f"{url}: TIFF compression {compression} is not supported")
    if compression != 1:
        try:
            TIFF.DECOMPRESSORS[compression]
        except KeyError:
            raise UnsupportedFormat(f"{url}: no decoder for TIFF compression {compression}") from None
    if predictor != 1 and not image_codec:
        try:
            TIFF.UNPREDICTORS[predictor]
        except KeyError:
            raise UnsupportedFormat(f"{url}: TIFF predictor {predictor} is not supported") from None
    dtype = np.dtype(key.dtype)
    bits = key.bitspersample
    if not image_codec and (not isinstance(bits, int) or bits != dtype.itemsize * 8):
        raise UnsupportedFormat(f"{url}: {bits}-bit packed samples are not supported")
    if key.is_subsampled and compression not in JPEG_COMPRESSIONS:
        raise UnsupportedFormat(f"{url}: chroma subsampling without JPEG is not supported")
    planar = 2 if key.planarconfig == 2 and key.samplesperpixel > 1 else 1
    if key.is_tiled:
        tile = [int(key.tilelength), int(key.tilewidth)]
    else:
        tile = [int(min(key.rowsperstrip, height)) or int(height), int(width)]
    jpeg = compression in JPEG_COMPRESSIONS
    tables = key.jpegtables if jpeg else None
    colorspace = list(jpeg_decode_colorspace(int(key.photometric), planar, key.extrasamples, key.is_jfif)) \
        if jpeg else None
    return {
        "compression": compression, "predictor": predictor, "fillorder": int(key.fillorder),
        "jpegtables": base64.b64encode(tables).decode() if tables else None,
        "jpeg_colorspace": colorspace,
        "photometric": int(key.photometric), "samples": int(key.samplesperpixel), "planar": planar,
        "tiled": bool(key.is_tiled), "tile": tile, "image": [int(height), int(width)],
        "dtype": dtype.newbyteorder("=").str, "file_dtype": byteorder + dtype.char,
        "bitspersample": int(bits) if isinstance(bits, int) else int(dtype.itemsize * 8),
    }


def _series_metadata(tif, series, base: dict) -> dict:
    """Channels, physical sizes, description and date for a plain (non-OME) series."""
    key = series.keyframe
    layout = base["layout"]
    samples, n_channels = layout["samples"], base["shape"][1]
    rgb = layout["photometric"] in (2, 6) and samples in (3, 4) or layout["jpeg_colorspace"] is not None \
        and samples >= 3
    channels = []
    for i in range(n_channels):
        s = i % samples
        if rgb and samples > 1:
            label = RGB_NAMES[s] if n_channels == samples else f"Channel {i // samples + 1} ({RGB_NAMES[s]})"
            # an RGB picture is shown as stored, not stretched to its data range
            full = (0.0, 255.0) if layout["dtype"].endswith("u1") else (None, None)
            channels.append(ChannelSpec(label=label, color=RGB_COLORS[s], window_start=full[0], window_end=full[1]))
        else:
            channels.append(ChannelSpec(label=f"Channel {i + 1}"))
    physical: dict[str, tuple[float, str]] = {}
    unit = key.tags.valueof(296, default=2)
    if 282 in key.tags and unit in MICROMETERS_PER_UNIT:
        xres, yres = key.get_resolution()
        if xres > 0 and yres > 0 and (xres, yres) != (1, 1):
            physical = {"x": (MICROMETERS_PER_UNIT[unit] / xres, "µm"), "y": (MICROMETERS_PER_UNIT[unit] / yres, "µm")}
    imagej = (tif.imagej_metadata or {}) if tif.is_imagej else {}
    if imagej:  # ImageJ: ResolutionUnit "none", the unit is in the description
        unit_name = {"micron": "µm", "um": "µm", "\\u00B5m": "µm", "µm": "µm", "nm": "nm", "mm": "mm"}.get(
            str(imagej.get("unit", "")).strip())
        xres, yres = key.get_resolution()
        if unit_name and not physical and 282 in key.tags and xres > 0 and yres > 0:
            physical = {"x": (1.0 / xres, unit_name), "y": (1.0 / yres, unit_name)}
        if imagej.get("spacing"):
            physical["z"] = (float(imagej["spacing"]), unit_name or "µm")
    description = (key.description or "").strip()
    if description.startswith(("{", "<", "ImageJ=")):  # machine metadata (tifffile JSON, XML, ImageJ)
        description = ""
    acquired = key.datetime
    return {
        "axes": base["axes"], "channels": channels, "physical_sizes": physical,
        "description": description[:4000] or None,
        "acquisition_date": acquired if isinstance(acquired, datetime) else None,
    }


def _plane_segments(level, key, planes: int, url: str):
    """(flat plane index, offsets, bytecounts) for every IFD of a series; missing IFDs are skipped."""
    pages = level._pages  # what tifffile actually loaded
    if len(pages) == 1 and planes > 1:
        # tifffile did not read every IFD because the planes are contiguous and
        # uncompressed (or the file only has the first IFD, e.g. large ImageJ stacks):
        # the plane offsets follow from the first one.
        if not key.is_contiguous or key.predictor != 1 or level.dataoffset is None:
            raise UnsupportedFormat(f"{url}: series with {planes} planes but one IFD is not supported")
        step = int(key.nbytes)
        if level.dataoffset + planes * step > key.parent.filehandle.size:
            raise FormatError(f"{url}: contiguous image data extends beyond the end of the file")
        base = np.asarray(key.dataoffsets, dtype=np.int64)
        for k in range(planes):
            yield k, base + k * step, key.databytecounts
        return
    if len(level) != planes:
        raise FormatError(f"{url}: series has {len(level)} IFDs for {planes} planes")
    for flat, page in enumerate(level):
        if page is not None:
            yield flat, page.dataoffsets, page.databytecounts


# ----------------------------------------------------------------------------- async side


def _image_specs(parsed: list[dict], ome_images: list[OmeImage], source: SourceObject, name: str,
                 ome_index: list[int | None] | None = None) -> list[ImageSpec]:
    """`ome_index`, if given, receives per spec the document position of its OME Image (or None)."""
    specs = []
    ome_cursor = 0
    for series in parsed:
        levels = [LevelSpec(shape=lv["shape"], chunks=lv["chunks"], dtype=lv["layout"]["dtype"],
                           layout=lv["layout"], manifest=lv["manifest"]) for lv in series["levels"]]
        T, C, Z, H, W = levels[0].shape
        ome = None
        if series["kind"] == "ome":
            ome, ome_cursor = _match_ome(ome_images, ome_cursor, series["name"], H, W)
        if ome_index is not None:
            ome_index.append(ome_cursor - 1 if ome is not None else None)
        channels = series["channels"]
        if ome is not None:
            samples = series["levels"][0]["layout"]["samples"]
            channels = expand_channels(ome.channels, C // samples, samples) or channels
        specs.append(ImageSpec(
            name=image_name([ome.name if ome else None, series["name"]], name, series=series["index"],
                            several=len(parsed) > 1),
            format="ome-tiff" if series["kind"] == "ome" else "tiff",
            url=source.url,
            axes=series["axes"],
            levels=levels,
            channels=channels,
            sources=[source],
            physical_sizes=ome.physical_sizes if ome and ome.physical_sizes else series["physical_sizes"],
            description=ome.description if ome else series["description"],
            acquisition_date=ome.acquisition_date if ome else series["acquisition_date"],
            series=series["index"],
        ))
    return specs


def _match_ome(images: list[OmeImage], cursor: int, name: str, height: int, width: int):
    """tifffile keeps OME Images in document order but skips those without data."""
    for j in range(cursor, len(images)):
        image = images[j]
        if image.sizes["y"] == height and image.sizes["x"] == width and (not name or image.name == name):
            return image, j + 1
    return None, cursor

