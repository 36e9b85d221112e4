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
