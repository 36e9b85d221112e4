"""Fuzzing import with damaged real files and generated ones (TIFF and Zarr metadata).

Properties for every case (see hostile_cases.attempt): the reader raises only FormatError /
StorageError, import reports "imported" or "failed" (never an unexpected exception), a
failure registers nothing, each case finishes within a deadline, and the process's peak
resident memory grows by less than 200 MiB while reading it.
Example counts are modest so the file stays well under 90 s on a small machine.
"""

from __future__ import annotations

import asyncio
import itertools
import json

import pytest
from hostile_cases import (
    attempt,
    build_tiff,
    copy_tree,
    flip_bits,
    json_paths,
    metadata_documents,
    peak_growth,
    replaced,
    reset_peak_memory,
    set_field,
    tiff_structure,
    write_seeds,
)
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

FUZZ = settings(max_examples=25, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
_case_ids = itertools.count()

TIFF_SEEDS = ["ome_pyramid.ome.tif", "strips.tif", "tiles_be.tif"]
ZARR_SEEDS = ["v04.zarr", "v05.zarr"]

#: integers that break assumptions: zero, negatives as unsigned, powers of two, near-overflow
HOSTILE_INTS = st.one_of(
    st.sampled_from([0, 1, 2, 3, 7, 255, 65535, 2**16, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**53, 2**63 - 1,
                     2**64 - 1, -1, -(2**31)]),
    st.integers(min_value=-(2**64), max_value=2**64),
)
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), HOSTILE_INTS, st.floats(allow_nan=True, allow_infinity=True),
              st.text(max_size=20), st.sampled_from(["..", "../..", "/etc/passwd", "0", "<u2", "|O", "zstd"])),
    lambda inner: st.one_of(st.lists(inner, max_size=6), st.dictionaries(st.text(max_size=10), inner, max_size=6)),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    return write_seeds(tmp_path_factory.mktemp("hostile-seeds"))


def _case_path(tmp_path, name: str):
    folder = tmp_path / f"case{next(_case_ids)}"
    folder.mkdir()
    return folder / name


def test_every_seed_imports(services, seeds, tmp_path):
    """The undamaged seeds are readable: the mutations below start from valid files."""
    for name in TIFF_SEEDS:
        assert attempt(services, seeds[name], "tiff") == "imported", name
    for name in ZARR_SEEDS:
        assert attempt(services, seeds[name], "zarr") == "imported", name


# -- TIFF --------------------------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_tiff_with_flipped_structure_bits(services, seeds, tmp_path, data):
    name = data.draw(st.sampled_from(TIFF_SEEDS))
    raw = seeds[name].read_bytes()
    intervals, _ = tiff_structure(seeds[name])
    positions = data.draw(st.lists(
        st.tuples(st.sampled_from(intervals).flatmap(lambda iv: st.integers(iv[0], max(iv[0], iv[1] - 1))),
                  st.integers(0, 7)), min_size=1, max_size=8))
    path = _case_path(tmp_path, name)
    path.write_bytes(flip_bits(raw, positions))
    attempt(services, path, "tiff")


@FUZZ
@given(data=st.data())
def test_truncated_tiff(services, seeds, tmp_path, data):
    name = data.draw(st.sampled_from(TIFF_SEEDS))
    raw = seeds[name].read_bytes()
    cut = data.draw(st.one_of(st.integers(0, 64), st.integers(0, len(raw) - 1)))
    path = _case_path(tmp_path, name)
    path.write_bytes(raw[:cut])
    attempt(services, path, "tiff")


@FUZZ
@given(data=st.data())
def test_tiff_with_rewritten_tag_fields(services, seeds, tmp_path, data):
    """Tag type, count or value/offset fields set to hostile numbers (sizes, offsets, counts)."""
    name = data.draw(st.sampled_from(TIFF_SEEDS))
    raw = seeds[name].read_bytes()
    byteorder = "<" if raw[:2] == b"II" else ">"
    _, entries = tiff_structure(seeds[name])
    for _ in range(data.draw(st.integers(1, 3))):
        entry, _size, value_at = data.draw(st.sampled_from(entries))
        field = data.draw(st.sampled_from(["type", "count", "value"]))
        offset, width = {"type": (entry + 2, 2), "count": (entry + 4, 4), "value": (value_at, 4)}[field]
        raw = set_field(raw, offset, data.draw(HOSTILE_INTS), width, byteorder)
    path = _case_path(tmp_path, name)
    path.write_bytes(raw)
    attempt(services, path, "tiff")


#: tags that decide geometry and where bytes are
_TAGS = [254, 256, 257, 258, 259, 262, 270, 273, 277, 278, 279, 284, 317, 322, 323, 324, 325, 330, 339, 338]


