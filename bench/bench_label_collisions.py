"""The label-collision check of a merge: its cost follows the change, not the volume.

One real RocksDB repository per volume size (cubes of 8^3 voxels, one supervoxel each,
pairs merged into bodies), committed; then two branches that each make the same amount of
change (``--splits`` small splits and ``--merges`` merges; every split allocates three
labels and logs a record). For each size, in interleaved rounds, the CPU seconds of:

* **plan**: the merge plan from the delta index (``plan_merge``: what a merge always did);
* **check**: the collision check on that plan (``api.merge._collisions``: each side's
  mutation records, and the merge bases' mapping/index keys of the labels allocated);

and the check as a fraction of the plan. Goal: the check's time stays flat as the volume
grows (and is small next to the plan).

Run: ``.venv/bin/python bench/bench_label_collisions.py [--sizes 64,128,256] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from dvidctl import Repository
from dvidctl.api.merge import _collisions, _derived_keys, _merge_rule, _three_way
from dvidctl.datatypes.labelmap.sparsevol import Runs
from dvidctl.store.mergeplan import plan_merge


def _build(path: Path, size: int, splits: int, merges: int) -> tuple[Repository, list[int]]:
    n = size // 8
    ids = np.arange(1, n**3 + 1, dtype=np.uint64).reshape(n, n, n)
    vol = np.kron(ids, np.ones((8, 8, 8), np.uint64))
    repo = Repository.init(path)
    repo.new_instance("labelmap", "seg", {"BlockSize": "64,64,64", "MaxDownresLevel": "1"})
    seg: Any = repo.head.instance("seg")
    seg.put_subvolume(vol)
    repo.commit("base")
    base = repo.head_branch or "master"
    repo.branch("side")
    parents = []
    for b, branch in enumerate(("side", base)):
        repo.checkout(branch)
        seg = repo.head.instance("seg")
        for k in range(splits):
            label = 1 + 2 * (k + b * splits)
            pts = np.argwhere(vol == label)[:64]  # a small part of one cube
            seg.split(label, Runs(pts, np.ones(len(pts), np.int64)))
        for k in range(merges):
            a = 1 + 2 * (2 * splits + k + b * merges)
            seg.merge(a, [a + 1])
        node, _ = repo.commit(f"{branch}: {splits} splits, {merges} merges")
        parents.append(node.vid)
    return repo, parents[::-1]


def _cpu(fn: Any) -> tuple[float, Any]:
    t0 = time.process_time()
    got = fn()
    return time.process_time() - t0, got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="64,128,256")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--splits", type=int, default=5)
    ap.add_argument("--merges", type=int, default=20)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"load: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        built = {s: _build(Path(tmp) / str(s), s, args.splits, args.merges) for s in sizes}
        times: dict[int, dict[str, list[float]]] = {s: {"plan": [], "check": []} for s in sizes}
        for _ in range(args.rounds):
            for s in sizes:  # interleaved: every size in each round
                repo, parents = built[s]
                t_plan, plan = _cpu(
                    lambda repo=repo, parents=parents: plan_merge(
                        repo.store,
                        parents,
                        rule=_merge_rule(repo),
                        derived=_derived_keys(repo),
                        three_way=_three_way(repo, parents),
                    )
                )
                t_check, found = _cpu(
                    lambda repo=repo, plan=plan, p=parents: _collisions(repo, plan, p)
                )
                assert found == [], found  # one repository: the sides allocate apart
                times[s]["plan"].append(t_plan)
                times[s]["check"].append(t_check)
        print("| volume | changed keys | plan (CPU s) | check (CPU s) | check / plan |")
        print("|---|---:|---:|---:|---:|")
        for s in sizes:
            repo, parents = built[s]
            plan = plan_merge(repo.store, parents, derived=_derived_keys(repo))
            p, c = min(times[s]["plan"]), min(times[s]["check"])
            print(f"| {s}^3 | {len(plan.changed)} | {p:.4f} | {c:.5f} | {c / p:.3f} |")
        for repo, _ in built.values():
            repo.close()
    print(f"load: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
