"""Chunk codec for TIFF / OME-TIFF levels: tile locations from the manifest, decoding
with imagecodecs. Serving never reads an IFD: everything needed is in the level's
`layout` and `manifest` (documented in formats/tiff.py).

Decoding mirrors tifffile's `TiffPage.decode`: image codecs (JPEG, WebP, JPEG 2000, ...)
return pixels directly; the others (LZW, Deflate, Zstd, PackBits, none) return bytes in
the file's byte order, which are reshaped, un-predicted (horizontal differencing or
floating-point predictor) and converted to native byte order. Short strips and
partial edge tiles are padded to the full chunk shape.
"""

from __future__ import annotations

import base64
import logging
import math
import re
from collections.abc import Callable

import imagecodecs
import numpy as np

from ..formats.model import ChunkTooLarge, LevelSpec
from ..formats.tiff import JPEG_COMPRESSIONS, load_manifest
from ..storage import ObjectChanged
from .chunks import ByteRange, ChunkIndex, Fetch

log = logging.getLogger(__name__)
#: imagecodecs checks a given `out` against the image header before it decodes anything
_OUT_MISMATCH = re.compile(r"invalid out\.(shape|dtype)=.*, (?:shape|dtype)=(.*)$")


class TiffChunkCodec:
    """`ChunkCodec` for a TIFF level; construct once per level (parses the manifest)."""

    missing_object_is_fill = False

    def __init__(self, level: LevelSpec):
        from tifffile import TIFF

        layout = level.layout
        if layout.get("kind") != "tiff" or level.manifest is None:
            raise ValueError("not a TIFF level (layout kind must be 'tiff' with a manifest)")
        self.layout = layout
        self.url: str = layout["url"]
        self.version: str | None = layout.get("version")
        self.chunks = tuple(int(n) for n in level.chunks)
        self.dtype = np.dtype(level.dtype)
        self.manifest = load_manifest(level.manifest)
        if list(self.manifest.shape) != list(layout["manifest"]["shape"]):
            raise ValueError(f"manifest shape {self.manifest.shape} does not match the layout")
        self.compression = int(layout["compression"])
        self.height, self.width = layout["image"]
        self.tile_h, self.tile_w = layout["tile"]
        self.tiled = bool(layout["tiled"])
        self.samples = self.chunks[1]  # samples per chunk: all (contiguous) or 1 (planar)
        self.image_codec = self.compression in TIFF.IMAGE_COMPRESSIONS
        self.decompress: Callable[..., bytes] | None = (
            None if self.compression == 1 else TIFF.DECOMPRESSORS[self.compression])
        predictor = int(layout["predictor"])
        self.unpredict = None if predictor == 1 or self.image_codec else TIFF.UNPREDICTORS[predictor]
        file_dtype = np.dtype(layout["file_dtype"])
        # the floating-point predictor works on the raw bytes: tifffile reads them native
        self.file_dtype = np.dtype(file_dtype.char) if predictor in (3, 34894, 34895) else file_dtype
        self.bitorder = int(layout.get("fillorder", 1)) == 2 and not self.image_codec
        tables = layout.get("jpegtables")
        self.jpegtables = base64.b64decode(tables) if tables else None
        colorspace = layout.get("jpeg_colorspace") or [None, None]
        self.jpeg_colorspace, self.jpeg_outcolorspace = colorspace

    def _entry(self, index: ChunkIndex) -> tuple[int, int]:
        t, c, z, y, x = (int(i) for i in index)
        shape = self.manifest.shape
        if not (0 <= t < shape[0] and 0 <= c < shape[1] and 0 <= z < shape[2] and 0 <= y < shape[3]
                and 0 <= x < shape[4]):
            raise IndexError(f"chunk {tuple(index)} is outside the grid {tuple(shape[:5])}")
        offset, count = self.manifest[t, c, z, y, x]
        return int(offset), int(count)

    async def locate(self, index: ChunkIndex, fetch: Fetch) -> ByteRange | None:
        offset, count = self._entry(index)
        if count == 0:
            return None
        return ByteRange(self.url, offset, offset + count, self.version)

    def fill(self, index: ChunkIndex) -> np.ndarray:
        return np.zeros(self.chunks, dtype=self.dtype)

    def absent_at_import(self, url: str) -> bool:
        return False  # a TIFF's tiles are ranges of one object: it is never absent

    def decode(self, data: bytes, index: ChunkIndex) -> np.ndarray:
        _, count = self._entry(index)
        if len(data) != count:
            raise ObjectChanged(f"{self.url}: chunk {tuple(index)} has {len(data)} bytes, the manifest says {count}")
        y0 = int(index[3]) * self.tile_h
        x0 = int(index[4]) * self.tile_w
        # rows and columns of this segment that lie inside the image
        rows = min(self.tile_h, self.height - y0)
        cols = self.tile_w if not self.tiled else min(self.tile_w, self.width - x0)
        if self.compression in JPEG_COMPRESSIONS:
            def decode(out):
                return imagecodecs.jpeg_decode(
                    data, bitspersample=self.layout["bitspersample"], tables=self.jpegtables,
                    colorspace=self.jpeg_colorspace, outcolorspace=self.jpeg_outcolorspace,
                    shape=(self.tile_h if self.tiled else rows, self.tile_w), out=out,
                )
            tile = self._reshape(self._decode_image(decode, index, rows, cols), rows, cols)
        elif self.image_codec and self.decompress is not None:
            decompress = self.decompress
            tile = self._reshape(self._decode_image(lambda out: decompress(data, out=out), index, rows, cols),
                                 rows, cols)
        else:
            tile = self._decode_bytes(data, rows)
        return self._to_chunk(tile.astype(self.dtype, copy=False))

    def _decode_image(self, decode, index: ChunkIndex, rows: int, cols: int) -> np.ndarray:
        """Decode an image-codec segment into an array of a shape the segment may have (full
        tile, or cropped at the bottom / right edge). The codec compares its header with that
        `out` before decoding, so a segment declaring more pixels (a decompression bomb) costs
        nothing but its header."""
        shapes = dict.fromkeys([(self.tile_h, self.tile_w), (rows, cols), (rows, self.tile_w)])
        declared = "?"
        for h, w in shapes:
            out = np.empty((h, w, self.samples) if self.samples > 1 else (h, w), dtype=self.dtype)
            try:
                return np.asarray(decode(out))
            except ValueError as exc:
                mismatch = _OUT_MISMATCH.search(str(exc))
                if mismatch is None:
                    raise
                if mismatch.group(1) == "dtype":
                    raise ObjectChanged(f"{self.url}: segment {tuple(index)} decodes to {mismatch.group(2)}, "
                                         f"expected {self.dtype}") from None
                declared = mismatch.group(2)
        numbers = [int(n) for n in re.findall(r"\d+", declared)]
        expected = (self.tile_h, self.tile_w, self.samples)
        if not numbers or math.prod(numbers) > math.prod(expected):
            bomb = ChunkTooLarge(f"{self.url}: segment {tuple(index)} declares {declared} pixels, more than "
                                 f"its tile {expected}; refused before decoding")
            log.warning("%s", bomb)
            raise bomb
        raise ObjectChanged(f"{self.url}: segment decodes to shape {declared}, expected {expected}")

    def _decode_bytes(self, data: bytes, rows: int) -> np.ndarray:
        full_rows = self.tile_h if self.tiled else rows
        size = full_rows * self.tile_w * self.samples
        if self.bitorder:
            data = bytes(imagecodecs.bitorder_decode(data))
        if self.decompress is not None:
            data = self.decompress(data, out=size * self.file_dtype.itemsize)
        itemsize = self.file_dtype.itemsize
        usable = (len(data) // itemsize) * itemsize  # e.g. LZW strips without EOI
        array = np.frombuffer(memoryview(data)[:usable], dtype=self.file_dtype)
        if array.size > size:  # codecs may return a little more
            array = array[:size]
        if array.size != size:
            # a strip may hold fewer rows than RowsPerStrip only at the bottom edge
            if array.size % (self.tile_w * self.samples) or array.size < rows * self.tile_w * self.samples:
                raise ObjectChanged(f"{self.url}: segment decodes to {array.size} samples, expected {size}")
            array = array[: rows * self.tile_w * self.samples]
        tile = array.reshape(-1, self.tile_w, self.samples)
        tile = tile.astype("=" + self.file_dtype.char, copy=False)
        if self.unpredict is not None:
            tile = self.unpredict(np.array(tile), axis=-2)
        return tile

    def _reshape(self, pixels: np.ndarray, rows: int, cols: int) -> np.ndarray:
        """Image codecs return (h, w[, s]); edge tiles may be full size or cropped."""
        if pixels.ndim == 2:
            pixels = pixels[..., None]
        for shape in ((self.tile_h, self.tile_w), (rows, cols), (rows, self.tile_w)):
            if pixels.size == shape[0] * shape[1] * self.samples:
                return pixels.reshape(shape[0], shape[1], self.samples)
        raise ObjectChanged(f"{self.url}: segment decodes to shape {pixels.shape}, "
                             f"expected {(self.tile_h, self.tile_w, self.samples)}")

    def _to_chunk(self, tile: np.ndarray) -> np.ndarray:
        """(h, w, s) possibly short -> (1, s, 1, tile_h, tile_w), zero padded."""
        chunk = np.zeros(self.chunks, dtype=self.dtype)
        h, w = min(tile.shape[0], self.tile_h), min(tile.shape[1], self.tile_w)
        chunk[0, :, 0, :h, :w] = np.moveaxis(tile[:h, :w], -1, 0)
        return chunk
