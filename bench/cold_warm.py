"""Cold and warm reads: stratascope on the bucket vs a FUSE mount vs fsspec, at 0/20/80 ms RTT.

The same 2048x2048 uint16 plane (OME-Zarr v0.4, v0.5 sharded, OME-TIFF pyramid; 256x256
chunks/tiles, 4 levels) sits in moto's S3 server on 127.0.0.1; a delaying proxy
(bench/latency_proxy.py, HTTP mode, which also counts requests and body bytes) sits between
every client and moto. Three clients:

  stratascope  `stratascope serve` subprocess, fetching /webgateway/ render_thumbnail,
               render_image_region (?tile=0,c,r 256x256 and ?region= 1024x1024), render_image
  fuse         tifffile / zarr-python reading files through an s3fs-fuse mount of the bucket
  fsspec       zarr-python / tifffile over fsspec's s3fs (a naive client)

Cold: stratascope reads an image it never served (a server-side copy, fresh chunk cache:
import-made thumbnails stay, by design); FUSE is remounted before every operation; fsspec
gets a new S3FileSystem. Warm: the same operation repeated. The OS page cache is dropped
where permitted. Naive clients only read pixels (no rendering or JPEG): that favours them.

    .venv/bin/python bench/cold_warm.py --quick     # 0 and 80 ms, 1 cold rep, <= 3 warm
    .venv/bin/python bench/cold_warm.py             # 0, 20, 80 ms, 3 cold reps, <= 10 warm

Warm repetitions stop after 4 s per case (at least 2), so slow FUSE cases stay bounded.

Writes bench/results/cold_warm[-quick].md and .png.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import subprocess
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

import common as C
import numpy as np

OPS = ["thumbnail", "tile 256", "region 1024", "overview"]
TILE = (1, 1)  # tile column, row: inside the upper-left quadrant
REGION = (1024, 1024, 1024)  # x, y, size: the lower-right quadrant (no chunk or shard shared with TILE)
WARM_BUDGET_S = 4.0


def warm_runs(args, fn, counter):
    """Up to args.warm repetitions, stopping after WARM_BUDGET_S (at least 2): bounded for slow cases."""
    start, out = time.perf_counter(), []
    while len(out) < args.warm and (len(out) < 2 or time.perf_counter() - start < WARM_BUDGET_S):
        out.append(timed(fn, counter))
    return out


def timed(fn, counter) -> tuple[float, int, int]:
    r0, b0 = counter()
    start = time.perf_counter()
    fn()
    ms = (time.perf_counter() - start) * 1000
    r1, b1 = counter()
    return ms, r1 - r0, b1 - b0


# -- (a) stratascope -----------------------------------------------------------------------

def stratascope_op(base: str, image_id: int, op: str):
    path = {
        "thumbnail": f"render_thumbnail/{image_id}/",
        "tile 256": f"render_image_region/{image_id}/0/0/?tile=0,{TILE[0]},{TILE[1]}",
        "region 1024": f"render_image_region/{image_id}/0/0/?region={REGION[0]},{REGION[1]},{REGION[2]},{REGION[2]}",
        "overview": f"render_image/{image_id}/",
    }[op]

    def run() -> None:
        with urllib.request.urlopen(f"{base}/webgateway/{path}", timeout=120) as resp:
            if resp.status != 200 or not resp.read():
                raise RuntimeError(f"{path}: HTTP {resp.status}")
    return run


def run_stratascope(stack, proxy, ids, copies, args, record) -> None:
    C.drop_chunk_cache(stack)  # nothing from an earlier RTT
    C.drop_page_cache()
    with C.Server(stack.env(proxy.endpoint)) as server:
        # a long-running server has its code paths loaded: warm them on an image not measured
        for op in OPS:
            stratascope_op(server.base, ids["warm-up"], op)()
        for name, urls in copies.items():
            for rep in range(args.reps):
                sessions = [(ids[urls[2 * rep]], ["thumbnail", "tile 256", "region 1024"]),
                            (ids[urls[2 * rep + 1]], ["overview"])]
                for image_id, ops in sessions:
                    for op in ops:
                        fn = stratascope_op(server.base, image_id, op)
                        m0 = server.source_counts()
                        ms, req, nbytes = timed(fn, proxy.counts)
                        m1 = server.source_counts()
                        if (m1[0] - m0[0], m1[1] - m0[1]) != (req, nbytes):
                            print(f"  note: /metrics says {m1[0] - m0[0]} req / {m1[1] - m0[1]} B, proxy {req} / {nbytes}")
                        record("stratascope", name, proxy, op, "cold", ms, req, nbytes)
                        if rep == 0:
                            for result in warm_runs(args, fn, proxy.counts):
                                record("stratascope", name, proxy, op, "warm", *result)


# -- (b) FUSE and (c) fsspec: tifffile / zarr-python ---------------------------------------

class NaiveReader:
    """Opens one sample lazily (zarr group or TIFF) and reads pixels the way a file-based server would."""

    def __init__(self, kind: str, open_zarr, open_file):
        self.kind, self.open_zarr, self.open_file = kind, open_zarr, open_file
        self._levels: dict[int, object] = {}
        self._tiff = None

    def level(self, index: int):  # -1 = coarsest
        if index not in self._levels:
            import tifffile
            import zarr

            if self.kind == "tiff":
                if self._tiff is None:
                    self._tiff = tifffile.TiffFile(self.open_file())
                levels = self._tiff.series[0].levels
                store = self._tiff.series[0].aszarr(level=index % len(levels))
                self._levels[index] = zarr.open_array(store, mode="r")
            else:
                group = zarr.open_group(self.open_zarr(), mode="r")
                attrs = group.attrs.asdict()
                multiscales = (attrs.get("ome") or attrs)["multiscales"][0]["datasets"]
                self._levels[index] = group[multiscales[index]["path"]]
        return self._levels[index]

    def run(self, op: str) -> np.ndarray:
        if op == "thumbnail":
            plane = self.level(-1)[...].reshape(self.level(-1).shape[-2:])
            step = max(1, int(np.ceil(max(plane.shape) / 96)))
            return plane[::step, ::step]
        full = self.level(0)
        if op == "tile 256":
            x, y = TILE[0] * 256, TILE[1] * 256
            return full[..., y:y + 256, x:x + 256]
        if op == "region 1024":
            x, y, s = REGION
            return full[..., y:y + s, x:x + s]
        return full[...]

    def close(self) -> None:
        if self._tiff is not None:
            self._tiff.close()


class FuseMount:
    def __init__(self, stack, endpoint: str):
        self.mnt = stack.tmp / "mnt"
        self.mnt.mkdir(exist_ok=True)
        self.passwd = stack.tmp / "s3fs-passwd"
        self.passwd.write_text("testing:testing\n")
        self.passwd.chmod(0o600)
        self.endpoint = endpoint

    def __enter__(self) -> Path:
        subprocess.run(["s3fs", C.BUCKET, str(self.mnt), "-o",
                        f"url={self.endpoint},use_path_request_style,endpoint=us-east-1,passwd_file={self.passwd}"],
                       check=True, capture_output=True, timeout=60)
        deadline = time.monotonic() + 30
        while not os.path.ismount(self.mnt):  # not a file check: that would warm s3fs's stat cache
            if time.monotonic() > deadline:
                raise RuntimeError("s3fs mount did not show the bucket")
            time.sleep(0.05)
        return self.mnt

    def __exit__(self, *exc) -> None:
        for _ in range(50):
            if subprocess.run(["umount", str(self.mnt)], capture_output=True).returncode == 0:
                return
            time.sleep(0.1)
        subprocess.run(["umount", "-l", str(self.mnt)], capture_output=True)


def fuse_reader(mnt: Path, path: Path) -> NaiveReader:
    target = mnt / path.name
    return NaiveReader("tiff" if path.suffix == ".tif" else "zarr", lambda: str(target), lambda: str(target))


def fsspec_reader(stack, endpoint: str, path: Path) -> NaiveReader:
    import s3fs
    import zarr

    options = {"endpoint_url": endpoint, "key": "testing", "secret": "testing", "skip_instance_cache": True}
    url = f"s3://{C.BUCKET}/{path.name}"

    def open_zarr():
        return zarr.storage.FsspecStore.from_url(url, storage_options=options, read_only=True)

    def open_file():
        return s3fs.S3FileSystem(**options).open(url, "rb")

    return NaiveReader("tiff" if path.suffix == ".tif" else "zarr", open_zarr, open_file)


def run_naive(client: str, stack, proxy, args, record) -> None:
    for name, path in stack.samples.items():
        for rep in range(args.reps):
            for op in OPS:
                with contextlib.ExitStack() as session:
                    if client == "fuse":
                        C.drop_page_cache()
                        reader = fuse_reader(session.enter_context(FuseMount(stack, proxy.endpoint)), path)
                    else:
                        reader = fsspec_reader(stack, proxy.endpoint, path)
                    session.callback(reader.close)

                    def run(reader=reader, op=op) -> None:  # bound now: the loop variables change
                        reader.run(op)

                    record(client, name, proxy, op, "cold", *timed(run, proxy.counts))
                    if rep == 0:
                        for result in warm_runs(args, run, proxy.counts):
                            record(client, name, proxy, op, "warm", *result)


# -- report --------------------------------------------------------------------------------

def report(samples: dict, args, page_cache: bool) -> tuple[str, object]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []
    for (client, name, rtt, op, state), values in samples.items():
        ms, req, nbytes = (np.array(v) for v in zip(*values))
        rows.append([client, name, f"{rtt:g}", op, state, len(values), f"{np.median(ms):.1f}",
                     f"{C.percentile(ms, 95):.1f}", f"{np.median(req):g}", f"{np.median(nbytes) / 1024:.0f}"])
    table = C.markdown_table(["client", "format", "RTT ms", "operation", "state", "n", "median ms", "p95 ms",
                              "requests/op", "KiB/op"], rows)
    mode = "quick run (--quick)" if args.quick else "full run"
    text = (f"# Cold vs warm: stratascope vs s3fs FUSE vs fsspec\n\n{mode}: RTTs {args.rtts} ms, "
            f"{args.reps} cold repetitions, {args.warm} warm repetitions per case.\n"
            f"Machine: {C.machine_note()}.\n"
            f"OS page cache dropped before cold cases: {'yes' if page_cache else 'no (not permitted here)'}.\n"
            "requests/op and KiB/op are medians, counted at the proxy in front of moto "
            "(every S3 request and response body byte).\n\n" + table + "\n")
    fig, axes = plt.subplots(1, len(OPS), figsize=(5 * len(OPS), 4.5), sharey=False)
    styles = {"stratascope": "-", "fuse": "--", "fsspec": ":"}
    markers = {"OME-Zarr v0.4": "o", "OME-Zarr v0.5 sharded": "s", "OME-TIFF pyramid": "^"}
    for ax, op in zip(axes, OPS):
        for client in styles:
            for name in markers:
                points = [(rtt, np.median([v[0] for v in samples[key]])) for rtt in args.rtts
                          if (key := (client, name, rtt, op, "cold")) in samples]
                if points:
                    ax.plot(*zip(*points), styles[client], marker=markers[name], label=f"{client} {name}")
        ax.set_title(f"cold {op}")
        ax.set_xlabel("RTT (ms)")
        ax.set_ylabel("median ms")
        ax.set_yscale("log")
    axes[-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.subplots_adjust(wspace=0.3)
    fig.suptitle(f"Cold reads through a delaying proxy: {mode}")
    return text, fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="0 and 80 ms, 1 cold and up to 3 warm repetitions")
    parser.add_argument("--rtts", type=float, nargs="+", help="round trips to simulate (ms)")
    parser.add_argument("--reps", type=int, help="cold repetitions per case")
    parser.add_argument("--warm", type=int, help="warm repetitions per case")
    parser.add_argument("--clients", nargs="+", default=["stratascope", "fuse", "fsspec"])
    args = parser.parse_args()
    args.rtts = args.rtts or ([0.0, 80.0] if args.quick else [0.0, 20.0, 80.0])
    args.reps = args.reps or (1 if args.quick else 3)
    args.warm = args.warm or (3 if args.quick else 10)
    if "fuse" in args.clients and not C.have("s3fs"):
        print("s3fs (the FUSE binary) is not installed: skipping the FUSE client")
        args.clients.remove("fuse")

    # fsspec's throw-away S3FileSystem instances (one per cold case) leave aiohttp sessions to the GC
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    samples: dict = defaultdict(list)

    def record(client, name, proxy, op, state, ms, req, nbytes) -> None:
        samples[(client, name, 2 * proxy.delay_ms, op, state)].append((ms, req, nbytes))

    with C.moto_stack() as stack:
        copies, ids = {}, {}
        if "stratascope" in args.clients:
            for name in stack.samples:  # two never-served copies per cold repetition
                key = stack.keys[name]
                copies[name] = [C.copy_prefix(stack, key, f"copy{i}-{key}") for i in range(2 * args.reps)]
            print(f"importing {sum(map(len, copies.values()))} images ...", flush=True)
            warm_up = C.copy_prefix(stack, stack.keys["OME-Zarr v0.4"], "warm-up.zarr")
            ids = C.import_urls(stack, [warm_up] + [u for urls in copies.values() for u in urls])
            ids["warm-up"] = ids[warm_up]
        page_cache = C.drop_page_cache()
        for rtt in args.rtts:
            with C.CountingProxy(stack.moto.port, rtt) as proxy:
                for client in args.clients:
                    print(f"RTT {rtt:g} ms: {client}", flush=True)
                    if client == "stratascope":
                        run_stratascope(stack, proxy, ids, copies, args, record)
                    else:
                        run_naive(client, stack, proxy, args, record)
    text, fig = report(samples, args, page_cache)
    C.write_result("cold_warm", args.quick, text, fig)


if __name__ == "__main__":
    main()
