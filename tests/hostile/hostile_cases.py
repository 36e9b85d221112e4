"""Seeds and mutations for the hostile-input tests: real files written by tifffile and
ome-zarr-py, and the means to damage them (bit flips, truncation, tag rewrites, JSON edits).

`attempt(services, path, kind)` runs one case the way an admin would: the format reader directly
(only FormatError / StorageError may come out), then `import_urls` (the result is
"imported" or "failed", and a failure registers nothing) — each under a deadline, with
the growth of the process's peak resident memory bounded. The peak is measured exactly
by resetting the kernel's high-water mark (/proc/self/clear_refs, Linux >= 4.0) before
each case and reading VmHWM after it; tracemalloc is not used because it crashes the
interpreter together with the native threads of the object-store client.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import struct
import sys
from pathlib import Path

import numpy as np

from stratascope import catalogue
from stratascope.formats.model import FormatError
from stratascope.storage import StorageError

CASE_DEADLINE_S = 20.0  # one case; real ones take milliseconds
PEAK_LIMIT_BYTES = 200 * 2**20

# -- seeds -------------------------------------------------------------------------------


def write_seeds(folder: Path) -> dict[str, Path]:
    """Small real files in every layout we read: OME-TIFF pyramid, plain TIFF (strips and
    tiles), OME-Zarr v0.4 (Zarr v2) and v0.5 (Zarr v3, sharded)."""
    import tifffile
    import zarr
    from ome_zarr.format import FormatV05
    from ome_zarr.writer import write_image

    from support.samples import smooth_array, write_ome_zarr_v04, write_tiff_pyramid

    folder.mkdir(parents=True, exist_ok=True)
    seeds = {}
    seeds["ome_pyramid.ome.tif"] = folder / "ome_pyramid.ome.tif"
    write_tiff_pyramid(seeds["ome_pyramid.ome.tif"], smooth_array((2, 64, 96), seed=1), levels=2, tile=(32, 32))
    seeds["strips.tif"] = folder / "strips.tif"
    tifffile.imwrite(seeds["strips.tif"], smooth_array((40, 50), dtype=np.uint8, seed=2), rowsperstrip=8)
    seeds["tiles_be.tif"] = folder / "tiles_be.tif"
    tifffile.imwrite(seeds["tiles_be.tif"], smooth_array((3, 48, 48), seed=3), tile=(16, 16),
                     byteorder=">", compression="zlib", photometric="minisblack", planarconfig="separate")
    seeds["v04.zarr"] = folder / "v04.zarr"
    write_ome_zarr_v04(seeds["v04.zarr"], smooth_array((2, 1, 64, 80), seed=4), chunks=(1, 1, 32, 32))
    seeds["v05.zarr"] = folder / "v05.zarr"
    group = zarr.open_group(str(seeds["v05.zarr"]), mode="w", zarr_format=3)
    write_image(smooth_array((2, 64, 50), seed=5), group, axes="cyx", fmt=FormatV05(), scale_factors=[2],
                storage_options={"chunks": (1, 16, 16), "shards": (1, 32, 32)})
    return seeds


def metadata_documents(zarr_root: Path) -> list[Path]:
    names = {".zattrs", ".zgroup", ".zarray", "zarr.json"}
    return sorted(p for p in zarr_root.rglob("*") if p.name in names)


# -- TIFF structure ----------------------------------------------------------------------


def tiff_structure(path: Path) -> tuple[list[tuple[int, int]], list[tuple[int, int, int]]]:
    """(byte intervals holding structure, [(entry offset, entry size, value field offset)]).

    Pixel data is left out on purpose: flipping bits there changes pixels, not structure.
    """
    import tifffile

    intervals = [(0, 16)]
    entries = []
    with tifffile.TiffFile(path) as tif:
        entry_size = 20 if tif.is_bigtiff else 12
        pages = list(tif.pages)
        for page in list(pages):
            for sub in page.pages if getattr(page, "pages", None) else []:
                pages.append(sub)
        for page in pages:
            if not hasattr(page, "tags"):
                continue
            intervals.append((page.offset, page.offset + 2 + len(page.tags) * entry_size + 8))
            for tag in page.tags:
                entries.append((tag.offset, entry_size, tag.offset + (4 if entry_size == 12 else 12)))
                if tag.valueoffset != tag.offset + (4 if entry_size == 12 else 12) + 4 and tag.code not in (273, 324):
                    intervals.append((tag.valueoffset, tag.valueoffset + min(tag.valuebytecount, 4096)))
    return intervals, entries


def flip_bits(data: bytes, positions: list[tuple[int, int]]) -> bytes:
    buf = bytearray(data)
    for pos, bit in positions:
        buf[pos % len(buf)] ^= 1 << bit
    return bytes(buf)


def set_field(data: bytes, offset: int, value: int, size: int, byteorder: str) -> bytes:
    fmt = {2: "H", 4: "I", 8: "Q"}[size]
    buf = bytearray(data)
    if offset + size <= len(buf):
        buf[offset:offset + size] = struct.pack(byteorder + fmt, value % (1 << (8 * size)))
    return bytes(buf)


def build_tiff(entries: list[tuple[int, int, int, int]], payload: bytes, byteorder: str = "<") -> bytes:
    """A classic TIFF with one IFD of raw (tag, type, count, value) entries, then `payload`.

    Values are written as given, so counts and offsets may point anywhere: that is the point.
    """
    head = (b"II" if byteorder == "<" else b"MM") + struct.pack(byteorder + "HI", 42, 8)
    ifd = struct.pack(byteorder + "H", len(entries))
    for tag, dtype, count, value in sorted(entries):
        ifd += struct.pack(byteorder + "HHII", tag, dtype, count % 2**32, value % 2**32)
    ifd += struct.pack(byteorder + "I", 0)
    return head + ifd + payload


# -- JSON documents ----------------------------------------------------------------------


def json_paths(doc, prefix=()) -> list[tuple]:
    """Every node's path in a JSON document (the root is ())."""
    paths = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            paths += json_paths(value, prefix + (key,))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            paths += json_paths(value, prefix + (i,))
    return paths


