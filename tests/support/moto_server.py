"""Start moto's real S3 server on 127.0.0.1 on a free port (no mocks of our code)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MotoServer:
    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, log_path: Path | None = None) -> MotoServer:
        moto = Path(sys.executable).with_name("moto_server")
        log = open(log_path, "ab") if log_path else subprocess.DEVNULL
        # moto's request recorder writes `moto_recording` into its working directory
        workdir = Path(log_path).parent if log_path else Path(tempfile.mkdtemp(prefix="moto-"))
        self.process = subprocess.Popen(
            [str(moto), "-H", "127.0.0.1", "-p", str(self.port)], stdout=log, stderr=subprocess.STDOUT, cwd=workdir
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=1)
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("moto server did not start within 30 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def requests_log(self) -> list[dict]:
        """Every request moto has seen, if moto's recorder is on (see `enable_recorder`)."""
        import json

        with urllib.request.urlopen(self.endpoint + "/moto-api/recorder/download-recording") as resp:
            text = resp.read().decode()
        # moto's threaded server may append two records without a newline between them
        decoder, records, pos = json.JSONDecoder(), [], 0
        while True:
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos >= len(text):
                return records
            record, pos = decoder.raw_decode(text, pos)
            records.append(record)

    def aws_env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ALLOW_HTTP": "true",
        }


def boto3_client(endpoint: str):
    import boto3

    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
        region_name="us-east-1",
    )


def upload_tree(client, local_dir: Path, bucket: str, prefix: str) -> None:
    """Upload a local folder (e.g. a Zarr written by zarr-python) under s3://bucket/prefix."""
    local_dir = Path(local_dir)
    if local_dir.is_file():
        client.upload_file(str(local_dir), bucket, prefix)
        return
    for path in sorted(local_dir.rglob("*")):
        if path.is_file():
            key = f"{prefix.rstrip('/')}/{path.relative_to(local_dir).as_posix()}"
            client.upload_file(str(path), bucket, key)


def env_for_subprocess(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env
