"""Speed of one large keyvalue value on RocksDB, against copying the same bytes as a file.

In-process, on a fresh repository per round: ``put_from`` of a ``--mb`` MB file
(synced: every bulk write is), ``get_to`` a file, and the whole-value ``put`` and
``get`` of a ``bytes``. The peer, measured in the same run on the same disk, is
a plain file copy of the value with ``fsync`` (for the writes) and a read of the
file into another one (for the reads, from the page cache). Printed: the best of
``--rounds`` rounds in MB/s, and the ratio to the peer (1.0 = as fast as a copy).

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=200, help="value size in MB")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
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
