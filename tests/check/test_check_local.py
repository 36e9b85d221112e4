"""`stratascope check` on a local folder (file:// URL), and the command line itself:
JSON, Markdown report, exit statuses."""

from __future__ import annotations

import json
import os

import typer
from typer.testing import CliRunner

from stratascope.check import PASS, WARN, run_check
from stratascope.cli import check as check_cli

MIB = 1024 * 1024
ITEM_KEYS = {"id", "title", "status", "figure", "meaning"}


def _folder(tmp_path, files=1200):
    data = tmp_path / "data"
    (data / "chunks").mkdir(parents=True)
    (data / "big.bin").write_bytes(os.urandom(2 * MIB))
    for i in range(files):  # more than one 1000-key page
        (data / "chunks" / f"{i:05d}").write_bytes(b"x" * 16)
    return data


def _snapshot(root):
    return sorted((p, os.stat(p).st_mtime_ns) for p in map(str, root.rglob("*")))


def _app():
    app = typer.Typer()
    check_cli.register(app)
    app.command("noop")(lambda: None)  # a second command keeps `check` a named sub-command
    return app


def test_local_folder_read_only(tmp_path, services):
    data = _folder(tmp_path)
    before = _snapshot(tmp_path)
    items = {item.id: item for item in run_check(services, f"file://{data}")}
    assert _snapshot(tmp_path) == before
    assert items["listing"].status == PASS and "1201 distinct keys" in items["listing"].figure
    assert items["delimiter"].status == PASS and items["delimiter"].figure.startswith("1 common prefixes, 1 objects")
    assert items["range"].status == PASS and str(2 * MIB) in items["range"].figure
    assert items["missing"].status == PASS
    assert items["versioning"].status == WARN
    assert items["parallel"].figure.count("p50") == 4
    assert items["thumbnail_estimate"].figure == "0 store requests after import"


def test_local_write_probe_leaves_nothing(tmp_path, services):
    data = _folder(tmp_path, files=3)
    items = {item.id: item for item in run_check(services, str(data), write_probe=str(tmp_path / "scratch" / "probe"))}
    assert items["read_after_write"].status == PASS and items["list_after_write"].status == PASS
    assert items["write_cleanup"].status == PASS
    assert not (tmp_path / "scratch").exists()  # the folders the probe made are gone too


def test_cli_json_report_and_exit_status(tmp_path):
    data = _folder(tmp_path, files=3)
    report = tmp_path / "report.md"
    result = CliRunner().invoke(_app(), ["check", str(data), "--json", "--report", str(report)])
    assert result.exit_code == 0, result.output
    items = json.loads(result.output)
    assert items and all(set(item) == ITEM_KEYS for item in items)
    assert {item["status"] for item in items} <= {"pass", "warn", "fail"}
    text = report.read_text()
    assert text.startswith(f"# Storage check: `{data}`")
    assert all(f"(`{item['id']}`)" in text for item in items)

    table = CliRunner().invoke(_app(), ["check", str(data)])
    assert table.exit_code == 0 and "Ranged GET support" in table.output


def test_cli_fail_and_usage_errors(tmp_path):
    missing = CliRunner().invoke(_app(), ["check", str(tmp_path / "nothing-here"), "--json"])
    assert missing.exit_code == 0, missing.output  # an empty prefix is a warning, not a failure
    first = json.loads(missing.output)[0]
    assert first["id"] == "connectivity" and first["status"] == "warn" and "listed 0 objects" in first["figure"]
    bad_scheme = CliRunner().invoke(_app(), ["check", "ftp://host/x"])
    assert bad_scheme.exit_code == 2 and "unsupported URL scheme" in bad_scheme.output
    no_arg = CliRunner().invoke(_app(), ["check"])
    assert no_arg.exit_code == 2


def test_cli_exit_1_when_an_item_fails(moto_server):
    result = CliRunner().invoke(_app(), ["check", "s3://no-such-bucket-for-cli/x", "--json"])
    assert result.exit_code == 1, result.output
    assert json.loads(result.output)[0]["status"] == "fail"
