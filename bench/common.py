"""Shared helpers for the benchmarks in bench/: sample images, moto + proxy, server process,
metrics, statistics and result files.

Benchmarks are scripts, not tests: everything runs on 127.0.0.1 and every loop is bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
BIN = Path(sys.executable).parent
# bench/requests.py would shadow the `requests` package for anything imported later
# (bench/ is sys.path[0] when a script here runs): keep bench/ last on the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]
sys.path.insert(0, str(ROOT / "tests"))

from support.moto_server import MotoServer, boto3_client, free_port, upload_tree  # noqa: E402
from support.proxy import DelayProxy  # noqa: E402

BUCKET = "bench"
SIDE, CHUNK = 2048, 256


class CountingProxy(DelayProxy):
    """DelayProxy in HTTP mode that also sums response body bytes (Content-Length).

    `rtt_ms` is the simulated round trip: the proxy delays each direction by half of it."""

    def __init__(self, target_port: int, rtt_ms: float):
        super().__init__("127.0.0.1", target_port, delay_ms=rtt_ms / 2, http=True)
        self.bytes_out = 0

    async def _forward_response(self, head, method, upstream_reader, to_client) -> bool:
        if method != "HEAD":
            self.bytes_out += head.content_length or 0
        return await super()._forward_response(head, method, upstream_reader, to_client)

    def counts(self) -> tuple[int, int]:
        return self.requests, self.bytes_out


# -- sample images (independent writers) ---------------------------------------------------

def _pyramid(data: np.ndarray, levels: int) -> list[np.ndarray]:
    out = [data]
    for _ in range(levels - 1):
        out.append(np.ascontiguousarray(out[-1][..., ::2, ::2]))
    return out


def write_samples(folder: Path, side: int = SIDE, chunk: int = CHUNK) -> dict[str, Path]:
    """The same uint16 plane as OME-Zarr v0.4 (ome-zarr-py), v0.5 sharded (zarr-python) and a
    tiled OME-TIFF pyramid (tifffile); 4 resolution levels each, chunk x chunk tiles."""
    import zarr

    from support.samples import smooth_array, write_ome_zarr_v04, write_tiff_pyramid

    folder.mkdir(parents=True, exist_ok=True)
    data = smooth_array((1, side, side), seed=1)
    write_ome_zarr_v04(folder / "v04.zarr", data[:, np.newaxis], chunks=(1, 1, chunk, chunk))
    write_tiff_pyramid(folder / "pyramid.ome.tif", data, levels=4, tile=(chunk, chunk))
    root = zarr.open_group(str(folder / "v05-sharded.zarr"), mode="w", zarr_format=3)
    datasets = []
    for i, level in enumerate(_pyramid(data, 4)):
        inner = min(chunk, level.shape[-1])
        shard = min(4 * inner, level.shape[-1])
        arr = root.create_array(str(i), shape=level.shape, dtype=level.dtype, chunks=(1, inner, inner),
                                shards=(1, shard, shard), dimension_names=["c", "y", "x"])
        arr[:] = level
        datasets.append({"path": str(i), "coordinateTransformations": [{"type": "scale", "scale": [1, 2**i, 2**i]}]})
    root.attrs["ome"] = {"version": "0.5", "multiscales": [{"axes": [
        {"name": "c", "type": "channel"}, {"name": "y", "type": "space"}, {"name": "x", "type": "space"}],
        "datasets": datasets}]}
    return {"OME-Zarr v0.4": folder / "v04.zarr", "OME-Zarr v0.5 sharded": folder / "v05-sharded.zarr",
            "OME-TIFF pyramid": folder / "pyramid.ome.tif"}


# -- moto bucket ---------------------------------------------------------------------------

@dataclass
class Stack:
    """A temp folder, moto's S3 server with the samples uploaded, and an isolated STRATASCOPE_HOME."""

    tmp: Path
    moto: MotoServer
    samples: dict[str, Path]
    keys: dict[str, str] = field(default_factory=dict)

    def env(self, endpoint: str | None = None, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.moto.aws_env())
        if endpoint:
            env["AWS_ENDPOINT_URL"] = endpoint
        env["STRATASCOPE_HOME"] = str(self.tmp / "home")
        env.update(extra)
        return env

    def url(self, name: str) -> str:
        return f"s3://{BUCKET}/{self.keys[name]}"


@contextlib.contextmanager
def moto_stack(side: int = SIDE):
    with tempfile.TemporaryDirectory(prefix="stratascope-bench-") as tmp:
        tmp = Path(tmp)
        moto = MotoServer().start()
        try:
            client = boto3_client(moto.endpoint)
            client.create_bucket(Bucket=BUCKET)
            samples = write_samples(tmp / "samples", side)
            stack = Stack(tmp, moto, samples)
            for name, path in samples.items():
                upload_tree(client, path, BUCKET, path.name)
                stack.keys[name] = path.name
            os.environ["STRATASCOPE_HOME"] = str(tmp / "home")  # for in-process cache access
            yield stack
        finally:
            moto.stop()


