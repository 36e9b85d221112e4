"""Run the `stratascope` command line in-process, with a subprocess-like result.

Most CLI tests check what a command does (JSON lines, exit statuses, files, the catalogue),
not the process boundary; starting `python -m stratascope` costs ~2 s of imports per call.
`run_cli` invokes the same typer app that `stratascope.cli.main` runs; each invocation builds
its own services from the environment (as a new process would) and closes them when the
command ends, so nothing it opened leaks into the test. The environment given, stdin, and
WARNING logs on stderr are as `main()` configures them. Tests of the boundary itself (`--help`,
usage errors, `serve`) still start real processes: see `real_cli`.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import traceback
from dataclasses import dataclass


@dataclass
class CliResult:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str


_registered = False


def _app():
    global _registered
    from stratascope import cli

    if not _registered:  # main() registers the optional commands on first use, once per process
        cli._register()
        _registered = True
    return cli.app


def run_cli(*args: str, stdin: str | None = None, env: dict[str, str] | None = None,
            timeout: float | None = None) -> CliResult:
    """`stratascope *args` in this process. `env` replaces the environment for the call
    (like subprocess's env=); `timeout` is accepted for symmetry and left to pytest-timeout."""
    from typer.testing import CliRunner

    app = _app()
    runner = CliRunner()
    changes: dict[str, str | None] | None = None
    if env is not None:
        changes = {key: None for key in os.environ if key not in env}
        changes.update(env)
    root = logging.getLogger()
    saved_level = root.level

    class _ToStderr(logging.StreamHandler):
        def emit(self, record):  # the stream is the runner's stderr of this call
            self.stream = sys.stderr
            super().emit(record)

    handler = _ToStderr()
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    if root.level > logging.WARNING or root.level == logging.NOTSET:
        root.setLevel(logging.WARNING)
    try:
        result = runner.invoke(app, list(args), input=stdin, env=changes, catch_exceptions=True)
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_level)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        # what the process would have printed: the traceback, exit status 1
        stderr += "".join(traceback.format_exception(result.exception))
    return CliResult(["stratascope", *args], result.exit_code, result.stdout, stderr)


def real_cli(*args: str, stdin: str | None = None, env: dict[str, str] | None = None,
             timeout: float = 180) -> subprocess.CompletedProcess:
    """`python -m stratascope *args` as a real process (for tests of the process boundary)."""
    return subprocess.run([sys.executable, "-m", "stratascope", *args], capture_output=True, text=True,
                          input=stdin, timeout=timeout, env=dict(os.environ) if env is None else env)