@FUZZ
@given(
    entries=st.lists(st.tuples(st.sampled_from(_TAGS), st.integers(1, 18), HOSTILE_INTS, HOSTILE_INTS),
                     min_size=1, max_size=14, unique_by=lambda e: e[0]),
    payload=st.binary(max_size=256),
    byteorder=st.sampled_from(["<", ">"]),
)
def test_generated_tiff(services, tmp_path, entries, payload, byteorder):
    path = _case_path(tmp_path, "generated.tif")
    path.write_bytes(build_tiff(entries, payload, byteorder))
    attempt(services, path, "tiff")


def test_tiff_ifd_loop_and_huge_claims(services, tmp_path):
    """Hand-made classics: an IFD chain that loops, and geometry claiming 2^32 x 2^32 pixels."""
    base = [(256, 4, 1, 2**32 - 1), (257, 4, 1, 2**32 - 1), (258, 3, 1, 16), (259, 3, 1, 1),
            (277, 3, 1, 1), (322, 3, 1, 16), (323, 3, 1, 16), (324, 4, 1, 200), (325, 4, 1, 512)]
    path = _case_path(tmp_path, "huge.tif")
    path.write_bytes(build_tiff(base, b"\x00" * 256))
    assert attempt(services, path, "tiff") == "failed"
    looped = bytearray(build_tiff(base[2:], b""))
    next_ifd_at = 8 + 2 + 12 * len(base[2:])
    looped[next_ifd_at:next_ifd_at + 4] = (8).to_bytes(4, "little")  # the IFD points at itself
    path = _case_path(tmp_path, "loop.tif")
    path.write_bytes(bytes(looped))
    assert attempt(services, path, "tiff") == "failed"


# -- Zarr --------------------------------------------------------------------------------


def _mutated_zarr(services, seeds, tmp_path, data, mutate, wanted=lambda doc: True) -> None:
    name = data.draw(st.sampled_from(ZARR_SEEDS))
    root = copy_tree(seeds[name], _case_path(tmp_path, name))
    documents = [d for d in metadata_documents(root) if wanted(json.loads(d.read_text()))]
    document = data.draw(st.sampled_from(documents))
    document.write_text(mutate(json.loads(document.read_text())))
    attempt(services, root, "zarr")


@FUZZ
@given(data=st.data())
def test_zarr_with_a_replaced_or_deleted_metadata_value(services, seeds, tmp_path, data):
    def mutate(doc):
        path = data.draw(st.sampled_from(json_paths(doc)))
        if path and data.draw(st.booleans()):
            return json.dumps(replaced(doc, path, None, delete=True))
        return json.dumps(replaced(doc, path, data.draw(JSON_VALUES)))

    _mutated_zarr(services, seeds, tmp_path, data, mutate)


@FUZZ
@given(data=st.data())
def test_zarr_with_hostile_numbers_in_metadata(services, seeds, tmp_path, data):
    """Every number in the document (shape, chunks, scale, shard sizes, ...) is a candidate."""
    def mutate(doc):
        numeric = _numeric_paths(doc)
        for _ in range(data.draw(st.integers(1, 3))):
            doc = replaced(doc, data.draw(st.sampled_from(numeric)), data.draw(HOSTILE_INTS))
        return json.dumps(doc)

    _mutated_zarr(services, seeds, tmp_path, data, mutate, wanted=lambda doc: bool(_numeric_paths(doc)))


def _numeric_paths(doc) -> list[tuple]:
    return [p for p in json_paths(doc) if p and isinstance(_at(doc, p), (int, float)) and not isinstance(_at(doc, p), bool)]


@FUZZ
@given(data=st.data())
def test_zarr_with_broken_metadata_text(services, seeds, tmp_path, data):
    def mutate(doc):
        text = json.dumps(doc)
        how = data.draw(st.sampled_from(["truncate", "garbage", "other-json", "flip"]))
        if how == "truncate":
            return text[: data.draw(st.integers(0, len(text) - 1))]
        if how == "garbage":
            return data.draw(st.text(max_size=64))
        if how == "other-json":
            return json.dumps(data.draw(JSON_VALUES))
        pos = data.draw(st.integers(0, len(text) - 1))
        return text[:pos] + chr(ord(text[pos]) ^ (1 << data.draw(st.integers(0, 6)))) + text[pos + 1:]

    _mutated_zarr(services, seeds, tmp_path, data, mutate)


def _at(doc, path):
    for step in path:
        doc = doc[step]
    return doc


def test_zarr_dataset_paths_cannot_leave_the_image(services, seeds, tmp_path):
    """multiscales dataset paths like "../other" must not read outside the imported prefix."""
    outside = copy_tree(seeds["v04.zarr"], tmp_path / "outside.zarr")
    root = copy_tree(seeds["v04.zarr"], tmp_path / "inner" / "img.zarr")
    for hostile in ("../../outside.zarr/0", "/" + str(outside / "0"), "0/../../../outside.zarr/0"):
        attrs = json.loads((root / ".zattrs").read_text())
        attrs["multiscales"][0]["datasets"][0]["path"] = hostile
        (root / ".zattrs").write_text(json.dumps(attrs))
        assert attempt(services, root, "zarr") == "failed", hostile


