"""bench/latency_proxy.py: benchmarks get the tested proxy, and its command line works."""

from __future__ import annotations

import importlib.util
import signal
import socket
import socketserver
import subprocess
import sys
import threading
from pathlib import Path

from support.proxy import DelayProxy

SCRIPT = Path(__file__).parents[2] / "bench" / "latency_proxy.py"


def test_bench_module_reexports_the_tested_proxy():
    spec = importlib.util.spec_from_file_location("latency_proxy", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.DelayProxy is DelayProxy


class _Upper(socketserver.BaseRequestHandler):
    def handle(self):
        while data := self.request.recv(1024):
            self.request.sendall(data.upper())


def test_command_line_proxy_forwards_and_reports_on_interrupt():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Upper)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    target = f"127.0.0.1:{server.server_address[1]}"
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), target, "--delay-ms", "10"], stdout=subprocess.PIPE, text=True
    )
    try:
        banner = proc.stdout.readline()
        assert banner.startswith("proxy http://127.0.0.1:"), banner
        port = int(banner.split()[1].rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"hello")
            assert sock.recv(5) == b"HELLO"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
        assert "connections=1" in out
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        server.shutdown()
        server.server_close()
