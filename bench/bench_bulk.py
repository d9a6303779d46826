"""Large atomic writes on RocksDB: the WAL path against SST ingestion (store/bulk.py).

Default: one ~110 MB batch (512 values of 218 KB, random bytes, each with a delta
entry, plus one meta record) written to a new key range of the same database,
through the normal path (``bulk_threshold=None``) and the bulk path
(``bulk_threshold=0``); best of ``--repeat``, MB/s of data values.

``--crossover`` times batches from 64 KiB to 32 MiB for a few value sizes and
prints the ratio normal/bulk (median of ``--repeat``): where it passes 1 is where
``RocksEngine.bulk_threshold`` belongs. Run:
``.venv/bin/python bench/bench_bulk.py [--crossover] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from dvidctl.store.engine import CF_DATA, CF_DELTA, CF_META, WriteBatch
from dvidctl.store.rocks import RocksEngine


class Writer:
    """One database per path; each batch goes to fresh keys (a new version's blocks)."""

    def __init__(self, root: Path, name: str, threshold: int | None) -> None:
        self.engine = RocksEngine(root / name)
        self.engine.bulk_threshold = threshold
        self.round = 0

    def batch(self, values: list[bytes]) -> WriteBatch:
        self.round += 1
        wb = WriteBatch()
        prefix = self.round.to_bytes(4, "big")
        for i, v in enumerate(values):
            key = prefix + i.to_bytes(8, "big")
            wb.put(CF_DATA, key, v)
            wb.put(CF_DELTA, key, v[:16])
        wb.put(CF_META, b"counter/bench", prefix)
        return wb

    def time_write(self, values: list[bytes]) -> float:
        wb = self.batch(values)
        t0 = time.perf_counter()
        self.engine.write(wb)
        return time.perf_counter() - t0


def values_of(nbytes: int, size: int) -> list[bytes]:
    n = max(1, nbytes // size)
    return [os.urandom(size) for _ in range(n)]


def headline(root: Path, repeat: int, count: int, size: int) -> None:
    values = values_of(count * size, size)
    mb = sum(map(len, values)) / 1e6
    print(f"{len(values)} values x {size / 1024:.0f} KiB = {mb:.1f} MB per batch, best of {repeat}")
    for name, threshold in (("normal (WAL)", None), ("bulk (SST)", 0)):
        w = Writer(root, name.split()[0], threshold)
        best = min(w.time_write(values) for _ in range(repeat))
        w.engine.close()
        print(f"  {name:14s} {best * 1e3:8.1f} ms  {mb / best:8.0f} MB/s")


def crossover(root: Path, repeat: int) -> None:
    sizes = [4 << 10, 64 << 10, 218 << 10]
    totals = [64 << 10, 256 << 10, 1 << 20, 2 << 20, 4 << 20, 8 << 20, 16 << 20, 32 << 20]
    print(f"normal ms / bulk ms = ratio (median of {repeat}; > 1: bulk is faster)")
    print("batch    " + "".join(f"{s >> 10:>7d} KiB values    " for s in sizes))
    normal = {s: Writer(root, f"n{s}", None) for s in sizes}
    bulk = {s: Writer(root, f"b{s}", 0) for s in sizes}
    for total in totals:
        cells = []
        for s in sizes:
            values = values_of(total, s)
            tn = statistics.median(normal[s].time_write(values) for _ in range(repeat))
            tb = statistics.median(bulk[s].time_write(values) for _ in range(repeat))
            cells.append(f"{tn * 1e3:6.1f}/{tb * 1e3:6.1f}={tn / tb:4.2f}  ")
        label = f"{total >> 10} KiB" if total < 1 << 20 else f"{total >> 20} MiB"
        print(f"{label:>8s} " + "".join(cells))
    for w in (*normal.values(), *bulk.values()):
        w.engine.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--count", type=int, default=512)
    ap.add_argument("--size", type=int, default=218 * 1024)
    ap.add_argument("--crossover", action="store_true")
    ap.add_argument("--dir", help="where to put the databases (default: a temp dir)")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="dvidctl-bulk-", dir=args.dir))
    try:
        if args.crossover:
            crossover(root, args.repeat)
        else:
            headline(root, args.repeat, args.count, args.size)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
