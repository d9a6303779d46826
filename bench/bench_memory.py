"""Issue 8 item 9 benchmark: peak memory (RSS) of the CLI's large reads and writes.

Every case runs a real ``dvidctl`` subprocess under GNU ``/usr/bin/time`` and
reads its peak RSS ("Maximum resident set size", ``%M``). (``os.wait4`` from this
process would not do: a forked child's peak starts at its parent's RSS, and this
process holds the arrays.) The same command on a one-voxel (one-byte) input, run
in the same session, is its idle baseline; a case's ratio is
``(peak - idle) / size``, what the data itself costs, against the goal of 1.5x.

Cases, on 128 MiB arrays (``--mib``), 64^3 blocks, each kind patterned
(compressible) and random (incompressible):

* uint8 (``uint8blk``, 512^3) and uint64 (``labelmap``, 256^3);
* ``put subvolume`` from a ``.npy`` file into a new instance, then again over
  the same box (a repository that already holds data: the write replaces it,
  and the close compacts the range), then ``get subvolume -o x.npy``, checked
  bit-exact against what was written;
* a 200 MB keyvalue value (``--kv-mb``): ``put key`` from stdin and from a
  file, ``get key`` to stdout and ``-o`` to a file, checked byte-exact.

Usage: ``python bench/bench_memory.py [--mib N] [--kv-mb N] [--only voxels|kv]``.
Another checkout's code can be measured with ``PYTHONPATH=<its root>``, run from outside this
checkout (``python -m`` puts the working directory first on ``sys.path``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GOAL = 1.5
MIB = 1 << 20
DVIDCTL = [sys.executable, "-m", "dvidctl"]
TIME = "/usr/bin/time"  # GNU time


@dataclass
class Run:
    """One command's peak RSS (bytes) and wall time (seconds)."""

    peak: int
    seconds: float


@dataclass
class Row:
    """One line of the table: a command, its data size and the idle baseline."""

    case: str
    size: int
    run: Run
    idle: int

    @property
    def ratio(self) -> float:
        """Peak memory above the idle baseline, per byte of data."""
        return (self.run.peak - self.idle) / self.size


def run(
    args: list[str], repo: Path, *, stdin: Path | None = None, stdout: Path | None = None
) -> Run:
    """Run ``dvidctl ARGS`` on ``repo``; its peak RSS. SystemExit when it fails."""
    env = {**os.environ, "DVIDCTL_REPO": str(repo)}
    with (
        open(stdin or os.devnull, "rb") as fin,
        open(stdout or os.devnull, "wb") as fout,
        tempfile.NamedTemporaryFile() as peak,
        tempfile.TemporaryFile() as err,
    ):
        t0 = time.perf_counter()
        proc = subprocess.run(
            [TIME, "-f", "%M", "-o", peak.name, *DVIDCTL, *args],
            stdin=fin,
            stdout=fout,
            stderr=err,
            env=env,
        )
        seconds = time.perf_counter() - t0
        if proc.returncode:
            err.seek(0)
            raise SystemExit(f"dvidctl {' '.join(args)} failed: {err.read().decode()}")
        kib = int(Path(peak.name).read_text().split()[-1])
    return Run(kib * 1024, seconds)


def init_repo(path: Path, *new: str) -> None:
    """A new repository at ``path`` with one instance (``dvidctl new NEW...``)."""
    for args in (["init", str(path)], ["new", *new]):
        env = {**os.environ, "DVIDCTL_REPO": str(path)}
        subprocess.run([*DVIDCTL, *args], check=True, capture_output=True, env=env)


