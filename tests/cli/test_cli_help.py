"""--help as a person reads it: no internal type names, every command says what it does (issue 15 #8)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

#: Walks the real command tree in one real process (a process per command costs seconds each).
WALK = r"""
import contextlib, io, json, sys
from stratascope.cli import _register, build_command
_register()
root = build_command()
out = {}
def walk(command, path):
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        try:
            root.main([*path, "--help"], prog_name="stratascope", standalone_mode=False)
        except SystemExit:
            pass
    out[" ".join(path)] = {"help": buffer.getvalue(), "short": command.get_short_help_str(200)}
    for name, sub in getattr(command, "commands", {}).items():
        walk(sub, [*path, name])
walk(root, [])
print(json.dumps(out))
"""

#: What typer prints when a parameter has no metavar: `<bool>`, `<list[str]>`, `<int range>`,
#: `<str>`, `<path>`, and `{urls}` for a required argument in the usage line.
TYPE_NAME = re.compile(r"<(bool|str|int|float|path|list\[[^\]]*\]|int range|float range|datetime|[a-z_]+)>|\{[a-z_]+\}")


def _env() -> dict:
    return {**os.environ, "COLUMNS": "200", "TERM": "dumb"}


def test_every_help_has_no_type_names_and_a_description():
    result = subprocess.run([sys.executable, "-c", WALK], capture_output=True, text=True, timeout=300, env=_env())
    assert result.returncode == 0, result.stderr
    pages = json.loads(result.stdout)
    assert {"", "import", "user list", "group list", "group member remove", "cache warm"} <= set(pages)
    typed = {path: TYPE_NAME.findall(page["help"]) for path, page in pages.items() if TYPE_NAME.search(page["help"])}
    assert not typed, typed
    undescribed = [path for path, page in pages.items() if path and not page["short"].strip()]
    assert not undescribed, undescribed
    for path, page in pages.items():
        assert "Usage: stratascope" in page["help"], path


def test_real_process_help_of_import():
    result = subprocess.run([sys.executable, "-m", "stratascope", "import", "--help"], capture_output=True,
                            text=True, timeout=120, env=_env())
    assert result.returncode == 0, result.stderr
    assert "Usage: stratascope import [OPTIONS] URL..." in result.stdout
    assert not TYPE_NAME.search(result.stdout), result.stdout
    assert "--verbose" in subprocess.run([sys.executable, "-m", "stratascope", "--help"], capture_output=True,
                                         text=True, timeout=120, env=_env()).stdout
