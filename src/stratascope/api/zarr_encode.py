"""How one resolution level is served as a Zarr array: chunk grid, codecs, chunk bytes.

Every level is presented 5-D (t, c, z, y, x). Two ways to produce a chunk:

- pass-through: the source is Zarr, its native axes are already in t, c, z, y, x order
  (a missing axis is a size-1 axis, which changes no byte of a C-order chunk), there is
  no transpose, and its codecs can be stated in the served metadata (Zarr v2: one
  compressor, no filters beyond the source's own, C order). Then the served chunk is the
  source (inner) chunk and its bytes are the source bytes: one GET per unsharded chunk,
  one ranged GET per inner chunk of a shard (plus one index read per shard, cached).
- re-encode: anything else (TIFF tiles and strips, transposed or checksummed Zarr).
  Pixels come through the pixel reader and each chunk is Blosc-Zstd compressed, edge
  chunks padded with the fill value to the full chunk shape as Zarr requires.

Re-encoded chunk shapes follow the source chunks, but thin ones (TIFF strips of a few
rows) are grouped to at least `MIN_EDGE` pixels and huge ones cut to `MAX_EDGE`, so a
client neither makes thousands of tiny requests nor decodes whole-plane strips.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

import numcodecs
import numpy as np

from ..catalogue.records import ImageRecord
from ..formats.model import AXES
from ..formats.zarr_codecs import parse_fill_value
from ..pixels import PixelReader

MIN_EDGE = 64
MAX_EDGE = 2048
MAX_SERVED_CHUNK_BYTES = 64 * 2**20
BLOSC_V2 = {"id": "blosc", "cname": "zstd", "clevel": 5, "shuffle": 1, "blocksize": 0}
_BLOSC_SHUFFLE = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}


@dataclass(frozen=True)
class ServedLevel:
    """One level as a Zarr array of a given format (2 or 3)."""

    level: int
    zarr_format: int
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    dtype: np.dtype  # with the byte order of the chunk bytes
    fill_value: object  # numpy scalar
    codecs: object  # v2: {"compressor": ..., "filters": ...}; v3: the codec list
    passthrough: bool

    @property
    def grid(self) -> tuple[int, ...]:
        return tuple(math.ceil(s / c) for s, c in zip(self.shape, self.chunks))


# --- choosing the plan ------------------------------------------------------------------

def _v3_bytes_codec_as_v2(codec: dict) -> dict | None:
    """A v3 bytes->bytes codec as the equivalent numcodecs (v2) compressor, if there is one."""
    name, config = codec["name"], dict(codec.get("configuration") or {})
    if name == "blosc":
        shuffle = _BLOSC_SHUFFLE.get(config.get("shuffle", "noshuffle"))
        if shuffle is None:
            return None
        return {"id": "blosc", "cname": config.get("cname", "zstd"), "clevel": config.get("clevel", 5),
                "shuffle": shuffle, "blocksize": config.get("blocksize", 0)}
    if name == "zstd":
        return {"id": "zstd", "level": config.get("level", 0), "checksum": bool(config.get("checksum", False))}
    if name == "gzip":
        return {"id": "gzip", "level": config.get("level", 5)}
    if name.startswith("numcodecs."):
        return {"id": name[len("numcodecs."):], **config}
    return None  # crc32c (no v2 compressor appends a checksum after another compressor)


def _v2_compressor_as_v3(compressor: dict, dtype: np.dtype) -> dict | None:
    config = {k: v for k, v in compressor.items() if k != "id"}
    cid = compressor["id"]
    if cid == "blosc":
        shuffle = {v: k for k, v in _BLOSC_SHUFFLE.items()}.get(config.get("shuffle", 1))
        if shuffle is None:  # -1: AUTOSHUFFLE has no v3 spelling
            return None
        return {"name": "blosc", "configuration": {
            "cname": config.get("cname", "lz4"), "clevel": config.get("clevel", 5), "shuffle": shuffle,
            "typesize": dtype.itemsize, "blocksize": config.get("blocksize", 0)}}
    if cid == "zstd":
        return {"name": "zstd", "configuration": {"level": config.get("level", 0),
                                                  "checksum": bool(config.get("checksum", False))}}
    if cid == "gzip":
        return {"name": "gzip", "configuration": {"level": config.get("level", 5)}}
    return {"name": f"numcodecs.{cid}", "configuration": config}


def _source_dtype(layout: dict, level_dtype: str) -> np.dtype:
    """The dtype, with byte order, of the source chunk bytes."""
    if layout["zarr_format"] == 2:
        return np.dtype(layout["dtype"])
    _, serializer, _ = _split(layout["codecs"])
    endian = (serializer.get("configuration") or {}).get("endian", "little")
    return np.dtype(level_dtype).newbyteorder("<" if endian == "little" else ">")


def _split(codecs: list) -> tuple[list, dict, list]:
    i = next(i for i, c in enumerate(codecs) if c["name"] == "bytes")
    return codecs[:i], codecs[i], codecs[i + 1:]


def _passthrough_codecs(layout: dict, dtype: np.dtype, zarr_format: int):
    """The served codecs that let source chunks pass through unchanged, or None if none do.

    v2: {"compressor": ..., "filters": ...}; v3: the codec list of one chunk."""
    if layout.get("kind") != "zarr":
        return None
    axes = layout["native_axes"]
    if axes != "".join(a for a in AXES if a in axes):
        return None  # a transposed axis order would need a transpose of every chunk
    if layout["zarr_format"] == 2:
        spec = layout["codecs"]
        if spec["order"] != "C":
            return None
        compressor = spec["compressor"]
        if zarr_format == 2:
            return {"compressor": compressor, "filters": spec["filters"] or None}
        converted = _v2_compressor_as_v3(compressor, dtype) if compressor else None
        if spec["filters"] or (compressor and converted is None):
            return None
        endian = "big" if dtype.byteorder == ">" else "little"
        return [{"name": "bytes", "configuration": {"endian": endian}}, *([converted] if converted else [])]
    before, serializer, after = _split(layout["codecs"])
    if before:
        return None  # transpose or array->array filters
    if zarr_format == 3:
        return [serializer, *after]
    if len(after) > 1:
        return None
    compressor = _v3_bytes_codec_as_v2(after[0]) if after else None
    if after and compressor is None:
        return None
    return {"compressor": compressor, "filters": None}


def served_level(image: ImageRecord, level: int, zarr_format: int = 2) -> ServedLevel:
    spec = image.levels[level]
    layout = spec.layout
    shape = tuple(int(s) for s in spec.shape)
    if layout.get("kind") == "zarr":
        fill = parse_fill_value(layout["fill_value"], np.dtype(spec.dtype))
        dtype = _source_dtype(layout, spec.dtype)
        codecs = _passthrough_codecs(layout, dtype, zarr_format)
        if codecs is not None:
            return ServedLevel(level, zarr_format, shape, tuple(spec.chunks), dtype, fill, codecs, True)
    else:
        fill = np.dtype(spec.dtype).type(0)
    dtype = np.dtype(spec.dtype).newbyteorder("<")
    chunks = _reencode_chunks(shape, tuple(spec.chunks), dtype.itemsize)
    codecs = {"compressor": BLOSC_V2, "filters": None} if zarr_format == 2 else [
        {"name": "bytes", "configuration": {"endian": "little"}},
        {"name": "blosc", "configuration": {"cname": "zstd", "clevel": 5, "shuffle": "shuffle",
                                            "typesize": dtype.itemsize, "blocksize": 0}}]
    return ServedLevel(level, zarr_format, shape, chunks, dtype, fill, codecs, False)


def _reencode_chunks(shape: tuple[int, ...], chunks: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    out = list(chunks)
    for axis in (3, 4):
        edge = chunks[axis]
        if edge < MIN_EDGE:  # whole multiples, so one served chunk never splits a source chunk
            edge *= math.ceil(MIN_EDGE / edge)
        out[axis] = max(1, min(edge, MAX_EDGE, shape[axis]))
    if math.prod(out) * itemsize > MAX_SERVED_CHUNK_BYTES:
        out[0] = out[1] = out[2] = 1
    return tuple(out)


# --- producing a chunk ------------------------------------------------------------------

async def chunk_bytes(reader: PixelReader, image: ImageRecord, served: ServedLevel,
                      index: tuple[int, ...]) -> bytes | None:
    """The stored bytes of one served chunk; None when the chunk is absent (fill value)."""
    if served.passthrough:
        return await reader.raw_chunk(image, served.level, tuple(index))
    return await _reencode(reader, image, served, index)


async def _reencode(reader: PixelReader, image: ImageRecord, served: ServedLevel, index: tuple[int, ...]) -> bytes:
    spans = [(i * c, min((i + 1) * c, s)) for i, c, s in zip(index, served.chunks, served.shape)]
    channels = list(range(*spans[1]))
    block = await reader.read_block(image, served.level, spans[0], channels, spans[2], spans[3], spans[4])
    return await asyncio.to_thread(_encode, block, served)


def _encode(block: np.ndarray, served: ServedLevel) -> bytes:
    full = np.full(served.chunks, served.fill_value, dtype=served.dtype)
    full[tuple(slice(0, n) for n in block.shape)] = block
    return bytes(numcodecs.Blosc(cname="zstd", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE).encode(full))


def fill_value_json(value) -> object:
    """A fill value as Zarr metadata JSON spells it (NaN and infinities as strings)."""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value
