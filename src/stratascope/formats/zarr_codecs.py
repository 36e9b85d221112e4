"""Zarr array metadata (v2 `.zarray`, v3 `zarr.json`) -> a JSON-able layout, and the
per-chunk decode of that layout.

Import (`parse_zarr_array`) validates everything once, so that serving a chunk
(`decode_chunk`) never meets an unknown codec. Decoding is per chunk with numcodecs /
imagecodecs and no store of its own; every decompressor is bounded by the size the
chunk must have, so corrupt or hostile bytes cannot make us allocate more than that.
The layout dict is documented in `formats/ome_zarr.py`.
"""

from __future__ import annotations

import bz2
import lzma
import math
import zlib
from dataclasses import dataclass

import google_crc32c
import imagecodecs
import numcodecs
import numpy as np
from numcodecs.compat import ensure_contiguous_ndarray

from ..storage.errors import ObjectChanged
from .model import ChunkTooLarge, FormatError, UnsupportedFormat

NUMERIC_KINDS = "biuf"
V3_BYTES_TO_BYTES = {"blosc", "gzip", "zstd", "crc32c"}
MAX_UINT64 = 2**64 - 1

#: Every codec a chunk may pass through, each with a way to bound its output *before* it
#: allocates: compressors by their header or a streaming decompressor with a maximum
#: length; filters by their input size times what they can expand it by. Codecs with no
#: such bound (pickle, msgpack, vlen, categorize: none of them numeric anyway) are refused.
BOUNDED_COMPRESSORS = {"blosc", "lz4", "zstd", "zlib", "gzip", "bz2", "lzma"}
SHRINKING_FILTERS = {"crc32", "crc32c", "adler32", "fletcher32", "jenkins_lookup3", "base64"}
ELEMENTWISE_FILTERS = {"delta", "fixedscaleoffset", "quantize", "astype", "bitround", "shuffle"}
EXPANDING_FILTERS = {"packbits": 8}  # bits -> bools
SUPPORTED_NUMCODECS = BOUNDED_COMPRESSORS | SHRINKING_FILTERS | ELEMENTWISE_FILTERS | set(EXPANDING_FILTERS)
LZMA_MEMLIMIT = 2**27  # liblzma's own working memory (dictionary); preset 9 needs 65 MiB


@dataclass
class ZarrArray:
    """One array's metadata, validated: what `ome_zarr` needs to build a LevelSpec."""

    shape: tuple[int, ...]
    read_chunks: tuple[int, ...]  # the unit of reading: inner chunk when sharded
    dtype: np.dtype  # native byte order: what decode returns
    layout: dict