def test_deeply_nested_and_huge_json(services, seeds, tmp_path):
    root = copy_tree(seeds["v04.zarr"], tmp_path / "deep.zarr")
    (root / ".zattrs").write_text("[" * 100_000 + "]" * 100_000)  # recursion bomb
    assert attempt(services, root, "zarr") == "failed"
    root = copy_tree(seeds["v04.zarr"], tmp_path / "wide.zarr")
    attrs = json.loads((root / ".zattrs").read_text())
    attrs["multiscales"][0]["datasets"] = [{"path": str(i)} for i in range(200_000)]
    (root / ".zattrs").write_text(json.dumps(attrs))
    assert attempt(services, root, "zarr") == "failed"


# --- issue 14 (8): bounds on channels, levels, chunk grids, metadata size and import time ---

def _tiny_zarr(root, shape, chunks, zattrs_extra: dict | None = None):
    """A hand-written OME-Zarr v0.4: a 150-byte .zarray may claim anything."""
    axes = [{"name": n, "type": {"c": "channel"}.get(n, "space")} for n in "czyx"[-len(shape):]]
    root.mkdir()
    (root / ".zattrs").write_text(json.dumps({"multiscales": [{
        "version": "0.4", "axes": axes,
        "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1.0] * len(shape)}]}],
    }], **(zattrs_extra or {})}))
    (root / ".zgroup").write_text('{"zarr_format": 2}')
    (root / "0").mkdir()
    (root / "0" / ".zarray").write_text(json.dumps({
        "zarr_format": 2, "shape": shape, "chunks": chunks, "dtype": "|u1", "compressor": None,
        "fill_value": 0, "order": "C", "filters": None}))
    return root


def _import_fails_quickly(services, root, match: str):
    import re
    import time

    from stratascope import catalogue
    from stratascope.ingest import import_urls

    start_rss = reset_peak_memory()
    started = time.perf_counter()
    results = asyncio.run(import_urls(services, [str(root)]))
    elapsed = time.perf_counter() - started
    growth = peak_growth(start_rss)
    assert [r.status for r in results] == ["failed"], results
    assert re.search(match, results[0].error), results[0].error
    assert catalogue.list_images(services.catalogue)[1] == 0
    assert elapsed < 5, f"refusing took {elapsed:.1f} s"
    assert growth < 64 * 2**20, f"refusing grew the resident memory by {growth / 2**20:.0f} MiB"


def test_two_hundred_thousand_channels_are_refused(tmp_path, services):
    root = _tiny_zarr(tmp_path / "channels.zarr", [200_000, 1, 64, 64], [1, 1, 64, 64])
    assert (root / "0" / ".zarray").stat().st_size < 200
    _import_fails_quickly(services, root, r"200000 channels, above the limit of 10000 \(\[import\] max_channels\)")


def test_absurd_chunk_grids_are_refused(tmp_path, services):
    root = _tiny_zarr(tmp_path / "grid.zarr", [1, 1, 65536, 65536], [1, 1, 2, 2])
    _import_fails_quickly(services, root, r"1073741824 chunks .* max_chunks_per_level")


def test_levels_limit_is_a_setting(tmp_path, monkeypatch, make_services):
    monkeypatch.setenv("STRATASCOPE_IMPORT_MAX_LEVELS", "0")
    root = _tiny_zarr(tmp_path / "levels.zarr", [1, 1, 64, 64], [1, 1, 64, 64])
    _import_fails_quickly(make_services(), root, r"1 resolution levels, above the limit of 0 \(\[import\] max_levels\)")


def test_huge_metadata_documents_are_refused_unread(tmp_path, services):
    root = _tiny_zarr(tmp_path / "attrs.zarr", [1, 1, 64, 64], [1, 1, 64, 64])
    with open(root / ".zattrs", "r+b") as fh:  # 100 MiB, sparse: costs no disk and no test memory
        fh.truncate(100 * 2**20)
    _import_fails_quickly(services, root, r"104857600 bytes, above the limit of 16777216 .*max_metadata_bytes")


def test_work_after_registration_counts_against_the_import_timeout(tmp_path, monkeypatch, make_services):
    import time

    from stratascope.ingest import import_urls
    from stratascope.ingest.run import ImportOptions

    monkeypatch.setenv("STRATASCOPE_IMPORT_TIMEOUT_SECONDS", "1")
    services = make_services()
    root = _tiny_zarr(tmp_path / "slow.zarr", [1, 1, 64, 64], [1, 1, 64, 64])

    async def slow_derived(_services, image_id):  # overviews / statistics / thumbnails that never end
        await asyncio.sleep(30)

    started = time.perf_counter()
    results = asyncio.run(import_urls(services, [str(root)], ImportOptions(after_register=slow_derived)))
    assert time.perf_counter() - started < 5
    assert results[0].status == "imported" and "timed out after 1 s" in results[0].error
