"""The production topology on loopback: PostgreSQL, two `stratascope serve` replicas sharing
its catalogue and one cache folder, and nginx (Debian's) rendered from
deploy/nginx/stratascope.conf.template in front of them as a caching proxy."""

from __future__ import annotations

import os
import re
import shutil
import string
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from support.moto_server import free_port
from support.samples import smooth_array, write_ome_zarr_v04

NGINX = Path("/usr/sbin/nginx")
TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "stratascope.conf.template"
STARTUP_S = 60

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not NGINX.exists(), reason="nginx not installed (Debian package nginx-light or nginx)"),
]


def cli(*args: str, env: dict, stdin: str | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "stratascope", *args], capture_output=True, text=True,
                            timeout=180, env=env, input=stdin)
    assert result.returncode == 0, f"stratascope {' '.join(args)}: {result.stderr}"
    return result


@pytest.fixture
def database_url(postgres_url):
    """A fresh database on the shared throwaway server, dropped afterwards."""
    import sqlalchemy as sa

    name = f"nginx_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield sa.engine.make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def wait_for(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args[:4]} exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail(f"{url} did not answer within {STARTUP_S} s: {log.read_text()[-2000:]}")


def render_nginx(tmp: Path, port: int, upstream_ports: list[int]) -> Path:
    """The deployment template filled in for loopback, inside a minimal main nginx.conf."""
    site = string.Template(TEMPLATE.read_text()).safe_substitute(
        STRATASCOPE_UPSTREAM_SERVERS=" ".join(f"server 127.0.0.1:{p};" for p in upstream_ports),
        NGINX_LISTEN=f"127.0.0.1:{port}", NGINX_SERVER_NAME="_",
        NGINX_CACHE_DIR=str(tmp / "cache"), NGINX_CACHE_MAX_SIZE="100m",
    )
    assert "${" not in site, "a template placeholder was not filled in"
    (tmp / "stratascope.conf").write_text(site)
    user = "user root;" if os.geteuid() == 0 else ""  # workers must read the temp dirs below
    temp_paths = "\n".join(f"    {kind}_temp_path {tmp / kind};" for kind in
                           ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    main = f"""{user}
worker_processes 2;
pid {tmp / 'nginx.pid'};
error_log {tmp / 'error.log'} warn;
events {{ worker_connections 256; }}
http {{
    access_log {tmp / 'access.log'};
{temp_paths}
    include {tmp / 'stratascope.conf'};
}}
"""
    conf = tmp / "nginx.conf"
    conf.write_text(main)
    return conf


def tile_requests(replica_metrics: str) -> int:
    """Tile renders a replica has answered, from its Prometheus /metrics."""
    pattern = r'stratascope_http_request_duration_seconds_count\{[^}]*route="/webgateway/render_image_region[^"]*"[^}]*\} (\S+)'
    return int(sum(float(v) for v in re.findall(pattern, replica_metrics)))


def test_tiles_through_nginx_cache_in_front_of_two_replicas(tmp_path, database_url):
    folder = tmp_path / "sample.zarr"
    write_ome_zarr_v04(folder, smooth_array((1, 1, 512, 512), seed=5), chunks=(1, 1, 128, 128))
    shared_cache = tmp_path / "shared-cache"
    env = dict(os.environ, STRATASCOPE_DATABASE_URL=database_url, STRATASCOPE_CACHE_URL=str(shared_cache),
               STRATASCOPE_SESSION_SECRET="s" * 48)
    image_id = int(cli("import", str(folder), "--project", "Open", "--dataset", "D", "--json", env=env)
                   .stdout.split('"id": ')[1].split(",")[0])
    cli("user", "add", "curator", "--admin", "--no-password", env=env)
    token = cli("token", "create", "curator", env=env).stdout.strip().splitlines()[-1]

    processes: list[subprocess.Popen] = []
    try:
        replica_ports = [free_port(), free_port()]
        for i, port in enumerate(replica_ports):
            home = tmp_path / f"home-{i}"  # nothing of a replica's own is shared: no sticky state
            home.mkdir()
            log = tmp_path / f"replica-{i}.log"
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "stratascope", "serve", "--port", str(port)],
                env=dict(env, STRATASCOPE_HOME=str(home)), stdout=log.open("w"), stderr=subprocess.STDOUT))
            wait_for(f"http://127.0.0.1:{port}/api/", processes[-1], log)

        nginx_dir = tmp_path / "nginx"
        nginx_dir.mkdir()
        nginx_port = free_port()
        conf = render_nginx(nginx_dir, nginx_port, replica_ports)
        check = subprocess.run([str(NGINX), "-t", "-c", str(conf), "-p", str(nginx_dir)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        processes.append(subprocess.Popen([str(NGINX), "-c", str(conf), "-p", str(nginx_dir), "-g", "daemon off;"],
                                          stdout=subprocess.DEVNULL, stderr=(nginx_dir / "stderr.log").open("w")))
        base = f"http://127.0.0.1:{nginx_port}"
        wait_for(f"{base}/api/", processes[-1], nginx_dir / "error.log")

        with httpx.Client(base_url=base, timeout=60) as http:
            tile = f"/webgateway/render_image_region/{image_id}/0/0/?tile=0,1,1,128,128"
            first, second = http.get(tile), http.get(tile)
            assert first.status_code == 200 and first.headers["content-type"] == "image/jpeg"
            assert "public" in first.headers["cache-control"]
            assert (first.headers["x-cache-status"], second.headers["x-cache-status"]) == ("MISS", "HIT")
            assert second.content == first.content

            # distinct tiles are spread over both replicas (round robin, no stickiness)
            for col in range(4):
                for row in range(2):
                    answer = http.get(f"/webgateway/render_image_region/{image_id}/0/0/?tile=0,{col},{row},128,128&m=g")
                    assert answer.status_code == 200 and answer.headers["x-cache-status"] == "MISS"
            served = [tile_requests(httpx.get(f"http://127.0.0.1:{p}/metrics").text) for p in replica_ports]
            assert sum(served) == 9 and min(served) >= 2, served

            # credentials skip the cache both ways: never answered from it, never stored in it
            bearer = {"Authorization": f"Bearer {token}"}
            authorised = [http.get(tile, headers=bearer) for _ in range(2)]
            assert [a.status_code for a in authorised] == [200, 200]
            assert [a.headers["x-cache-status"] for a in authorised] == ["BYPASS", "BYPASS"]
            assert all("private" in a.headers["cache-control"] for a in authorised)
            with_cookie = http.get(tile, headers={"Cookie": "stratascope_session=not-a-valid-session"})
            assert with_cookie.headers["x-cache-status"] == "BYPASS"
            assert http.get(tile).headers["x-cache-status"] == "HIT"  # the public entry is untouched

            # an anonymous answer that is not marked public is never stored
            listing = [http.get("/api/v0/m/images/") for _ in range(2)]
            assert "public" not in listing[0].headers.get("cache-control", "")
            assert [r.headers["x-cache-status"] for r in listing] == ["MISS", "MISS"]
            assert http.get("/metrics").status_code == 404  # per-replica metrics are not public
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    shutil.rmtree(tmp_path / "nginx" / "cache", ignore_errors=True)
