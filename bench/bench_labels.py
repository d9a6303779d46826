"""Proofreading costs on a labelmap: merge, split, sparsevol and label-index upkeep.

A 512^3 volume (64^3 blocks) of about 10^4 bodies (supervoxels from a jittered
grid, several per body), written to a real RocksDB repository, then:

* **merge latency vs body size**: bodies of growing size merged into another;
  only the mapping and the two indexes are written, so the time must not follow
  the voxels (it follows the index rows: blocks x supervoxels);
* **split latency vs split voxels**: splits of growing parts of one body;
* **sparsevol throughput** against the limit measured in the same run: reading
  and decoding just the blocks the body's index names (no run finding);
  goal >= 0.8x;
* **index upkeep per written block**: the same 512^3 write into an instance with
  indexing and one without (``IndexedLabels=false``); goal <= 1.3x.

Run: ``.venv/bin/python bench/bench_labels.py [--size 512] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import os
import signal
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from bench_server import start_server  # the same `dvidctl serve` in its own process

from dvidctl import Repository
from dvidctl.datatypes.imageblk.codec import decode_into
from dvidctl.datatypes.imageblk.parallel import parallel_map
from dvidctl.datatypes.imageblk.scratch import scratch
from dvidctl.datatypes.labelmap.labelindex import decode_block_ids
from dvidctl.datatypes.labelmap.rewrite import runs_by_block
from dvidctl.datatypes.labelmap.sparsevol import Runs, scaled_blocks
from dvidctl.geometry import Box


def make_volume(size: int, bodies: int, seed: int = 0) -> tuple[np.ndarray, dict[int, int]]:
    """Supervoxels (one per body as written) on a jittered grid of ~``bodies`` cells."""
    rng = np.random.default_rng(seed)
    nsv = bodies
    cells = max(2, round(nsv ** (1 / 3)))
    edges = [
        np.sort(np.r_[0, rng.choice(np.arange(1, size), cells - 1, replace=False), size])
        for _ in range(3)
    ]
    ids = [np.searchsorted(e, np.arange(size), side="right") - 1 for e in edges]
    vol = (
        ids[0][:, None, None] * cells * cells
        + ids[1][None, :, None] * cells
        + ids[2][None, None, :]
        + 1
    ).astype(np.uint64)
    return vol, {}


def timed(fn, repeat: int = 1) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def cpu_timed(fn) -> float:  # type: ignore[no-untyped-def]
    """CPU seconds of one call, every thread of the process (steadier than wall on a shared box)."""
    t = time.process_time()
    fn()
    return time.process_time() - t


def upkeep(repo: Repository, vol: np.ndarray, other: np.ndarray, cfg: dict, repeat: int) -> None:
    """The same write with and without indexing, interleaved: fresh, same data, other data."""
    size = vol.shape[0]
    times: dict[str, list[float]] = {k: [] for k in ("fw", "fwo", "ow", "owo", "xw", "xwo")}
    for r in range(repeat):
        repo.new_instance("labelmap", f"up{r}", cfg)
        repo.new_instance("labelmap", f"plain{r}", {**cfg, "IndexedLabels": "false"})
        node = repo.head
        seg, plain = node.instance(f"up{r}"), node.instance(f"plain{r}")
        times["fwo"].append(timed(lambda: plain.put_subvolume(vol)))  # noqa: B023
        times["fw"].append(timed(lambda: seg.put_subvolume(vol)))  # noqa: B023
        times["owo"].append(timed(lambda: plain.put_subvolume(vol)))  # noqa: B023
        times["ow"].append(timed(lambda: seg.put_subvolume(vol)))  # noqa: B023
        times["xwo"].append(timed(lambda: plain.put_subvolume(other)))  # noqa: B023
        times["xw"].append(timed(lambda: seg.put_subvolume(other)))  # noqa: B023
    nblocks = (size // 64) ** 3
    best = {k: min(v) for k, v in times.items()}
    print(f"\nwrite {size}^3 ({nblocks} blocks + 2 pyramid levels), best of {repeat}")
    print("| write | without index s | with index s | ms/block without | with | ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, w, wo in (
        ("fresh (ingest)", "fw", "fwo"),
        ("over the same data (blocks unchanged)", "ow", "owo"),
        ("over other data (old blocks decoded)", "xw", "xwo"),
    ):
        a, b = best[wo], best[w]
        print(
            f"| {name} | {a:.2f} | {b:.2f} | {a / nblocks * 1e3:.2f} | "
            f"{b / nblocks * 1e3:.2f} | {b / a:.2f}x |"
        )


def million(repo: Repository, cfg: dict, nsv: int) -> None:
    """Index upkeep at scale: a 256^3 write of ~``nsv`` supervoxels, one index key each."""
    vol, _ = make_volume(256, nsv)
    other, _ = make_volume(256, nsv, seed=1)
    n = len(np.unique(vol))
    repo.new_instance("labelmap", "big", cfg)
    repo.new_instance("labelmap", "bigplain", {**cfg, "IndexedLabels": "false"})
    seg, plain = repo.head.instance("big"), repo.head.instance("bigplain")
    print(f"\n{n} supervoxels in 256^3 (64 blocks + 2 pyramid levels), one write each")
    print(
        "| write | without index s | with index s | ratio | us per supervoxel "
        "| CPU s without | with | CPU us per supervoxel |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, arr in (("fresh (ingest)", vol), ("over other data", other)):
        ca = time.process_time()
        a = timed(lambda arr=arr: plain.put_subvolume(arr))
        cb = time.process_time()
        b = timed(lambda arr=arr: seg.put_subvolume(arr))
        cc = time.process_time()
        ua, ub = cb - ca, cc - cb
        print(
            f"| {name} | {a:.2f} | {b:.2f} | {b / a:.1f}x | {(b - a) / n * 1e6:.1f} "
            f"| {ua:.2f} | {ub:.2f} | {(ub - ua) / n * 1e6:.1f} |"
        )
    some = np.unique(other[:16].reshape(-1))[:1000].tolist()
    t = time.perf_counter()
    sizes = seg.sizes(some)
    assert sum(sizes) > 0
    print(f"sizes of 1000 bodies: {(time.perf_counter() - t) * 1e3:.0f} ms")


def merges(seg, svs: np.ndarray) -> int:  # type: ignore[no-untyped-def]
    """Group supervoxels 4 by 4, then grow one body by merges (latency vs body size)."""
    t = time.perf_counter()
    groups = min(len(svs) // 4, 1000)
    for i in range(0, 4 * groups, 4):
        seg.merge(int(svs[i]), [int(v) for v in svs[i + 1 : i + 4]])
    print(f"\n{groups} merges of 4 supervoxels into bodies: {time.perf_counter() - t:.2f} s")
    print("\nmerge latency vs body size (each merge adds a 4-supervoxel body)")
    print("| body voxels | index rows | merge ms |")
    print("|---:|---:|---:|")
    target = int(svs[0])
    for step in range(1, min(160, groups)):
        other = int(svs[4 * step])
        t = time.perf_counter()
        seg.merge(target, [other])
        dt = time.perf_counter() - t
        if step in (1, 2, 5, 10, 20, 40, 80, 159) or step == groups - 1:
            idx = seg.index(target)
            print(f"| {idx.num_voxels} | {len(idx)} | {dt * 1e3:.2f} |")
    return target


def splits(seg, target: int) -> None:  # type: ignore[no-untyped-def]
    """Split latency vs split voxels.

    Disjoint z slabs (every split cuts supervoxels), then small splits inside one
    block of the supervoxels spanning most blocks: their other blocks are only
    renamed (old -> Remain id, every scale), so the time should follow the split's
    voxels, not the supervoxel's blocks. "blocks cut" are under the split voxels
    (split, downres'd); "blocks relabelled" hold a split supervoxel elsewhere.
    """
    print("\nsplit latency vs split voxels (disjoint z slabs of the grown body)")
    print("| split voxels | blocks cut | blocks relabelled | split ms |")
    print("|---:|---:|---:|---:|")
    body = seg.sparsevol(target)
    zs = np.unique(body.starts[:, 0])
    z = int(zs[0])
    for planes in (1, 4, 16):
        keep = (body.starts[:, 0] >= z) & (body.starts[:, 0] < z + planes)
        if not keep.any():
            break
        part = Runs(body.starts[keep], body.lengths[keep])
        cut = set(runs_by_block(part, (64, 64, 64)))
        before = seg.index(target)
        t = time.perf_counter()
        seg.split(target, part)
        dt = time.perf_counter() - t
        held: set[tuple[int, ...]] = set()
        for sv in seg.mutations()[-1]["SVSplits"]:
            held |= {tuple(c) for c in before.block_coords(int(sv)).tolist()}
        print(f"| {part.num_voxels} | {len(cut)} | {len(held - cut)} | {dt * 1e3:.1f} |")
        z += planes + 3
    print("\nsplit latency inside one block of a supervoxel spanning several blocks")
    print("| split voxels | sv blocks | blocks cut | blocks relabelled | split ms |")
    print("|---:|---:|---:|---:|---:|")
    idx = seg.index(target)
    spans = [(len(idx.block_ids(int(v))), int(v)) for v in np.unique(idx.svs)]
    for want, (nblk, sv) in zip((1, 512, 4096), sorted(spans, reverse=True), strict=False):
        rows = idx.svs == np.uint64(sv)  # split in the block holding most of it
        most = idx.blocks[rows][np.argmax(idx.counts[rows])]
        c = [int(v) * 64 for v in decode_block_ids(np.array([most]))[0]]
        box = Box((c[0], c[1], c[2]), (c[0] + 64, c[1] + 64, c[2] + 64))
        runs = seg.sparsevol(sv, supervoxels=True, bounds=box)
        ahead = np.cumsum(runs.lengths) - runs.lengths  # voxels before each run
        keep = ahead < want
        part = Runs(runs.starts[keep], np.minimum(runs.lengths[keep], want - ahead[keep]))
        t = time.perf_counter()
        seg.split(target, part)
        dt = time.perf_counter() - t
        print(f"| {part.num_voxels} | {nblk} | 1 | {nblk - 1} | {dt * 1e3:.1f} |")


def sparsevols(seg, labels: list[int], repeat: int, url: str | None) -> None:  # type: ignore[no-untyped-def]
    """sparsevol (Python API, and HTTP GET when ``url``) against the limit, interleaved."""
    print(f"\nsparsevol vs the limit (decode the blocks the index names), best of {3 * repeat}")
    print(
        "| body voxels | blocks | sparsevol ms | limit ms | ratio (limit/sparsevol) "
        "| HTTP GET ms | HTTP ratio | sparsevol CPU ms | limit CPU ms | CPU ratio |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    dt = np.dtype(np.uint64)
    client = httpx.Client(timeout=60)  # one connection, kept (a new client costs ~100 ms)
    for label in labels:
        idx = seg.index(label)
        coords = scaled_blocks(idx.block_coords(), 0)

        def limit(coords: np.ndarray = coords) -> None:
            # the same fetch and the same thread pool, decoding only
            found = seg.blocks.payloads(0, coords)
            parallel_map(
                lambda p: decode_into(p, scratch((64, 64, 64), dt, "lim")),
                list(found.values()),
                min_items=2,
            )

        def sparse(label: int = label) -> None:
            seg.sparsevol(label)

        def http(label: int = label) -> None:
            r = client.get(f"{url}/sparsevol/{label}")
            r.raise_for_status()

        lims, svs, gets, lim_cpu, sv_cpu = [], [], [], [], []
        for _ in range(3 * repeat):  # interleaved: the machine's load moves between runs
            lims.append(timed(limit))
            lim_cpu.append(cpu_timed(limit))
            svs.append(timed(sparse))
            sv_cpu.append(cpu_timed(sparse))
            if url is not None:
                gets.append(timed(http))
        lim, sv = min(lims), min(svs)
        http_cols = f"{min(gets) * 1e3:.1f} | {lim / min(gets):.2f}x" if gets else "- | -"
        lc, sc = min(lim_cpu), min(sv_cpu)
        print(
            f"| {idx.num_voxels} | {len(coords)} | {sv * 1e3:.1f} | {lim * 1e3:.1f} | "
            f"{lim / sv:.2f}x | {http_cols} | {sc * 1e3:.1f} | {lc * 1e3:.1f} | {lc / sc:.2f}x |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--bodies", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", default=None)
    ap.add_argument(
        "--parts",
        default="upkeep,merge,split,sparsevol,http,million",
        help="comma-separated: upkeep, merge, split, sparsevol, http, million (merges always run)",
    )
    ap.add_argument("--million", type=int, default=1_000_000, help="supervoxels of 'million'")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    size = args.size
    print(f"load: {os.getloadavg()[0]:.2f} (uptime)")
    vol, _ = make_volume(size, args.bodies)
    print(f"volume {size}^3, {len(np.unique(vol))} supervoxels")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        repo = Repository.init(Path(tmp) / "r")
        cfg = {"BlockSize": "64,64,64", "MaxDownresLevel": "2"}
        if "million" in parts:
            million(repo, cfg, args.million)
        if "upkeep" in parts:
            other, _ = make_volume(size, args.bodies, seed=1)  # other labels, other cells
            upkeep(repo, vol, other, cfg, args.repeat)
        repo.new_instance("labelmap", "seg", cfg)
        seg = repo.head.instance("seg")
        seg.put_subvolume(vol)
        svs = np.unique(vol)
        target = merges(seg, svs)
        if "split" in parts:
            splits(seg, target)
        if "sparsevol" not in parts:
            repo.close()
            return
        # a supervoxel alone, a body of 4 (those the merges left), the grown body
        groups = min(len(svs) // 4, 1000)  # as merges() grouped them
        alone = [int(svs[-1])] if len(svs) > 4 * groups else []
        four = [int(svs[4 * 170])] if groups > 170 else []
        labels = [*alone, *four, target]
        uuid = repo.head.uuid
        url = None
        proc = None
        if "http" in parts:
            repo.close()
            proc, base = start_server(Path(tmp) / "r")
            url = f"{base}/api/node/{uuid}/seg"
            repo = Repository.open(Path(tmp) / "r", read_only=True)
            seg = repo.head.instance("seg")
        try:
            sparsevols(seg, labels, args.repeat, url)
        finally:
            if proc is not None:
                proc.send_signal(signal.SIGINT)
                proc.wait(30)
            repo.close()


if __name__ == "__main__":
    main()