def import_urls(stack: Stack, urls: list[str]) -> dict[str, int]:
    """Import with the real CLI, directly from moto (not timed; one process); url -> image id."""
    out = subprocess.run([str(BIN / "stratascope"), "import", *urls, "--json"], env=stack.env(),
                         capture_output=True, text=True, timeout=1800, check=False)
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    ids = {row["url"]: row["id"] for row in rows if row.get("id") is not None}
    missing = [u for u in urls if u not in ids]
    if out.returncode != 0 or missing:
        raise RuntimeError(f"import failed for {missing}: {out.stderr[-2000:]}")
    return ids


def copy_prefix(stack: Stack, key: str, new_key: str) -> str:
    """Server-side copy of an object or a Zarr prefix (a second, independent image); its s3 URL."""
    client = boto3_client(stack.moto.endpoint)
    listing = client.list_objects_v2(Bucket=BUCKET, Prefix=key)
    for obj in listing.get("Contents", []):
        if obj["Key"] == key or obj["Key"].startswith(key.rstrip("/") + "/"):
            client.copy_object(Bucket=BUCKET, Key=new_key + obj["Key"][len(key):],
                               CopySource={"Bucket": BUCKET, "Key": obj["Key"]})
    return f"s3://{BUCKET}/{new_key}"


def drop_chunk_cache(stack: Stack) -> None:
    """Cold start for the server: chunk bytes and shard indexes go; import-made thumbnails and
    overviews stay (that is the design). Same as `stratascope cache drop --chunks`."""
    subprocess.run([str(BIN / "stratascope"), "cache", "drop", "--chunks"], env=stack.env(),
                   capture_output=True, timeout=120, check=True)


def drop_page_cache() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


# -- the server ----------------------------------------------------------------------------

class Server:
    """`stratascope serve` as a subprocess on a free 127.0.0.1 port."""

    def __init__(self, env: dict[str, str], workers: int = 1):
        self.env, self.workers = env, workers
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        self.process = subprocess.Popen(
            [str(BIN / "stratascope"), "serve", "--port", str(self.port), "--workers", str(self.workers)],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.process.stderr.read().decode()[-2000:]}")
            try:
                urllib.request.urlopen(self.base + "/api/", timeout=2).read()
                return self
            except OSError:
                time.sleep(0.1)
        self.__exit__()
        raise RuntimeError("server did not answer within 120 s")

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()  # uvicorn stops its own workers on SIGTERM
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def processes(self):
        import psutil

        main = psutil.Process(self.process.pid)
        return [main, *main.children(recursive=True)]

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far by the server (main process and workers)."""
        import psutil

        total = 0.0
        for proc in self.processes():
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def rss_bytes(self) -> int:
        import psutil

        total = 0
        for proc in self.processes():
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        return total

    def source_counts(self) -> tuple[int, int]:
        """(source requests, source bytes) from /metrics (exact with one worker)."""
        text = urllib.request.urlopen(self.base + "/metrics", timeout=30).read().decode()
        return parse_source_counts(text)


_METRIC = re.compile(r"^(stratascope_source_requests_total|stratascope_source_bytes_total)(\{[^}]*\})? ([0-9.eE+]+)$")


def parse_source_counts(text: str) -> tuple[int, int]:
    requests = nbytes = 0.0
    for line in text.splitlines():
        m = _METRIC.match(line)
        if m and m.group(1) == "stratascope_source_requests_total":
            requests += float(m.group(3))
        elif m:
            nbytes += float(m.group(3))
    return int(requests), int(nbytes)


# -- statistics and results ----------------------------------------------------------------

def percentile(values, q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else float("nan")


def machine_note() -> str:
    load = os.getloadavg()
    return (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.node()}, "
            f"{os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min), "
            f"Python {platform.python_version()}")


def markdown_table(columns: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_result(stem: str, quick: bool, text: str, figure=None) -> Path:
    """bench/results/<stem>[-quick].md (+ .png); returns the markdown path."""
    RESULTS.mkdir(exist_ok=True)
    name = f"{stem}-quick" if quick else stem
    path = RESULTS / f"{name}.md"
    path.write_text(text.rstrip() + "\n")
    if figure is not None:
        figure.savefig(RESULTS / f"{name}.png", dpi=110, bbox_inches="tight")
    print(text)
    print(f"wrote {path}")
    return path


def have(binary: str) -> bool:
    return shutil.which(binary) is not None