def volume(dtype: str, edge: int, random: bool, seed: int) -> np.ndarray:
    """A ZYX cube: random values, or a smooth pattern (uint8) / boxes of labels (uint64)."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if random:
        return rng.integers(0, np.iinfo(dt).max, (edge,) * 3, dtype=dt, endpoint=True)
    z, y, x = np.ogrid[:edge, :edge, :edge]
    if dt == np.uint8:  # EM-like: smooth intensity plus a little noise
        smooth = (z // 3 + y // 5 + x // 7) % 200 + 20
        noise = rng.integers(0, 4, (edge,) * 3, dtype=np.uint8)
        return (smooth + noise).astype(np.uint8)
    return ((z // 24) * 1_000_003 + (y // 24) * 1_009 + x // 24 + (seed << 40)).astype(dt)


def voxel_cases(tmp: Path, mib: int) -> list[Row]:
    """put (new, over data) and get of each volume kind."""
    rows: list[Row] = []
    for dtype, typename in (("uint8", "uint8blk"), ("uint64", "labelmap")):
        edge = round((mib * MIB / np.dtype(dtype).itemsize) ** (1 / 3))
        edge -= edge % 64
        for random in (False, True):
            label = f"{dtype} {'random' if random else 'patterned'} {edge}^3"
            repo = tmp / "repo"
            init_repo(repo, typename, "v", "--block-size", "64,64,64")
            one, first, second, out = (tmp / n for n in ("one.npy", "a.npy", "b.npy", "out.npy"))
            np.save(one, np.zeros((1, 1, 1), dtype))
            np.save(first, volume(dtype, edge, random, 1))
            np.save(second, volume(dtype, edge, random, 2))
            size = edge**3 * np.dtype(dtype).itemsize
            idle_put = run(["put", "subvolume", "v", str(one), "--offset", f"{4 * edge},0,0"], repo)
            put1 = run(["put", "subvolume", "v", str(first)], repo)
            put2 = run(["put", "subvolume", "v", str(second)], repo)
            get = ["get", "subvolume", "v", "--offset", "0,0,0", "-o", str(out), "--size"]
            idle_get = run([*get, "1,1,1"], repo)
            got = run([*get, f"{edge},{edge},{edge}"], repo)
            if not np.array_equal(np.load(out, mmap_mode="r"), np.load(second, mmap_mode="r")):
                raise SystemExit(f"{label}: get returned other voxels than put wrote")
            new = [
                Row(f"put {label}, new", size, put1, idle_put.peak),
                Row(f"put {label}, over data", size, put2, idle_put.peak),
                Row(f"get {label} -o x.npy", size, got, idle_get.peak),
            ]
            print_rows(new)
            rows += new
            shutil.rmtree(repo)
            for f in (one, first, second, out):
                f.unlink()
    return rows


def kv_cases(tmp: Path, mb: int) -> list[Row]:
    """A ``mb`` MB random value: put from stdin and a file, get to stdout and a file."""
    repo = tmp / "repo-kv"
    init_repo(repo, "keyvalue", "kv")
    size = mb * 1_000_000
    value, one, out = tmp / "value.bin", tmp / "one.bin", tmp / "out.bin"
    rng = np.random.default_rng(3)
    with open(value, "wb") as f:
        for i in range(0, size, 16 * MIB):
            f.write(rng.bytes(min(16 * MIB, size - i)))
    one.write_bytes(b"x")
    idle_put = run(["put", "key", "kv", "tiny", "-"], repo, stdin=one).peak
    idle_get = run(["get", "key", "kv", "tiny"], repo, stdout=out).peak
    put_stdin = run(["put", "key", "kv", "k", "-"], repo, stdin=value)
    put_file = run(["put", "key", "kv", "k2", str(value)], repo)
    get_stdout = run(["get", "key", "kv", "k"], repo, stdout=out)
    same = _same_file(out, value)
    get_file = run(["get", "key", "kv", "k2", "-o", str(out)], repo)
    rows = [
        Row(f"put key {mb} MB from stdin", size, put_stdin, idle_put),
        Row(f"put key {mb} MB from a file", size, put_file, idle_put),
        Row(f"get key {mb} MB to stdout", size, get_stdout, idle_get),
        Row(f"get key {mb} MB -o file", size, get_file, idle_get),
    ]
    if not (same and _same_file(out, value)):
        raise SystemExit("get key returned other bytes than put wrote")
    print_rows(rows)
    shutil.rmtree(repo)
    return rows


def _same_file(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(16 * MIB), fb.read(16 * MIB)
            if x != y:
                return False
            if not x:
                return True


def print_rows(rows: list[Row]) -> None:
    """Print table rows as they are measured."""
    for r in rows:
        print(
            f"| {r.case} | {r.size / MIB:.0f} | {r.idle / MIB:.0f} | {r.run.peak / MIB:.0f} | "
            f"{r.ratio:.2f} | {'ok' if r.ratio <= GOAL else 'OVER'} | {r.run.seconds:.1f} |",
            flush=True,
        )


def main() -> None:
    """Parse arguments, run the cases, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mib", type=int, default=128, help="voxel array size in MiB")
    ap.add_argument("--kv-mb", type=int, default=200, help="keyvalue value size in MB")
    ap.add_argument("--only", choices=["voxels", "kv"], default=None)
    ap.add_argument("--tmp", type=Path, default=None, help="directory for the repositories")
    args = ap.parse_args()
    if not Path(TIME).exists():
        raise SystemExit(f"{TIME} (GNU time) is needed to read each command's peak memory")
    print(f"load average {os.getloadavg()[0]:.1f}; goal: (peak - idle) / size <= {GOAL}")
    print(f"| case | size MiB | idle MiB | peak MiB | (peak-idle)/size | <= {GOAL} | s |")
    print("|---|---:|---:|---:|---:|---|---:|")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        if args.only != "kv":
            rows += voxel_cases(Path(tmp), args.mib)
        if args.only != "voxels":
            rows += kv_cases(Path(tmp), args.kv_mb)
    over = [r for r in rows if r.ratio > GOAL]
    print(f"{len(rows) - len(over)} of {len(rows)} cases within {GOAL}x")


if __name__ == "__main__":
    main()
