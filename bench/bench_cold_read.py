"""Issue 8.11 bench: the first read after a large write, against the same read repeated.

On a fresh repository, ``put subvolume`` of one uint8 volume (default 1024^3,
random bytes: as incompressible as EM), then ``get subvolume`` of the whole
volume twice, each a separate ``python -m dvidctl`` process as a user would run
them. RocksDB's SST writer drops the file it writes from the page cache, so the
first get used to read from the disk; bulk writes now read the file back
(``dvidctl/store/pagecache.py``). Runs with that on and off (``DVIDCTL_WARM=0``; then
the first get reads from the disk), and off without the kernel's readahead
(``DVIDCTL_READAHEAD=0``: RocksDB's advice that files are read at random),
and prints the put time, the share of the table files in the page cache right
after the put (``fincore``, else mincore through ctypes), the first and the
repeated get, and their ratio. The goal: first get within 1.3x of the repeated one.

Usage: ``python bench/bench_cold_read.py [--size N] [--quick]``.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import mmap
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from clitime import dvidctl

GOAL = 1.3


def resident_bytes(path: Path) -> int:
    """Bytes of ``path`` in the page cache (``fincore``; mincore(2) where it is missing)."""
    if shutil.which("fincore"):
        out = subprocess.run(
            ["fincore", "--bytes", "--noheadings", "--raw", "--output", "RES", str(path)],
            capture_output=True,
            text=True,
        ).stdout.split()
        if out:
            return int(out[0])
    size = path.stat().st_size
    if size == 0:
        return 0
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    page = mmap.PAGESIZE
    with open(path, "rb") as f, mmap.mmap(f.fileno(), size, access=mmap.ACCESS_COPY) as m:
        vec = (ctypes.c_ubyte * ((size + page - 1) // page))()
        addr = ctypes.addressof(ctypes.c_char.from_buffer(m))  # type: ignore[arg-type]
        if libc.mincore(ctypes.c_void_p(addr), ctypes.c_size_t(size), vec) != 0:
            return -1
        return sum(b & 1 for b in vec) * page


def run(root: Path, volume: Path, size: int, warm: bool, readahead: bool) -> dict[str, float]:
    """Put then get twice on a fresh repository."""
    repo = root / f"{'warm' if warm else 'cold'}-{'ra' if readahead else 'nora'}"
    repo.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "DVIDCTL_REPO"}
    env["DVIDCTL_WARM"] = "1" if warm else "0"
    env["DVIDCTL_READAHEAD"] = "1" if readahead else "0"
    dvidctl(["init"], repo, env)
    dvidctl(["new", "uint8blk", "g"], repo, env)
    put = dvidctl(["put", "subvolume", "g", str(volume)], repo, env)
    ssts = list((repo / ".dvid" / "db").glob("*.sst"))
    total = sum(p.stat().st_size for p in ssts)
    cached = sum(resident_bytes(p) for p in ssts)
    edge = f"{size},{size},{size}"
    get = ["get", "subvolume", "g", "--offset", "0,0,0", "--size", edge, "-o", "/dev/null"]
    first = dvidctl(get, repo, env)
    again = dvidctl(get, repo, env)
    shutil.rmtree(repo)
    return {"put": put, "stored": total, "cached": cached, "first": first, "again": again}


def main(argv: list[str]) -> int:
    """Run both modes and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1024, help="edge of the cubic volume")
    ap.add_argument("--quick", action="store_true", help="512^3")
    args, _ = ap.parse_known_args(argv)
    size = 512 if args.quick else args.size
    with tempfile.TemporaryDirectory(prefix="bench_cold_read_") as tmp:
        root = Path(tmp)
        volume = root / "v.npy"
        np.save(volume, np.random.default_rng(0).integers(0, 256, (size,) * 3, dtype=np.uint8))
        print(f"put, then get twice, of a {size}^3 uint8 volume ({size**3 / 1e6:.0f} MB)")
        modes = (
            ("on", True, True),
            ("off (DVIDCTL_WARM=0)", False, True),
            ("off, and no readahead (DVIDCTL_READAHEAD=0 too)", False, False),
        )
        results = {label: run(root, volume, size, w, ra) for label, w, ra in modes}
    print()
    print(
        "| read back after ingestion | put s | stored MB | cached after put "
        "| first get s | repeated get s | first / repeated |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, r in results.items():
        print(
            f"| {label} | {r['put']:.2f} "
            f"| {r['stored'] / 1e6:.0f} | {r['cached'] / 1e6:.0f} MB "
            f"({100 * r['cached'] / max(1, r['stored']):.0f}%) | {r['first']:.2f} "
            f"| {r['again']:.2f} | {r['first'] / r['again']:.2f} |"
        )
    ratio = results["on"]["first"] / results["on"]["again"]
    print()
    print(f"first get / repeated get with the read-back: {ratio:.2f} (goal <= {GOAL})")
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
