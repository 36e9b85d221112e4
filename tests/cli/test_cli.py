"""The command line as an admin uses it: exit statuses, JSON lines, files. In-process (see
support.cli) except where the process boundary is the point: usage errors and `--help`, serve."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
import tifffile

from support.cli import real_cli, run_cli
from support.moto_server import free_port
from support.samples import smooth_array, write_ome_zarr_v04, write_tiff_pyramid


def cli(*args: str, timeout: float = 180):
    return run_cli(*args, timeout=timeout)


@pytest.fixture
def two_images(tmp_path):
    zarr_data = smooth_array((2, 3, 100, 150), seed=3)
    write_ome_zarr_v04(tmp_path / "z.zarr", zarr_data, chunks=(1, 1, 32, 32))
    tiff_data = smooth_array((1, 200, 120), dtype=np.uint8, seed=4)
    write_tiff_pyramid(tmp_path / "t.ome.tif", tiff_data, levels=1, tile=(64, 64))
    return tmp_path, zarr_data, tiff_data


def test_import_json_lines_ls_info_export(two_images, tmp_path):
    folder, zarr_data, tiff_data = two_images
    result = cli("import", str(folder / "z.zarr"), str(folder / "t.ome.tif"), "--project", "P", "--dataset", "D", "--json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [set(line) for line in lines] == [{"id", "name", "url", "status", "error"}] * 2
    assert {line["status"] for line in lines} == {"imported"}
    ids = {line["url"].rsplit("/", 1)[-1]: line["id"] for line in lines}

    listing = json.loads(cli("ls", "--json").stdout)
    assert {row["id"] for row in listing} == set(ids.values())
    assert all(row["project"] == "P" and row["dataset"] == "D" for row in listing)

    info = json.loads(cli("info", str(ids["z.zarr"]), "--json").stdout)
    assert info["size"] == {"x": 150, "y": 100, "z": 3, "c": 2, "t": 1}
    assert info["levels"][0]["chunks"]["x"] == 32 and info["axes"] == "czyx"
    assert info["sources"] and all(src["etag"] for src in info["sources"])

    out = tmp_path / "r.npy"
    assert cli("export", str(ids["z.zarr"]), "--region", "10,20,50,40", "--z", "2", "-o", str(out)).returncode == 0
    np.testing.assert_array_equal(np.load(out), zarr_data[:, 2, 20:60, 10:60])
    out_tif = tmp_path / "t.tif"
    assert cli("export", str(ids["t.ome.tif"]), "--c", "0", "-o", str(out_tif)).returncode == 0
    exported = tifffile.imread(out_tif)
    assert exported.dtype == np.uint8
    np.testing.assert_array_equal(exported, tiff_data[0])
    out_png = tmp_path / "t.png"
    assert cli("export", str(ids["t.ome.tif"]), "--c", "0", "-o", str(out_png)).returncode == 0

    again = cli("import", str(folder / "z.zarr"), "--json")
    assert json.loads(again.stdout)["status"] == "unchanged" and again.returncode == 0


@pytest.mark.parametrize("content, expected", [
    (b"II*\x00\x08\x00\x00\x00garbage", "tiff"),  # corrupt header / IFD
    (b"not a tiff at all", "tiff"),
])
def test_bad_tiff_fails_cleanly(tmp_path, content, expected):
    path = tmp_path / "bad.tif"
    path.write_bytes(content)
    result = cli("import", str(path), "--json")
    assert result.returncode == 1
    line = json.loads(result.stdout)
    assert line["status"] == "failed" and line["id"] is None and line["error"]
    assert "\n" not in line["error"]
    assert json.loads(cli("ls", "--json").stdout) == []


def test_truncated_tiff_and_broken_zarr_fail_cleanly(two_images, tmp_path):
    folder, _, _ = two_images
    data = (folder / "t.ome.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: len(data) // 3])
    (folder / "z.zarr" / ".zattrs").write_text("{ this is not json")
    result = cli("import", str(tmp_path / "cut.tif"), str(folder / "z.zarr"), "--json")
    assert result.returncode == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(line["status"] == "failed" and line["error"] for line in lines), lines
    assert json.loads(cli("ls", "--json").stdout) == []


def test_missing_url_and_bad_usage(tmp_path):  # real processes: exit statuses of `python -m`
    missing = real_cli("import", str(tmp_path / "nothing-here.zarr"), "--json")
    assert missing.returncode == 1 and json.loads(missing.stdout)["status"] == "failed"
    unreachable = real_cli("import", "s3://no-such-bucket-anywhere/x.ome.tif", "--json", timeout=240)
    assert unreachable.returncode == 1 and json.loads(unreachable.stdout)["error"]
    assert real_cli("import", "ftp://host/x.tif", "--json").returncode == 1
    assert real_cli("info", "12345").returncode == 1
    assert real_cli("export", "1").returncode == 2  # missing -o
    assert real_cli("export", "1", "-o", "x.gif").returncode == 2
    assert real_cli("bogus-command").returncode == 2
    assert real_cli("--help").returncode == 0 and "import" in real_cli("--help").stdout


def test_export_refuses_huge_plane_with_the_limit_in_the_message(two_images, monkeypatch):
    folder, _, _ = two_images
    cli("import", str(folder / "z.zarr"))
    from stratascope.cli import images

    result = cli("export", "1", "--region", "0,0,150,100", "-o", "x.npy")
    assert result.returncode == 0
    assert str(images.EXPORT_MAX_PIXELS) in _huge_export_message(folder)


def _huge_export_message(folder) -> str:
    tiff = folder / "huge.tif"
    # a real 1-plane TIFF whose metadata is fine but whose plane is large (sparse zeros, tiled)
    with tifffile.TiffWriter(tiff, bigtiff=True) as tif:
        tif.write(np.zeros((9000, 9000), np.uint8), tile=(512, 512), compression="zlib")
    result = cli("import", str(tiff), "--json")
    image_id = json.loads(result.stdout)["id"]
    exported = cli("export", str(image_id), "-o", "big.npy")
    assert exported.returncode == 1
    return exported.stderr


def test_serve_process_answers_a_tile(two_images):
    folder, _, _ = two_images
    assert cli("import", str(folder / "z.zarr")).returncode == 0
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "stratascope", "serve", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(os.environ))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/webgateway/render_image_region/1/0/0/?tile=0,0,0",
                                            timeout=5) as response:
                    assert response.status == 200 and response.headers["Content-Type"] == "image/jpeg"
                    assert response.read(3) == b"\xff\xd8\xff"
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.3)
    finally:
        proc.terminate()
        proc.wait(10)
