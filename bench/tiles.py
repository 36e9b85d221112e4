"""Tiles: cold tile latency with request counts, and warm 256x256 JPEG tiles per second.

`stratascope serve --workers 2` on 127.0.0.1 serves three imported images (OME-Zarr v0.4,
v0.5 sharded, OME-TIFF pyramid; 2048x2048 uint16, 256x256 chunks) from moto's S3 server
behind a delaying proxy (which counts S3 requests and bytes).

  cold  every level-0 tile of each image requested once, one at a time, right after import
        (no chunk was ever read): latency and S3 requests per tile, at each --cold-rtt
  warm  then, with every tile of every level in the chunk caches, an asyncio (aiohttp) client
        keeps 8 / 16 / 32 requests in flight over all distinct tiles (no If-None-Match, so
        every answer is a fresh render + JPEG encode, never a 304): tiles per second, p50/p95

The load generator runs on the same machine and shares its CPUs with the server.

    .venv/bin/python bench/tiles.py --quick
    .venv/bin/python bench/tiles.py                  # target: >= 500 warm tiles/s on 2 cores

Writes bench/results/tiles[-quick].md and .png.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time

import common as C
import numpy as np


def tile_paths(image_id: int, side: int = C.SIDE, tile: int = C.CHUNK, levels: int = 4) -> list[str]:
    paths = []
    for level in range(levels):
        n = max(1, (side >> level) // tile)
        paths += [f"/webgateway/render_image_region/{image_id}/0/0/?tile={level},{c},{r}"
                  for r in range(n) for c in range(n)]
    return paths


async def fetch_all(base: str, paths: list[str], concurrency: int, total: int) -> dict:
    """`total` GETs cycling over `paths`, `concurrency` in flight; latencies and errors."""
    import aiohttp

    latencies, errors, sizes = [], 0, 0
    queue = itertools.islice(itertools.cycle(paths), total)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base, connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
        async def worker() -> None:
            nonlocal errors, sizes
            for path in queue:  # the shared iterator hands each path to exactly one worker
                start = time.perf_counter()
                try:
                    async with session.get(path) as resp:
                        body = await resp.read()
                        if resp.status != 200 or resp.content_type != "image/jpeg":
                            errors += 1
                        sizes += len(body)
                except (TimeoutError, aiohttp.ClientError):
                    errors += 1
                latencies.append((time.perf_counter() - start) * 1000)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return {"n": len(latencies), "seconds": elapsed, "errors": errors, "latencies": latencies,
            "mean_kib": sizes / max(1, len(latencies)) / 1024}


def cold_pass(server: C.Server, proxy: C.CountingProxy, ids: dict, per_image: int) -> list[list]:
    import urllib.request

    rows = []
    for name, image_id in ids.items():
        ms, reqs, kib = [], [], []
        for path in tile_paths(image_id, levels=1)[:per_image]:
            r0, b0 = proxy.counts()
            start = time.perf_counter()
            with urllib.request.urlopen(server.base + path, timeout=120) as resp:
                resp.read()
            ms.append((time.perf_counter() - start) * 1000)
            r1, b1 = proxy.counts()
            reqs.append(r1 - r0)
            kib.append((b1 - b0) / 1024)
        rows.append([name, f"{2 * proxy.delay_ms:g}", len(ms), f"{np.median(ms):.1f}", f"{C.percentile(ms, 95):.1f}",
                     f"{np.mean(reqs):.2f}", f"{max(reqs)}", f"{np.mean(kib):.0f}"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer requests (well under 2 minutes on a quiet machine)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--requests", type=int, help="warm requests per concurrency level")
    parser.add_argument("--cold-rtt", type=float, nargs="+", default=[0.0, 80.0], help="RTTs for the cold pass (ms)")
    args = parser.parse_args()
    total = args.requests or (600 if args.quick else 4000)
    per_image = 8 if args.quick else 64

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cold_rows, warm_rows, curves = [], [], {}
    with C.moto_stack() as stack:
        names = list(stack.samples)
        # one never-read copy of each image per cold RTT
        urls = {(name, rtt): C.copy_prefix(stack, stack.keys[name], f"rtt{rtt:g}-{stack.keys[name]}")
                for rtt in args.cold_rtt for name in names}
        print(f"importing {len(urls)} images ...", flush=True)
        ids = C.import_urls(stack, list(urls.values()))
        C.drop_chunk_cache(stack)
        for rtt in args.cold_rtt:
            with C.CountingProxy(stack.moto.port, rtt) as proxy, C.Server(stack.env(proxy.endpoint), args.workers) as server:
                print(f"cold pass at {rtt:g} ms RTT", flush=True)
                cold_rows += cold_pass(server, proxy, {n: ids[urls[(n, rtt)]] for n in names}, per_image)
                if rtt != args.cold_rtt[0]:
                    continue
                # warm: every tile of every image and level, read until both workers hold them
                paths = [p for n in names for p in tile_paths(ids[urls[(n, rtt)]])]
                print(f"warming {len(paths)} tiles", flush=True)
                asyncio.run(fetch_all(server.base, paths, 8, 3 * len(paths)))
                for concurrency in args.concurrency:
                    r0, cpu0, own0 = proxy.counts()[0], server.cpu_seconds(), time.process_time()
                    result = asyncio.run(fetch_all(server.base, paths, concurrency, total))
                    server_cpu_ms = (server.cpu_seconds() - cpu0) * 1000 / result["n"]
                    client_cpu_ms = (time.process_time() - own0) * 1000 / result["n"]
                    lat = result["latencies"]
                    rate = result["n"] / result["seconds"]
                    curves[concurrency] = lat
                    warm_rows.append([args.workers, concurrency, result["n"], f"{rate:.0f}", f"{np.median(lat):.1f}",
                                      f"{C.percentile(lat, 95):.1f}", f"{C.percentile(lat, 99):.1f}", result["errors"],
                                      proxy.counts()[0] - r0, f"{result['mean_kib']:.1f}", f"{server_cpu_ms:.2f}",
                                      f"{2000 / server_cpu_ms:.0f}", f"{client_cpu_ms:.2f}"])
                    print(f"  {concurrency} in flight: {rate:.0f} tiles/s", flush=True)
    mode = "quick run (--quick)" if args.quick else "full run"
    text = (f"# Tiles: cold latency and warm throughput\n\n{mode}. Machine: {C.machine_note()}.\n"
            f"Server: `stratascope serve --workers {args.workers}`; the load generator shares the machine.\n\n"
            "## Cold level-0 tiles (first read of each chunk; requests and KiB counted at the S3 proxy)\n\n"
            + C.markdown_table(["format", "RTT ms", "tiles", "median ms", "p95 ms", "S3 requests/tile (mean)",
                                "max requests", "KiB/tile"], cold_rows)
            + "\n\n## Warm 256x256 JPEG tiles (all chunks cached; distinct tiles, no If-None-Match)\n\n"
            + C.markdown_table(["workers", "in flight", "requests", "tiles/s", "p50 ms", "p95 ms", "p99 ms",
                                "errors", "S3 requests", "JPEG KiB", "server CPU ms/tile", "tiles/s if 2 free cores",
                                "client CPU ms/tile"], warm_rows)
            + "\n\n*server CPU ms/tile* is the CPU time (user + system, all server processes, from psutil) spent "
            "per tile during the run; *tiles/s if 2 free cores* = 2000 / that: the rate two cores would sustain "
            "if the server had them to itself (it does not count the load generator or other processes), a figure "
            "that a busy machine distorts much less than the wall-clock rate.\n")
    fig, ax = plt.subplots(figsize=(6, 4))
    for concurrency, lat in curves.items():
        ax.plot(np.sort(lat), np.linspace(0, 1, len(lat)), label=f"{concurrency} in flight")
    ax.set_xscale("log")
    ax.set_xlabel("warm tile latency (ms)")
    ax.set_ylabel("fraction of requests")
    ax.legend()
    ax.set_title(f"Warm 256² JPEG tiles, {args.workers} workers ({mode})")
    C.write_result("tiles", args.quick, text, fig)


if __name__ == "__main__":
    main()
