"""Versioned keyvalue speed at the leaf of a deep DAG, on RocksDB (issue 2: "measured").

Builds a repository whose master branch is ``--depth`` commits deep. The root
holds ``--keys`` keys; every level rewrites ``--per-level`` random keys, so a
key's visible value sits at a random depth and keys carry several versions.
At the open leaf it measures, each for ``--seconds`` or so:

* ``get``: random single-key versioned reads (ancestor resolution per key);
* ``keys()``: the full key list (one range pass resolving every key);
* ``keyrange``: ``keys(first, last)`` over ~100 keys;
* ``put``: one key per atomic write; ``put_many``: 1000 keys per atomic write.

The same is measured at depth 1 for comparison. Run:
``.venv/bin/python bench/bench_kv_depth.py [--depth 100] [--engine rocksdb|memory]``.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any

from dvidctl import Repository
from dvidctl.datatypes.keyvalue import KeyValue


def build(
    depth: int, nkeys: int, per_level: int, engine: str, seed: int
) -> tuple[Repository, str | None]:
    """A repo with ``depth`` commits on master; returns it and its temp dir (None in memory)."""
    rng = random.Random(seed)
    tmp = None
    if engine == "memory":
        repo = Repository.memory()
    else:
        tmp = tempfile.mkdtemp(prefix="dvidctl-bench-")
        repo = Repository.init(tmp)
    repo.new_instance("keyvalue", "kv")
    names = [f"key-{i:07d}" for i in range(nkeys)]
    kv = _kv(repo)
    for i in range(0, nkeys, 5000):
        kv.put_many({k: rng.randbytes(64) for k in names[i : i + 5000]})
    for level in range(depth):
        repo.commit(f"level {level}")
        if level < depth - 1 or depth == 1:
            _kv(repo).put_many({k: rng.randbytes(64) for k in rng.sample(names, per_level)})
    return repo, tmp


def _kv(repo: Repository) -> KeyValue:
    kv = repo.head.instance("kv")
    assert isinstance(kv, KeyValue)
    return kv


def rate(fn: Callable[[], Any], seconds: float) -> tuple[float, int]:
    """Calls per second of ``fn`` over about ``seconds`` (after one warm-up call)."""
    fn()
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return n / dt, n


def measure(repo: Repository, nkeys: int, seconds: float, seed: int) -> dict[str, float]:
    """Operations per second at HEAD (the open leaf)."""
    rng = random.Random(seed + 1)
    names = [f"key-{i:07d}" for i in range(nkeys)]
    kv = _kv(repo)
    out: dict[str, float] = {}
    batch = 2000
    keys = [rng.choice(names) for _ in range(batch)]
    r, _ = rate(lambda: [kv.get(k) for k in keys], seconds)
    out["get/s"] = r * batch
    out["keys() keys/s"] = rate(lambda: kv.keys(), seconds)[0] * nkeys
    starts = [names[rng.randrange(nkeys - 100)] for _ in range(64)]
    ranges = [(s, names[names.index(s) + 99]) for s in starts]
    r, _ = rate(lambda: [kv.keys(a, b) for a, b in ranges], seconds)
    out["keyrange(100)/s"] = r * len(ranges)
    counter = iter(range(10**9))
    value = bytes(64)
    r, _ = rate(lambda: [kv.put(f"new-{next(counter):09d}", value) for _ in range(200)], seconds)
    out["put/s"] = r * 200
    r, _ = rate(
        lambda: kv.put_many({f"many-{next(counter):09d}": value for _ in range(1000)}), seconds
    )
    out["put_many keys/s"] = r * 1000
    return out


def versions_per_key(repo: Repository) -> float:
    """Mean stored versions per key of instance kv."""
    store, iid = repo.store, repo.instance_record("kv").iid
    from dvidctl.store.engine import CF_DATA, prefix_end
    from dvidctl.store.keys import u32

    rows = sum(1 for _ in store.engine.scan(CF_DATA, u32(iid), prefix_end(u32(iid))))
    return rows / max(1, len(_kv(repo).keys()))


def main() -> None:
    """Parse arguments, build, measure, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depth", type=int, default=100)
    ap.add_argument("--keys", type=int, default=10_000)
    ap.add_argument("--per-level", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--engine", choices=["rocksdb", "memory"], default="rocksdb")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    rows = []
    for depth in sorted({1, args.depth}):
        t0 = time.perf_counter()
        repo, tmp = build(depth, args.keys, args.per_level, args.engine, args.seed)
        built = time.perf_counter() - t0
        vpk = versions_per_key(repo)
        res = measure(repo, args.keys, args.seconds, args.seed)
        repo.close()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        rows.append((depth, len(repo.dag), vpk, built, res))

    cols = list(rows[0][4])
    print(f"keyvalue on {args.engine}: {args.keys} keys, {args.per_level} rewritten per level,")
    print("64-byte values; rates measured at the open leaf of master")
    head = f"{'depth':>5} {'nodes':>5} {'ver/key':>7} {'build s':>7} " + " ".join(
        f"{c:>16}" for c in cols
    )
    print(head)
    print("-" * len(head))
    for depth, nodes, vpk, built, res in rows:
        print(
            f"{depth:>5} {nodes:>5} {vpk:>7.2f} {built:>7.2f} "
            + " ".join(f"{res[c]:>16,.0f}" for c in cols)
        )


if __name__ == "__main__":
    main()
