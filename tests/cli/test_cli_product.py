"""The product around the engine (issue 15): what a person sees from real `stratascope` processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys


def cli(*args: str, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stratascope", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def test_serve_on_a_port_in_use_is_one_line_and_exit_1():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = cli("serve", "--port", str(port), timeout=60)
    assert result.returncode == 1
    assert "serving on" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: port ") and "already in use" in lines[0] and "--port" in lines[0]


def test_serve_on_an_unknown_host_is_one_line():
    result = cli("serve", "--host", "nonexistent.invalid", "--port", "0", timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "cannot listen on nonexistent.invalid" in result.stderr and "serving on" not in result.stderr


def _tiff(path, seed: int = 1):
    import numpy as np
    import tifffile

    data = np.random.default_rng(seed).integers(0, 255, (64, 96), dtype=np.uint8)
    tifffile.imwrite(path, data, photometric="minisblack")
    return path


def test_restore_status_lists_only_objects_in_archive_classes(tmp_path, s3, bucket):
    import json

    local = _tiff(tmp_path / "local.tif")
    s3.put_object(Bucket=bucket, Key="warm.tif", Body=local.read_bytes())  # STANDARD
    s3.put_object(Bucket=bucket, Key="cold.tif", Body=local.read_bytes())
    imported = cli("import", str(local), f"s3://{bucket}/warm.tif", f"s3://{bucket}/cold.tif", "--json")
    assert imported.returncode == 0, imported.stderr
    ids = {json.loads(line)["url"].rsplit("/", 1)[-1]: json.loads(line)["id"] for line in imported.stdout.splitlines()}
    s3.copy_object(Bucket=bucket, Key="cold.tif", CopySource={"Bucket": bucket, "Key": "cold.tif"},
                   StorageClass="GLACIER")  # a lifecycle rule archives it after import

    result = cli("restore", "--status", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["target"].split()[0]: row for row in json.loads(result.stdout)}
    assert rows[f"#{ids['local.tif']}"]["objects"] == {} and rows[f"#{ids['local.tif']}"]["state"] == "not needed"
    assert rows[f"#{ids['warm.tif']}"]["objects"] == {} and rows[f"#{ids['warm.tif']}"]["state"] == "not needed"
    assert rows[f"#{ids['cold.tif']}"]["objects"] == {f"s3://{bucket}/cold.tif": "needed"}

    table = cli("restore", "--status", env={"COLUMNS": "200"}).stdout
    local_row = next(line for line in table.splitlines() if "local.tif" in line or f"#{ids['local.tif']} " in line)
    cells = [cell.strip() for cell in local_row.split("│") if cell.strip()]
    assert cells[1:3] == ["1", "0"], local_row  # 1 object, 0 archived


def test_third_party_log_lines_only_with_verbose(tmp_path):
    """tifffile logs `ERROR tifffile: <TiffTag.fromfile> raised ...` while reading a truncated file
    it then rejects; the admin sees the one-line failure, the library's line only with --verbose."""
    import numpy as np
    import tifffile

    tifffile.imwrite(tmp_path / "t.ome.tif", np.zeros((1, 300, 200), np.uint8), tile=(64, 64))
    whole = (tmp_path / "t.ome.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(whole[: len(whole) // 3])

    quiet = cli("import", str(tmp_path / "cut.tif"))
    assert quiet.returncode == 1
    assert "tifffile" not in quiet.stderr and "tifffile" not in quiet.stdout, quiet.stderr
    assert "failed" in quiet.stdout + quiet.stderr and "truncated or corrupt" in quiet.stdout + quiet.stderr

    loud = cli("--verbose", "import", str(tmp_path / "cut.tif"))
    assert loud.returncode == 1
    assert "ERROR tifffile:" in loud.stderr, loud.stderr


def _lines(result) -> list[dict]:
    import json

    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_reimport_reports_moved_renamed_unchanged(tmp_path):
    import json

    path = _tiff(tmp_path / "cell.tif")
    (first,) = _lines(cli("import", str(path), "--project", "P", "--dataset", "D", "--json"))
    assert first["status"] == "imported"

    (same,) = _lines(cli("import", str(path), "--project", "P", "--dataset", "D", "--json"))
    assert same["status"] == "unchanged" and "detail" not in same

    (moved,) = _lines(cli("import", str(path), "--project", "P2", "--dataset", "D2", "--json"))
    assert moved["status"] == "moved" and moved["id"] == first["id"]
    assert moved["detail"] == "moved from P / D to P2 / D2"

    text = cli("import", str(path), "--name", "Kidney")
    assert text.returncode == 0, text.stderr
    *lines, summary = text.stderr.strip().splitlines()  # result lines and the summary go to stderr
    assert lines[0].split()[0] == "renamed" and "renamed from 'cell.tif' to 'Kidney'" in " ".join(lines)
    assert summary == "1 renamed"

    (row,) = json.loads(cli("ls", "--json").stdout)
    assert (row["name"], row["project"], row["dataset"]) == ("Kidney", "P2", "D2")
    (again,) = _lines(cli("import", str(path), "--json"))  # no options: nothing to change
    assert again["status"] == "unchanged" and again["name"] == "Kidney"


def test_reimport_of_a_prefix_moves_without_reading_the_images(tmp_path, import_urls_sync, services):
    from stratascope import catalogue

    folder = tmp_path / "run"
    folder.mkdir()
    for i in range(2):
        _tiff(folder / f"c{i}.tif", seed=i)
    prefix = str(folder) + "/"
    assert {r.status for r in import_urls_sync([prefix], project="P", dataset="D")} == {"imported"}
    assert {r.status for r in import_urls_sync([prefix], project="P", dataset="D")} == {"unchanged"}
    moved = import_urls_sync([prefix], project="P", dataset="E")  # the listing shortcut: nothing read again
    assert {(r.status, r.detail) for r in moved} == {("moved", "moved from P / D to P / E")}
    records, _ = catalogue.list_images(services.catalogue)
    assert {r.dataset_name for r in records} == {"E"}
