"""Issue 8.5 bench: space after repeated overwrites through the CLI, and what reclaiming costs.

Writes one uint8 volume (default 512^3, random bytes: as incompressible as EM)
``--writes`` times at the same offset of the same open node, each write a
separate ``python -m dvidctl put subvolume`` process, as a user would. Once with
the space policy of ``dvidctl/store/space.py`` (a read-write close compacts the
written range when its table files hold over 1.25x their live estimate), once
with it off (``DVIDCTL_COMPACT=0``). Prints, per write, the seconds the command
took, the MB/s of voxels, and the size of ``.dvid`` afterwards; then the mean
throughput of each mode and the final sizes against one copy (the size after
the first write). The goal: ``.dvid`` within 1.5x of one copy after every write.

Usage: ``python bench/bench_space.py [--size N] [--writes N] [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from clitime import dvidctl

GOAL = 1.5


def du(path: Path) -> int:
    """Bytes of the regular files under ``path`` (allocated size, as ``du``)."""
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file())


def run(root: Path, volumes: list[Path], writes: int, compact: bool) -> list[tuple[float, int]]:
    """Init a repository, write the volumes in turn; (seconds, .dvid bytes) per write."""
    repo = root / ("compact" if compact else "nocompact")
    repo.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "DVIDCTL_REPO"}
    env["DVIDCTL_COMPACT"] = "1" if compact else "0"
    dvidctl(["init"], repo, env)
    dvidctl(["new", "uint8blk", "g"], repo, env)
    out = []
    for i in range(writes):
        seconds = dvidctl(["put", "subvolume", "g", str(volumes[i % len(volumes)])], repo, env)
        out.append((seconds, du(repo / ".dvid")))
    logs = len(list((repo / ".dvid" / "db").glob("LOG*")))
    print(f"  {'with' if compact else 'without'} compaction: {logs} info log files at the end")
    if compact:
        in_process(repo, volumes[writes % len(volumes)])
    shutil.rmtree(repo)
    return out


def in_process(repo: Path, volume: Path) -> None:
    """One more overwrite through the Python API, timing the write and the compacting close."""
    from dvidctl import Repository
    from dvidctl.store.rocks import RocksEngine

    vol = np.load(volume)
    r = Repository.open(repo)
    t0 = time.perf_counter()
    r.head.instance("g").put_subvolume(vol, (0, 0, 0))
    t1 = time.perf_counter()
    r.close()
    t2 = time.perf_counter()
    engine = r.engine
    assert isinstance(engine, RocksEngine)
    c = engine.last_compaction
    print(
        f"  one more overwrite in-process: write {t1 - t0:.2f} s, close {t2 - t1:.2f} s"
        + (
            f" of which compaction {c.seconds:.2f} s ({c.before.files} files, "
            f"{c.before.total_bytes / 1e6:.0f} MB -> {c.after.total_bytes / 1e6:.0f} MB)"
            if c is not None and c.after is not None
            else " (no compaction)"
        )
    )


def main(argv: list[str]) -> int:
    """Run the comparison and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512, help="edge of the cubic volume")
    ap.add_argument("--writes", type=int, default=8)
    ap.add_argument("--quick", action="store_true", help="256^3, 4 writes")
    args, _ = ap.parse_known_args(argv)
    size, writes = (256, 4) if args.quick else (args.size, args.writes)
    mb = size**3 / 1e6
    with tempfile.TemporaryDirectory(prefix="bench_space_") as tmp:
        root = Path(tmp)
        volumes = []
        for seed in (1, 2):  # alternate two volumes: each write changes every block
            v = np.random.default_rng(seed).integers(0, 256, (size,) * 3, dtype=np.uint8)
            np.save(root / f"v{seed}.npy", v)
            volumes.append(root / f"v{seed}.npy")
            del v
        print(f"{writes} writes of a {size}^3 uint8 volume ({mb:.0f} MB) through the CLI")
        on = run(root, volumes, writes, compact=True)
        off = run(root, volumes, writes, compact=False)
    one = on[0][1]
    print()
    print(
        "| write | with compaction: s | MB/s | .dvid MB | x one copy "
        "| without: s | MB/s | .dvid MB |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for i, ((s1, b1), (s0, b0)) in enumerate(zip(on, off, strict=True), 1):
        print(
            f"| {i} | {s1:.2f} | {mb / s1:.0f} | {b1 / 1e6:.0f} | {b1 / one:.2f} "
            f"| {s0:.2f} | {mb / s0:.0f} | {b0 / 1e6:.0f} |"
        )
    mean_on = sum(s for s, _ in on[1:]) / max(1, len(on) - 1)
    mean_off = sum(s for s, _ in off[1:]) / max(1, len(off) - 1)
    print()
    print(
        f"overwrites (writes 2..{writes}): {mean_on:.2f} s ({mb / mean_on:.0f} MB/s) with "
        f"compaction, {mean_off:.2f} s ({mb / mean_off:.0f} MB/s) without: "
        f"{mean_on / mean_off:.2f}x the time"
    )
    worst = max(b for _, b in on) / one
    print(
        f"final .dvid: {on[-1][1] / 1e6:.0f} MB with compaction ({on[-1][1] / one:.2f}x one copy; "
        f"worst after any write {worst:.2f}x), {off[-1][1] / 1e6:.0f} MB without "
        f"({off[-1][1] / one:.2f}x); goal <= {GOAL}x"
    )
    return 0 if worst <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