def _ints(value, what: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise FormatError(f"{what} must be a list of integers, got {value!r:.80}")
    return tuple(value)


def _numeric_dtype(name, what: str) -> np.dtype:
    try:
        dtype = np.dtype(name) if isinstance(name, str) and len(name) <= 32 else None
    except (TypeError, ValueError, SyntaxError):  # numpy parses some strings with ast (e.g. "u2,")
        dtype = None
    if dtype is None or dtype.kind not in NUMERIC_KINDS or dtype.shape:
        raise UnsupportedFormat(f"{what}: data type {name!r:.60} is not supported (numeric types only)")
    return dtype


def _numcodec(config: dict, what: str):
    if config.get("id") not in SUPPORTED_NUMCODECS:
        raise UnsupportedFormat(f"{what}: codec {config.get('id')!r:.40} is not supported "
                                f"(supported: {', '.join(sorted(SUPPORTED_NUMCODECS))})")
    try:
        return numcodecs.get_codec(dict(config))
    except Exception as exc:  # unknown id or bad configuration
        raise UnsupportedFormat(f"{what}: codec {config!r:.100} is not supported ({exc})") from exc


def parse_fill_value(value, dtype: np.dtype):
    """A Zarr fill value (JSON) as a numpy scalar of `dtype`; null means 0."""
    if value is None:
        value = 0
    elif isinstance(value, str):
        if value.startswith("0x") and dtype.kind == "f":  # v3: hex of the IEEE 754 bits
            try:
                return np.array(int(value, 16), dtype=f"u{dtype.itemsize}").view(dtype)[()]
            except (ValueError, OverflowError) as exc:
                raise FormatError(f"bad fill_value {value!r:.40}") from exc
        value = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(value, value)
    if not isinstance(value, (bool, int, float)):
        raise FormatError(f"bad fill_value {value!r:.40} for data type {dtype}")
    try:
        if dtype.kind == "f":
            return np.array(float(value), dtype=dtype)[()]
        if isinstance(value, float) and not value.is_integer():
            raise ValueError("not an integer")
        return np.array(int(value), dtype=dtype)[()]
    except (OverflowError, ValueError) as exc:
        raise FormatError(f"fill_value {value!r:.40} does not fit data type {dtype}") from exc


# --- v2 ---------------------------------------------------------------------------------

def parse_zarr_v2(doc: dict, url: str) -> ZarrArray:
    what = f"{url}/.zarray"
    if doc.get("zarr_format") != 2:
        raise FormatError(f"{what}: zarr_format must be 2")
    shape, chunks = _ints(doc.get("shape"), f"{what}: shape"), _ints(doc.get("chunks"), f"{what}: chunks")
    if len(shape) != len(chunks):
        raise FormatError(f"{what}: shape {shape} and chunks {chunks} differ in length")
    stored = _numeric_dtype(doc.get("dtype"), what)
    order = doc.get("order", "C")
    separator = doc.get("dimension_separator") or "."
    if order not in ("C", "F") or separator not in (".", "/"):
        raise FormatError(f"{what}: bad order {order!r} or dimension_separator {separator!r}")
    compressor, filters = doc.get("compressor"), doc.get("filters") or []
    if compressor is not None and not isinstance(compressor, dict) or not isinstance(filters, list):
        raise FormatError(f"{what}: compressor must be an object or null, filters a list or null")
    for config in ([compressor] if compressor else []) + filters:
        _numcodec(config, what)
    layout = {
        "url": url, "zarr_format": 2, "native_shape": list(shape), "native_chunks": list(chunks),
        "key_encoding": {"name": "v2", "separator": separator},
        "codecs": {"compressor": compressor, "filters": filters or None, "order": order},
        "dtype": stored.str, "fill_value": doc.get("fill_value"), "shard": None,
    }
    parse_fill_value(layout["fill_value"], stored)
    return ZarrArray(shape, chunks, stored.newbyteorder("="), layout)


# --- v3 ---------------------------------------------------------------------------------

def _split_codecs(codecs, what: str) -> tuple[list, dict, list]:
    """(array->array, array->bytes, bytes->bytes) of a v3 codec list."""
    if not isinstance(codecs, list) or not all(isinstance(c, dict) and isinstance(c.get("name"), str) for c in codecs):
        raise FormatError(f"{what}: codecs must be a list of {{'name': ...}} objects")
    serializers = [i for i, c in enumerate(codecs) if c["name"] in ("bytes", "sharding_indexed")]
    if len(serializers) != 1:
        names = [c["name"] for c in codecs]
        raise UnsupportedFormat(f"{what}: need exactly one 'bytes' or 'sharding_indexed' codec, got {names}")
    i = serializers[0]
    return codecs[:i], codecs[i], codecs[i + 1:]


def _check_v3_codecs(codecs, what: str, ndim: int, inner: bool) -> None:
    before, serializer, after = _split_codecs(codecs, what)
    for codec in before:
        if codec["name"] == "transpose":
            order = (codec.get("configuration") or {}).get("order")
            if not isinstance(order, list) or sorted(order) != list(range(ndim)):
                raise FormatError(f"{what}: bad transpose order {order!r:.60}")
        elif codec["name"].startswith("numcodecs."):
            _numcodec({"id": codec["name"][10:], **(codec.get("configuration") or {})}, what)
        else:
            raise UnsupportedFormat(f"{what}: codec {codec['name']!r} is not supported")
    if serializer["name"] == "sharding_indexed" and (inner or before or after):
        raise UnsupportedFormat(f"{what}: sharding must be the only codec (nested or wrapped sharding is unsupported)")
    endian = (serializer.get("configuration") or {}).get("endian", "little")
    if serializer["name"] == "bytes" and endian not in ("little", "big"):
        raise FormatError(f"{what}: bad endian {endian!r:.20}")
    for codec in after:
        if codec["name"].startswith("numcodecs."):
            _numcodec({"id": codec["name"][10:], **(codec.get("configuration") or {})}, what)
        elif codec["name"] not in V3_BYTES_TO_BYTES:
            raise UnsupportedFormat(f"{what}: codec {codec['name']!r} is not supported")


def _shard_layout(config: dict, shard_shape: tuple[int, ...], what: str) -> tuple[tuple[int, ...], dict]:
    inner = _ints(config.get("chunk_shape"), f"{what}: sharding chunk_shape")
    if len(inner) != len(shard_shape) or any(c < 1 or s % c for s, c in zip(shard_shape, inner)):
        raise FormatError(f"{what}: inner chunks {inner} do not divide shards {shard_shape}")
    codecs = config.get("codecs")
    _check_v3_codecs(codecs, what, len(inner), inner=True)
    default_index = [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}]
    index_codecs = config.get("index_codecs", default_index)
    _, serializer, after = _split_codecs(index_codecs, what + " index_codecs")
    if serializer["name"] != "bytes" or any(c["name"] != "crc32c" for c in after) or len(after) > 1:
        raise UnsupportedFormat(f"{what}: shard index codecs must be bytes (+ crc32c), got {index_codecs!r:.120}")
    location = config.get("index_location", "end")
    if location not in ("start", "end"):
        raise FormatError(f"{what}: bad index_location {location!r:.20}")
    per_shard = [s // c for s, c in zip(shard_shape, inner)]
    index_bytes = 16 * math.prod(per_shard) + 4 * len(after)
    shard = {"shape": list(shard_shape), "chunks_per_shard": per_shard, "index_codecs": index_codecs,
             "index_location": location, "index_bytes": index_bytes}
    return inner, {"codecs": codecs, "shard": shard}


def parse_zarr_v3(doc: dict, url: str) -> ZarrArray:
    what = f"{url}/zarr.json"
    if doc.get("zarr_format") != 3 or doc.get("node_type") != "array":
        raise FormatError(f"{what}: not a Zarr v3 array (zarr_format 3, node_type 'array')")
    shape = _ints(doc.get("shape"), f"{what}: shape")
    dtype = _numeric_dtype(doc.get("data_type"), what)
    grid = doc.get("chunk_grid") or {}
    if grid.get("name") != "regular":
        raise UnsupportedFormat(f"{what}: chunk grid {grid.get('name')!r:.40} is not supported (regular only)")
    outer = _ints((grid.get("configuration") or {}).get("chunk_shape"), f"{what}: chunk_shape")
    if len(outer) != len(shape):
        raise FormatError(f"{what}: shape {shape} and chunk_shape {outer} differ in length")
    if doc.get("storage_transformers"):
        raise UnsupportedFormat(f"{what}: storage transformers are not supported")
    encoding = doc.get("chunk_key_encoding") or {"name": "default"}
    default_separator = "/" if encoding.get("name") == "default" else "."
    separator = (encoding.get("configuration") or {}).get("separator", default_separator)
    if encoding.get("name") not in ("default", "v2") or separator not in ("/", "."):
        raise UnsupportedFormat(f"{what}: chunk key encoding {encoding!r:.80} is not supported")
    codecs = doc.get("codecs")
    _check_v3_codecs(codecs, what, len(shape), inner=False)
    assert isinstance(codecs, list)  # checked just above
    if codecs[0]["name"] == "sharding_indexed":
        read_chunks, parts = _shard_layout(codecs[0].get("configuration") or {}, outer, what)
    else:
        read_chunks, parts = outer, {"codecs": codecs, "shard": None}
    layout = {
        "url": url, "zarr_format": 3, "native_shape": list(shape), "native_chunks": list(read_chunks),
        "key_encoding": {"name": encoding["name"], "separator": separator},
        "dtype": doc["data_type"], "fill_value": doc.get("fill_value"), **parts,
    }
    parse_fill_value(layout["fill_value"], dtype)
    return ZarrArray(shape, read_chunks, dtype, layout)


# --- decoding ---------------------------------------------------------------------------

def _max_output(codec_id: str, codec, stored: int) -> int:
    """The most bytes a filter can decode `stored` bytes to (decoded type / stored type)."""
    if codec_id in EXPANDING_FILTERS:
        return stored * EXPANDING_FILTERS[codec_id]
    if codec_id == "astype":
        decoded, encoded = codec.decode_dtype, codec.encode_dtype
    else:
        decoded = getattr(codec, "dtype", None)
        encoded = getattr(codec, "astype", None) or decoded
    if decoded is None:
        return stored
    return math.ceil(stored * np.dtype(decoded).itemsize / np.dtype(encoded).itemsize)


def _bounded_decompress(codec_id: str, codec, data, limit: int):
    """Decode one step (compressor or filter), never producing (or allocating) more than
    `limit` bytes: the declared or possible output size is checked before decoding."""
    too_big = ChunkTooLarge(f"{codec_id}: chunk decodes to more than the {limit} bytes expected "
                            f"({len(data)} stored bytes); refused before decoding")
    if not isinstance(data, (bytes, bytearray)):
        data = ensure_contiguous_ndarray(data).reshape(-1).view("u1")
    if codec_id == "blosc":  # header: nbytes at bytes 4..8
        if len(data) < 16 or int.from_bytes(bytes(data[4:8]), "little") > limit:
            raise too_big
    elif codec_id == "lz4":  # numcodecs' LZ4 prefixes the decompressed size
        if len(data) < 4 or int.from_bytes(bytes(data[:4]), "little") > limit:
            raise too_big
    elif codec_id == "zstd":
        try:
            return bytes(imagecodecs.zstd_decode(data, out=max(limit, 1)))
        except imagecodecs.ZstdError as exc:
            raise FormatError(f"zstd: cannot decode chunk ({exc})") from exc
    elif codec_id in ("zlib", "gzip", "bz2", "lzma"):
        if codec_id == "bz2":
            out = bz2.BZ2Decompressor().decompress(data, max_length=limit + 1)
        elif codec_id == "lzma":
            fmt = codec.format if codec is not None else lzma.FORMAT_AUTO
            if fmt == lzma.FORMAT_RAW:
                decompressor = lzma.LZMADecompressor(fmt, filters=codec.filters)
            else:
                decompressor = lzma.LZMADecompressor(fmt, memlimit=LZMA_MEMLIMIT)
            try:
                out = decompressor.decompress(data, max_length=limit + 1)
            except lzma.LZMAError as exc:
                raise FormatError(f"lzma: cannot decode chunk ({exc})") from exc
        else:  # wbits 47: zlib or gzip header, detected
            out = zlib.decompressobj(47).decompress(data, limit + 1)
        if len(out) > limit:
            raise too_big
        return out
    elif codec_id in SHRINKING_FILTERS or codec_id in ELEMENTWISE_FILTERS or codec_id in EXPANDING_FILTERS:
        if _max_output(codec_id, codec, len(data)) > limit + 64:  # + a checksum filter's few bytes
            raise too_big
    else:
        raise UnsupportedFormat(f"{codec_id}: codec is not supported (its output size cannot be bounded)")
    out = ensure_contiguous_ndarray(codec.decode(data)).reshape(-1).view("u1")
    if out.nbytes > limit + 64:
        raise too_big
    return out


def _decode_bytes_step(codec: dict, data: bytes, limit: int) -> bytes:
    name = codec["name"]
    if name == "crc32c":
        data = bytes(data)
        if len(data) < 4 or google_crc32c.value(data[:-4]) != int.from_bytes(data[-4:], "little"):
            raise ObjectChanged("crc32c checksum of a Zarr chunk does not match")
        return data[:-4]
    codec_id = name[10:] if name.startswith("numcodecs.") else name
    config = codec.get("configuration") or {}
    if codec_id == "blosc" and name == "blosc":  # v3 blosc: the header says everything decode needs
        instance = numcodecs.Blosc()
    elif codec_id in ("zstd", "gzip"):
        instance = None  # decoded by _bounded_decompress itself
    else:
        instance = numcodecs.get_codec({"id": codec_id, **config})
    return _bounded_decompress(codec_id, instance, data, limit)


def _to_array(data, dtype: np.dtype, shape: tuple[int, ...], order: str = "C") -> np.ndarray:
    flat = ensure_contiguous_ndarray(data).reshape(-1).view("u1")
    expected = math.prod(shape) * dtype.itemsize
    if flat.nbytes != expected:
        raise FormatError(f"decoded Zarr chunk has {flat.nbytes} bytes, expected {expected} for {shape} {dtype}")
    return flat.view(dtype).reshape(shape, order=order)


def decode_chunk(layout: dict, data: bytes) -> np.ndarray:
    """One stored (inner) chunk's bytes -> array of `native_chunks` shape in native byte order."""
    shape = tuple(layout["native_chunks"])
    if layout["zarr_format"] == 2:
        stored = np.dtype(layout["dtype"])
        spec = layout["codecs"]
        filters = [(f["id"], numcodecs.get_codec(dict(f))) for f in spec["filters"] or []]
        nbytes = math.prod(shape) * stored.itemsize
        # between filters a chunk may be stored as a wider type (e.g. delta of u1 as i2)
        limit = nbytes * (8 if filters else 1)
        if spec["compressor"]:
            compressor = numcodecs.get_codec(dict(spec["compressor"]))
            data = _bounded_decompress(spec["compressor"]["id"], compressor, data, limit)
        for i, (codec_id, f) in reversed(list(enumerate(filters))):
            data = _bounded_decompress(codec_id, f, data, nbytes if i == 0 else limit)
        array = _to_array(data, stored, shape, spec["order"])
    else:
        before, serializer, after = _split_codecs(layout["codecs"], "codecs")
        encoded_shape = shape
        for codec in before:  # the shape the serializer saw
            if codec["name"] == "transpose":
                encoded_shape = tuple(encoded_shape[i] for i in codec["configuration"]["order"])
        base = np.dtype(layout["dtype"])
        endian = (serializer.get("configuration") or {}).get("endian", "little")
        stored = base.newbyteorder("<" if endian == "little" else ">")
        limit = math.prod(shape) * base.itemsize
        for codec in reversed(after):
            extra = 4 * sum(c["name"] == "crc32c" for c in after)  # crc32c layers carry 4 bytes each
            data = _decode_bytes_step(codec, data, limit + extra)
        array = _to_array(data, stored, encoded_shape)
        for codec in reversed(before):
            if codec["name"] == "transpose":
                array = array.transpose(np.argsort(codec["configuration"]["order"]))
            else:
                codec_id = codec["name"][10:]
                instance = numcodecs.get_codec({"id": codec_id, **(codec.get("configuration") or {})})
                decoded = _bounded_decompress(codec_id, instance, np.ascontiguousarray(array), array.nbytes)
                array = _to_array(decoded, array.dtype, array.shape)
    return array.astype(array.dtype.newbyteorder("="), copy=False)
