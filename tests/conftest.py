"""Shared fixtures: moto's S3 server on loopback, a fresh bucket per test, an isolated
STRATASCOPE_HOME, and helpers to put independently written test data in both a local
folder and the bucket."""

from __future__ import annotations

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


@pytest.fixture
def sample_zarr(tmp_path, import_urls_sync, sample_zarr_folder):
    """A 3-channel uint16 OME-Zarr v0.4 (2 z, 300x500, pyramid) imported from a local folder.

    Returns (image_id, truth) with truth in (t, c, z, y, x) order at full resolution.
    """
    import shutil

    source, truth = sample_zarr_folder
    shutil.copytree(source, tmp_path / "sample.zarr")
    results = import_urls_sync([str(tmp_path / "sample.zarr")], project="Demo project", dataset="Demo dataset")
    assert results[0].status == "imported", results
    return results[0].id, truth


@pytest.fixture
def client(services):
    """An HTTP client speaking to the real app in-process (starlette TestClient over httpx),
    over the test's services (so imports and the app share catalogue, cache and reader)."""
    from fastapi.testclient import TestClient

    from stratascope.api.app import create_app

    with TestClient(create_app(services)) as test_client:
        yield test_client
