"""Bounded load test: 50 concurrent clients, a few thousand tile and thumbnail requests.

`stratascope serve --workers 2` on 127.0.0.1 over moto's S3 server (behind the delaying
proxy, 20 ms RTT by default) serves three freshly imported images (OME-Zarr v0.4, v0.5
sharded, OME-TIFF pyramid; 2048x2048 uint16). Fifty asyncio clients (aiohttp) each send
requests one after another from a seeded random mix — 80 % tiles (any level, any
position, a few rendering settings), 20 % thumbnails (several sizes) — starting cold.
Reports throughput, p50/p95/p99 latency, errors (non-200 or transport failures) and the
peak RSS of the server (main process + workers, sampled every 50 ms with psutil).

Bounded: a fixed number of requests, a 120 s timeout per request and an overall deadline;
it always stops by itself.

    .venv/bin/python bench/load.py --quick          # 1000 requests
    .venv/bin/python bench/load.py                  # 5000 requests

Writes bench/results/load[-quick].md and .png.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import threading
import time

import common as C
import numpy as np

RENDERINGS = ["", "&c=1|0:4000$FF0000", "&c=1|0:2000$00FF00&m=c", "&q=0.5"]
THUMB_SIZES = ["", "64/", "128/", "256/"]


def request_mix(ids: list[int], total: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = []
    for _ in range(total):
        image_id = rng.choice(ids)
        if rng.random() < 0.2:
            out.append(("thumbnail", f"/webgateway/render_thumbnail/{image_id}/{rng.choice(THUMB_SIZES)}"))
        else:
            level = rng.randrange(4)
            n = max(1, (C.SIDE >> level) // C.CHUNK)
            path = (f"/webgateway/render_image_region/{image_id}/0/0/?tile={level},{rng.randrange(n)},"
                    f"{rng.randrange(n)}{rng.choice(RENDERINGS)}")
            out.append(("tile", path))
    return out


class RssSampler(threading.Thread):
    def __init__(self, server: C.Server, interval: float = 0.05):
        super().__init__(daemon=True)
        self.server, self.interval = server, interval
        self.peak = self.start_rss = server.rss_bytes()
        self.samples: list[tuple[float, int]] = []
        self.done = threading.Event()

    def run(self) -> None:
        t0 = time.perf_counter()
        while not self.done.wait(self.interval):
            rss = self.server.rss_bytes()
            self.peak = max(self.peak, rss)
            self.samples.append((time.perf_counter() - t0, rss))


async def run_load(base: str, mix: list[tuple[str, str]], clients: int, deadline_s: float) -> dict:
    import aiohttp

    results: list[tuple[str, float, bool]] = []
    pending = iter(mix)
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(base, connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
        async def client() -> None:
            for kind, path in pending:
                start = time.perf_counter()
                ok = False
                try:
                    async with session.get(path) as resp:
                        body = await resp.read()
                        ok = resp.status == 200 and resp.content_type == "image/jpeg" and len(body) > 0
                except (TimeoutError, aiohttp.ClientError):
                    pass
                results.append((kind, (time.perf_counter() - start) * 1000, ok))

        start = time.perf_counter()
        tasks = [asyncio.ensure_future(client()) for _ in range(clients)]
        done, unfinished = await asyncio.wait(tasks, timeout=deadline_s)
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        elapsed = time.perf_counter() - start
    return {"results": results, "seconds": elapsed, "timed_out": bool(unfinished)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1000 requests instead of 5000")
    parser.add_argument("--requests", type=int)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rtt-ms", type=float, default=20.0, help="simulated RTT to the bucket")
    parser.add_argument("--deadline", type=float, help="overall limit in seconds")
    args = parser.parse_args()
    total = args.requests or (1000 if args.quick else 5000)
    deadline = args.deadline or (240.0 if args.quick else 540.0)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with C.moto_stack() as stack:
        ids = C.import_urls(stack, [stack.url(n) for n in stack.samples])
        C.drop_chunk_cache(stack)
        with C.CountingProxy(stack.moto.port, args.rtt_ms) as proxy, \
                C.Server(stack.env(proxy.endpoint), args.workers) as server:
            sampler = RssSampler(server)
            sampler.start()
            cpu0 = server.cpu_seconds()
            print(f"{total} requests, {args.clients} clients, {args.rtt_ms:g} ms RTT ...", flush=True)
            run = asyncio.run(run_load(server.base, request_mix(list(ids.values()), total), args.clients, deadline))
            cpu_ms = (server.cpu_seconds() - cpu0) * 1000
            sampler.done.set()
            sampler.join()
            s3_requests, s3_bytes = proxy.counts()
    results = run["results"]
    rows = []
    for kind in ("tile", "thumbnail", "all"):
        lat = [ms for k, ms, _ in results if kind in ("all", k)]
        errors = sum(not ok for k, _, ok in results if kind in ("all", k))
        if lat:
            rows.append([kind, len(lat), f"{len(lat) / run['seconds']:.0f}", f"{C.percentile(lat, 50):.1f}",
                         f"{C.percentile(lat, 95):.1f}", f"{C.percentile(lat, 99):.1f}", f"{max(lat):.0f}", errors])
    mode = "quick run (--quick)" if args.quick else "full run"
    text = (f"# Load: {args.clients} concurrent clients\n\n{mode}. Machine: {C.machine_note()}.\n"
            f"Server: `stratascope serve --workers {args.workers}` over moto at {args.rtt_ms:g} ms RTT, cold start; "
            f"80 % tiles (all levels, 4 rendering settings), 20 % thumbnails (4 sizes), seeded mix.\n\n"
            + C.markdown_table(["requests", "n", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors"], rows)
            + f"\n\nCompleted {len(results)} of {total} requests in {run['seconds']:.1f} s"
            + (" (stopped at the deadline)" if run["timed_out"] else "")
            + f". Server RSS: {sampler.start_rss / 2**20:.0f} MiB at start, peak {sampler.peak / 2**20:.0f} MiB "
            f"(main process + {args.workers} workers). Server CPU: {cpu_ms / max(1, len(results)):.1f} ms per request. "
            f"S3 requests: {s3_requests} ({s3_bytes / 2**20:.1f} MiB).\n")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    if sampler.samples:
        t, rss = zip(*sampler.samples)
        ax1.plot(t, np.array(rss) / 2**20)
    ax1.set_xlabel("s")
    ax1.set_ylabel("server RSS (MiB)")
    ax1.set_title("memory under load")
    for kind in ("tile", "thumbnail"):
        lat = np.sort([ms for k, ms, _ in results if k == kind])
        if len(lat):
            ax2.plot(lat, np.linspace(0, 1, len(lat)), label=kind)
    ax2.set_xscale("log")
    ax2.set_xlabel("latency (ms)")
    ax2.set_ylabel("fraction of requests")
    ax2.legend()
    fig.suptitle(f"{args.clients} clients, {len(results)} requests ({mode})")
    C.write_result("load", args.quick, text, fig)


if __name__ == "__main__":
    main()