def replaced(doc, path: tuple, value, delete: bool = False):
    if not path:
        return value
    copy = json.loads(json.dumps(doc))
    node = copy
    for step in path[:-1]:
        node = node[step]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return copy


def copy_tree(seed: Path, dest: Path) -> Path:
    shutil.copytree(seed, dest)
    return dest


# -- one case ----------------------------------------------------------------------------


def _run_with_deadline(coro, what: str):
    async def bounded():
        try:
            return await asyncio.wait_for(coro, CASE_DEADLINE_S)
        except TimeoutError:
            raise AssertionError(f"{what} did not finish within {CASE_DEADLINE_S} s (a hang)") from None

    return asyncio.run(bounded())


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(field + ":"))


def reset_peak_memory() -> int | None:
    """Reset the peak-RSS high-water mark; returns the current RSS in bytes (None: unsupported)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return _status_kib("VmRSS") * 1024
    except OSError:
        assert not sys.platform.startswith("linux"), "cannot reset the peak-RSS mark: memory would go unchecked"
        return None


def peak_growth(start_rss: int | None) -> int:
    return 0 if start_rss is None else _status_kib("VmHWM") * 1024 - start_rss


def attempt(services, path: Path, kind: str) -> str:
    """Run one hostile case; returns "imported" or "failed". Asserts every property."""
    from stratascope.formats.ome_zarr import read_ome_zarr
    from stratascope.formats.tiff import read_tiff
    from stratascope.ingest import import_urls

    read = read_tiff if kind == "tiff" else read_ome_zarr
    _, registered_before = catalogue.list_images(services.catalogue)
    start_rss = reset_peak_memory()
    try:
        _run_with_deadline(read(str(path), services.source), f"reading {path.name}")
        readable = True
    except (FormatError, StorageError) as exc:
        assert str(exc), f"{type(exc).__name__} without a message"
        readable = False
    peak = peak_growth(start_rss)
    assert peak < PEAK_LIMIT_BYTES, f"reading {path.name} grew the resident memory by {peak / 2**20:.0f} MiB"

    results = _run_with_deadline(import_urls(services, [str(path)]), f"importing {path.name}")
    _, registered_after = catalogue.list_images(services.catalogue)
    assert results, "import reported nothing"
    for result in results:
        assert result.status in ("imported", "failed"), result
        if result.status == "failed":
            assert result.error and result.id is None, result
            # an unexpected exception is reported as "TypeName: ..." by ingest/run.py
            assert not result.error.split(":", 1)[0].endswith(("Error", "Exception")) or \
                result.error.startswith(("FormatError", "UnsupportedFormat")), result.error
    if not readable or all(r.status == "failed" for r in results):
        assert registered_after == registered_before, "a failed import registered an image"
        return "failed"
    return "imported"
