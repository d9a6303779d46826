"""Speed of large and small keyvalue values on RocksDB, against a peer measured alongside.

In-process, on a fresh repository per round: ``put_from`` of a ``--mb`` MB file
(synced: every bulk write is), ``get_to`` a file, and the whole-value ``put`` and
``get`` of a ``bytes``. The peer, measured in the same run on the same disk, is
a plain file copy of the value with ``fsync`` (for the writes) and a read of the
file into another one (for the reads, from the page cache). Printed: the best of
``--rounds`` rounds in MB/s, and the ratio to the peer (1.0 = as fast as a copy).

Small values (64 bytes, 10,000 keys; ``--small-only`` for these alone) keep the
single-key path: ``get``, ``put`` and ``delete`` of one key per call, in CPU
microseconds per call (``time.thread_time``, best of 7: wall time on a loaded
machine says more about the load), against the engine's own point read and
one-key write of the same bytes (what our layer adds shows in the ratio).

Large values are stored in pieces (``keyvalue/chunks.py``); the same script runs
against older code with ``PYTHONPATH=<checkout>``, which is how RESULTS.md
compares before and after. Run: ``.venv/bin/python bench/bench_kv_large.py``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from dvidctl import Repository


def best(fn: Callable[[], object], rounds: int) -> float:
    """The shortest of ``rounds`` runs of ``fn``, in seconds."""
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def file_copy(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` and sync it (what a durable write of the value costs)."""
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        shutil.copyfileobj(fin, fout, 16 << 20)
        fout.flush()
        os.fsync(fout.fileno())


def file_read(src: Path, dst: Path) -> None:
    """Read ``src`` into ``dst`` without syncing (what handing the value out costs)."""
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        shutil.copyfileobj(fin, fout, 16 << 20)


def cpu_us(fn: Callable[[int], object], n: int) -> float:
    """CPU microseconds per call of ``fn(i)`` for ``i < n``, best of 7 runs."""
    runs = []
    for _ in range(7):
        t0 = time.thread_time()
        for i in range(n):
            fn(i)
        runs.append(time.thread_time() - t0)
    return min(runs) / n * 1e6


def small_values() -> None:
    """Single-key reads and writes of 64-byte values, against the engine's own."""
    from dvidctl.store.engine import CF_DATA, WriteBatch

    with tempfile.TemporaryDirectory(prefix="dvidctl-kv-small-") as tmp:
        repo = Repository.init(Path(tmp))
        repo.new_instance("keyvalue", "kv")
        kv = repo.head.instance("kv")
        names = [f"key-{i:05d}" for i in range(10_000)]
        kv.put_many({k: os.urandom(64) for k in names})  # type: ignore[attr-defined]
        eng = repo.engine
        raw = [b"raw-" + k.encode() for k in names]
        for k in raw:
            eng.write(WriteBatch([(CF_DATA, k, bytes(64))]))
        value = bytes(64)
        rows = [
            (
                "get",
                cpu_us(lambda i: kv.get(names[i % 10_000]), 5000),  # type: ignore[attr-defined]
                cpu_us(lambda i: eng.get(CF_DATA, raw[i % 10_000]), 5000),
            ),
            (
                "put",
                cpu_us(lambda i: kv.put(names[i % 10_000], value), 1000),  # type: ignore[attr-defined]
                cpu_us(lambda i: eng.write(WriteBatch([(CF_DATA, raw[i % 10_000], value)])), 1000),
            ),
            (
                "delete",
                cpu_us(lambda i: kv.delete(f"gone-{i}"), 1000),  # type: ignore[attr-defined]
                cpu_us(lambda i: eng.write(WriteBatch([(CF_DATA, b"gone", None)])), 1000),
            ),
        ]
        repo.close()
    print(f"small values: 64 bytes, 10,000 keys, load {os.getloadavg()[0]:.1f}")
    print("| call | CPU us | engine's own, us | ratio |")
    print("|---|---:|---:|---:|")
    for name, ours, peer in rows:
        print(f"| {name} | {ours:.1f} | {peer:.1f} | {ours / peer:.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=200, help="value size in MB")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--small-only", action="store_true", help="only the small values")
    args = ap.parse_args()
    small_values()
    if args.small_only:
        return
    size = args.mb * 1_000_000
    with tempfile.TemporaryDirectory(prefix="dvidctl-kv-large-") as tmp:
        t = Path(tmp)
        src, out = t / "value.bin", t / "out.bin"
        src.write_bytes(os.urandom(size))
        value = src.read_bytes()
        repo = Repository.init(t / "repo")
        repo.new_instance("keyvalue", "kv")
        kv = repo.head.instance("kv")
        n = [0]

        def put_from() -> None:
            n[0] += 1
            with open(src, "rb") as f:
                kv.put_from(f"file{n[0]}", f)  # type: ignore[attr-defined]

        def get_to() -> None:
            with open(out, "wb") as f:
                kv.get_to("file1", f)  # type: ignore[attr-defined]

        def put() -> None:
            n[0] += 1
            kv.put(f"bytes{n[0]}", value)  # type: ignore[attr-defined]

        rows = [
            ("put_from a file", best(put_from, args.rounds), best(lambda: file_copy(src, out), 3)),
            ("get_to a file", best(get_to, args.rounds), best(lambda: file_read(src, out), 3)),
            ("put bytes", best(put, args.rounds), best(lambda: file_copy(src, out), 3)),
        ]
        got: list[bytes] = []
        rows.append(
            (
                "get bytes",
                best(lambda: got.append(kv.get("file1")), args.rounds),  # type: ignore[attr-defined]
                best(lambda: file_read(src, out), 3),
            )
        )
        assert got[-1] == value and out.read_bytes() == value
        repo.close()
    load = os.getloadavg()[0]
    print(f"value {args.mb} MB, best of {args.rounds}, load {load:.1f}")
    print("| case | MB/s | file copy MB/s | ratio |")
    print("|---|---:|---:|---:|")
    for name, secs, peer in rows:
        mbs, peer_mbs = size / secs / 1e6, size / peer / 1e6
        print(f"| {name} | {mbs:.0f} | {peer_mbs:.0f} | {mbs / peer_mbs:.2f} |")


if __name__ == "__main__":
    main()
