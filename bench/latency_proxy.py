"""Latency / fault proxy for benchmarks: the same DelayProxy the tests use.

The implementation lives in tests/support/proxy.py (one copy, tested there); benchmarks
import it from here:

    from latency_proxy import DelayProxy          # a script in bench/ has bench/ on sys.path

Or run it standalone in front of any S3 endpoint, e.g. to feel a 40 ms RTT by hand:

    .venv/bin/python bench/latency_proxy.py 127.0.0.1:9000 --delay-ms 20
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.proxy import DelayProxy  # noqa: E402

__all__ = ["DelayProxy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", help="HOST:PORT to forward to")
    parser.add_argument("--delay-ms", type=float, default=20.0, help="one-way delay per direction")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (127.0.0.1); 0 = any free")
    parser.add_argument("--fault-rate-503", type=float, default=0.0)
    parser.add_argument("--reset-mid-body-rate", type=float, default=0.0)
    parser.add_argument("--truncate-rate", type=float, default=0.0)
    parser.add_argument("--stall-seconds", type=float, default=0.0)
    args = parser.parse_args()
    host, _, port = args.target.rpartition(":")
    proxy = DelayProxy(
        host or "127.0.0.1", int(port), args.delay_ms, listen_port=args.port,
        fault_rate_503=args.fault_rate_503, reset_mid_body_rate=args.reset_mid_body_rate,
        truncate_rate=args.truncate_rate, stall_seconds=args.stall_seconds,
    ).start()
    print(f"proxy {proxy.endpoint} -> {args.target}, {args.delay_ms} ms each way; Ctrl-C stops", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        proxy.stop()
        print(f"connections={proxy.connections} requests={proxy.requests} faults={dict(proxy.faults)}")


if __name__ == "__main__":
    main()
