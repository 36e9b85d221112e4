"""Shared fixtures: moto's S3 server on loopback, a fresh bucket per test, an isolated
STRATASCOPE_HOME, and helpers to put independently written test data in both a local
folder and the bucket."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from support.moto_server import MotoServer, boto3_client, upload_tree

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
    """Every test gets its own catalogue and cache, and fresh process-wide state."""
    home = tmp_path / "stratascope-home"
    home.mkdir()
    monkeypatch.setenv("STRATASCOPE_HOME", str(home))
    monkeypatch.delenv("STRATASCOPE_DATABASE_URL", raising=False)
    monkeypatch.delenv("STRATASCOPE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    from stratascope import state

    state.reset()
    yield home
    state.reset()
