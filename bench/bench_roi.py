"""ROI bench: ``roi from-body`` against reading the whole labelmap, masks and point queries.

Writes a ``--size``³ labelmap (64³ blocks, zstd) of box-shaped bodies (16³ cells with
random ids, about 4,000 distinct labels at 256³) to a fresh RocksDB repository, then
times, in the same run:

* ``roi_from_body`` for a small and a large body, against **the limit**: reading
  every stored block (``get_subvolume`` of the whole volume), which is what a
  scan without a label index must at least do. Goal: at most 1.5x the limit.
  from-body reads only the blocks the body's label index names (``scanned``), so
  a small body costs far less than the limit.
  The numpy peer (``(vol == label)`` reduced to 32³ blocks, on the volume already in
  memory: no reading or decoding) is printed for context.
* ``ROI.mask`` of the whole volume's box against filling a uint8 array of that size
  (``np.ones``), and ``contains_points`` of 10^6 random points.

Usage: ``python bench/bench_roi.py [--size N]``. Prints the machine load (``uptime``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dvidctl import Repository
from dvidctl.api.roibody import roi_from_body
from dvidctl.geometry import Box

GOAL = 1.5


def best(fn: Callable[[], Any], repeat: int = 3) -> float:
    """Best wall time of ``repeat`` calls, in seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def volume(n: int, seed: int = 0) -> np.ndarray:
    """Box-shaped bodies: 16³ cells with random ids; one big body (label 1) fills a slab."""
    rng = np.random.default_rng(seed)
    cells = rng.integers(2, 2**40, (n // 16,) * 3, dtype=np.uint64)
    cells[: n // 64] = 1
    vol = cells.repeat(16, 0).repeat(16, 1).repeat(16, 2)
    vol[n // 2, n // 2, n // 2] = 7  # a one-voxel body
    return vol


def numpy_blocks(vol: np.ndarray, label: int) -> np.ndarray:
    """The peer: the 32³ blocks holding ``label``, by numpy on the volume in memory."""
    k = vol.shape[0] // 32
    hit = (vol == label).reshape(k, 32, k, 32, k, 32).any(axis=(1, 3, 5))
    return np.argwhere(hit)


def main() -> None:
    """Run the bench and print its table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=256, help="edge of the volume (multiple of 64)")
    args = ap.parse_args()
    n = args.size
    print(f"machine: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    print(f"cpus: {os.cpu_count()}, volume {n}³ uint64, labelmap 64³ blocks, ROI 32³ blocks")
    vol = volume(n)
    with tempfile.TemporaryDirectory() as tmp, Repository.init(Path(tmp) / "r") as repo:
        repo.new_instance("labelmap", "seg", {"BlockSize": "64,64,64"})
        repo.new_instance("roi", "r", {})
        seg = repo.head.instance("seg")
        seg.put_subvolume(vol, (0, 0, 0))
        box = Box((0, 0, 0), (n, n, n))
        t_limit = best(lambda: seg.get_subvolume(box))
        print(f"\nlimit: read every block            {t_limit:8.3f} s")
        rows = []
        for what, label in (("one-voxel body (7)", 7), ("large body (1)", 1)):
            t_ref = best(lambda label=label: numpy_blocks(vol, label), 1)
            t = best(lambda label=label: roi_from_body(repo.head, "seg", label, "r"))
            res = roi_from_body(repo.head, "seg", label, "r")
            rows.append((what, t, t / t_limit, t_ref, res.blocks, res.scanned))
        stored = len(seg.blocks.block_coords(0))
        print(f"{'from-body':28} {'s':>8} {'x limit':>8} {'numpy s':>8} {'ROI blocks':>10} "
              f"{'scanned':>8} of {stored}")  # fmt: skip
        for what, t, ratio, t_ref, blocks, scanned in rows:
            flag = "ok" if ratio <= GOAL else f"over the {GOAL}x goal"
            print(f"{what:28} {t:8.3f} {ratio:8.2f} {t_ref:8.3f} {blocks:10} {scanned:8}  {flag}")

        roi = repo.head.instance("r")
        k = n // 32
        roi.put_spans([[z, y, 0, k - 1] for z in range(0, k, 2) for y in range(k)])
        t_fill = best(lambda: np.ones((n, n, n), np.uint8))
        t_mask = best(lambda: roi.mask(box))
        print(f"\nmask of {n}³: {t_mask:.3f} s, np.ones of the same: {t_fill:.3f} s "
              f"({t_mask / t_fill:.2f}x)")  # fmt: skip
        pts = np.random.default_rng(1).integers(0, n, (10**6, 3))
        t_pts = best(lambda: roi.contains_points(pts))
        print(f"contains_points, 10^6 points: {t_pts:.3f} s ({1e6 / t_pts / 1e6:.2f} M points/s)")


if __name__ == "__main__":
    main()
