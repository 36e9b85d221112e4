"""Shared fixtures: moto's S3 server on loopback, a fresh bucket per test, an isolated
STRATASCOPE_HOME, and helpers to put independently written test data in both a local
folder and the bucket."""

from __future__ import annotations

import asyncio
import itertools
import os
from pathlib import Path

import pytest

from support.moto_server import MotoServer, boto3_client, upload_tree
from support.postgres import postgres_url  # noqa: F401  (fixture: a PostgreSQL URL, or a skip)

_bucket_ids = itertools.count()


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    server = MotoServer().start(tmp_path_factory.mktemp("moto") / "moto.log")
    saved = {k: os.environ.get(k) for k in server.aws_env()}
    os.environ.update(server.aws_env())
    yield server
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def s3(moto_server):
    """A boto3 client for arranging test data (never used by stratascope itself)."""
    return boto3_client(moto_server.endpoint)


@pytest.fixture
def bucket(s3) -> str:
    name = f"test-bucket-{os.getpid()}-{next(_bucket_ids)}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def upload(s3, bucket):
    """upload(local_path, key) -> "s3://bucket/key"."""

    def _upload(local: Path, key: str) -> str:
        upload_tree(s3, Path(local), bucket, key)
        return f"s3://{bucket}/{key}"

    return _upload


@pytest.fixture(autouse=True)
def stratascope_home(tmp_path, monkeypatch):
    """Every test gets its own catalogue and cache (services are built per test, from this)."""
    home = tmp_path / "stratascope-home"
    home.mkdir()
    monkeypatch.setenv("STRATASCOPE_HOME", str(home))
    monkeypatch.delenv("STRATASCOPE_DATABASE_URL", raising=False)
    monkeypatch.delenv("STRATASCOPE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    yield home


@pytest.fixture
def make_services():
    """make_services(**build_services options) -> Services from the environment as it is now;
    every one made is closed at the end of the test."""
    from stratascope.services import build_services

    made = []

    def _make(**options):
        made.append(build_services(**options))
        return made[-1]

    yield _make
    for services in made:
        services.close()


@pytest.fixture
def services(make_services):
    """The test's services (what create_app() and the CLI build), from the test's environment."""
    return make_services()


@pytest.fixture
def import_urls_sync(services):
    """import_urls_sync([url, ...], services=None, **options) -> results (the same code path as
    the CLI), into the test's services unless others are given."""
    import asyncio

    from stratascope.ingest import ImportOptions, import_urls
    from stratascope.ingest.derived import make_derived_async

    def _run(urls, services_=None, **options):
        opts = ImportOptions(after_register=make_derived_async, **options)
        return asyncio.run(import_urls(services_ or services, list(urls), opts))

    return _run


@pytest.fixture(scope="session")
def sample_zarr_folder(tmp_path_factory):
    """The sample OME-Zarr, written once per session by ome-zarr-py (slow), and its truth."""
    from support.samples import smooth_array, write_ome_zarr_v04

    folder = tmp_path_factory.mktemp("sample-zarr") / "sample.zarr"
    data = smooth_array((3, 2, 300, 500))
    truth = write_ome_zarr_v04(folder, data)
    return folder, truth


def _tree_signature(root: Path) -> dict[str, tuple[int, int]]:
    """{relative path: (size, mtime_ns)} of every file under `root` (cheap: no reads)."""
    out = {}
    for folder, _dirs, files in os.walk(root):
        for name in files:
            stat = os.lstat(os.path.join(folder, name))
            out[os.path.relpath(os.path.join(folder, name), root)] = (stat.st_size, stat.st_mtime_ns)
    return out


@pytest.fixture(scope="session")
def sample_zarr_template(tmp_path_factory, sample_zarr_folder):
    """A STRATASCOPE_HOME with the sample imported (catalogue, thumbnails, overviews), made once
    per session (per xdist worker) through the real import, and copied into each test's home.

    The catalogue records the source's absolute URL, so the imported source stays at this
    session-stable path: tests must not change it (checked after each test); a test that changes
    its source imports a private copy with `import_urls_sync` instead."""
    import shutil

    from stratascope.ingest import ImportOptions, import_urls
    from stratascope.ingest.derived import make_derived_async
    from stratascope.services import build_services

    source, truth = sample_zarr_folder
    imported = tmp_path_factory.mktemp("sample-zarr-imported") / "sample.zarr"
    shutil.copytree(source, imported)
    home = tmp_path_factory.mktemp("sample-zarr-home") / "stratascope-home"
    home.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("STRATASCOPE_")]:
            patch.delenv(name)  # the template is the default configuration, whatever a test sets
        patch.setenv("STRATASCOPE_HOME", str(home))
        patch.chdir(home.parent)  # no ./stratascope.toml
        services = build_services()
        try:
            options = ImportOptions(project="Demo project", dataset="Demo dataset", after_register=make_derived_async)
            results = asyncio.run(import_urls(services, [str(imported)], options))
        finally:
            services.close()  # the catalogue and cache index files are complete
    assert results[0].status == "imported", results
    return home, (results[0].id, truth), imported, _tree_signature(imported)


@pytest.fixture
def sample_zarr(stratascope_home, sample_zarr_template):
    """A 3-channel uint16 OME-Zarr v0.4 (2 z, 300x500, pyramid) imported from a local folder.

    Returns (image_id, truth) with truth in (t, c, z, y, x) order at full resolution. The
    test's home starts as a copy of a home the sample was imported into once per session."""
    import shutil

    template, value, imported, signature = sample_zarr_template
    shutil.copytree(template, stratascope_home, dirs_exist_ok=True)
    yield value
    assert _tree_signature(imported) == signature, (
        f"a test changed the shared, already imported source {imported}; a test that changes its "
        "source must import a private copy (import_urls_sync) instead of using sample_zarr")


@pytest.fixture
def client(services):
    """An HTTP client speaking to the real app in-process (starlette TestClient over httpx),
    over the test's services (so imports and the app share catalogue, cache and reader)."""
    from fastapi.testclient import TestClient

    from stratascope.api.app import create_app

    with TestClient(create_app(services)) as test_client:
        yield test_client
