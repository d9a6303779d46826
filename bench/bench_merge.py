"""Label-aware merge and diff on a 512^3 labelmap (64^3 blocks, RocksDB, MaxDownresLevel 2).

Two measurements, each against a limit measured in the same run:

* **merge vs blocks changed on both sides.** From one committed base, two
  branches edit the same ``k`` blocks in different voxels (one the lower half
  of each block, the other the upper half), and ``Repository.merge`` combines
  them voxel by voxel, rebuilding the two pyramid levels above. Peer: a merge
  of the same ``k`` blocks edited *identically* on both sides (same keys, same
  pyramid rebuild and write, no voxel merge). The voxel merge happens while
  planning, so the plans are timed alone too: their difference is what the
  voxel merge costs. Limit for that part: decoding three versions of each
  block and encoding the merged one, with the same codec, no store.
* **diff --labels vs change size.** A branch relabels ``k`` blocks (the most
  frequent label of each block becomes a new body: a split along block faces);
  ``label_diff`` from the base. Limit: decoding those ``2k`` block versions.
  The cost must follow ``k``, not the volume: ``k = 512`` is the whole volume.

Labels are DVID's real 64^3 samples, tiled and relabelled (bench_voxels.py).
Usage: ``python bench/bench_merge.py [--quick]`` (``--quick``: 256^3).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from bench_voxels import load_samples

from dvidctl import Repository
from dvidctl.api.labeldiff import label_diff
from dvidctl.api.merge import _checked_plan, merge_nodes
from dvidctl.datatypes.imageblk.codec import decode_into
from dvidctl.geometry import Box

BS = 64


def best(fn: Callable[[], object], repeat: int = 2) -> float:
    """Best wall time of ``repeat`` calls, in seconds."""
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)


#: Where the volume starts in the grid of sample tiles: bodies straddle block faces.
OFFSET = (20, 40, 12)


def label_slab(samples: list[np.ndarray], z0: int, depth: int, size: int) -> np.ndarray:
    """Slab ``z0 .. z0 + depth`` of the volume: DVID's samples tiled, flipped, relabelled."""
    lo = (z0 + OFFSET[0], OFFSET[1], OFFSET[2])
    hi = (lo[0] + depth, lo[1] + size, lo[2] + size)
    t0 = [v // 64 for v in lo]
    t1 = [-(-v // 64) for v in hi]
    big = np.empty(tuple((b - a) * 64 for a, b in zip(t0, t1, strict=True)), np.uint64)
    for tz in range(t0[0], t1[0]):
        for ty in range(t0[1], t1[1]):
            for tx in range(t0[2], t1[2]):
                rng = np.random.default_rng((tz, ty, tx))
                s = samples[rng.integers(len(samples))]
                flip = tuple(slice(None, None, int(rng.choice([1, -1]))) for _ in range(3))
                z, y, x = ((t - a) * 64 for t, a in zip((tz, ty, tx), t0, strict=True))
                k = (tz * 64 + ty) * 64 + tx
                big[z : z + 64, y : y + 64, x : x + 64] = s[flip] + np.uint64(k << 36)
    z, y, x = (v - a * 64 for v, a in zip(lo, t0, strict=True))
    return np.ascontiguousarray(big[z : z + depth, y : y + size, x : x + size])


def edit(repo: Repository, base: str, branch: str, blocks: list[tuple[int, int, int]],
         change: Callable[[np.ndarray, int], np.ndarray]) -> None:  # fmt: skip
    """A branch from ``base`` whose blocks ``blocks`` are rewritten by ``change``."""
    repo.branch(branch, base)
    repo.checkout(branch)
    seg = repo.head.instance("seg")
    for i, c in enumerate(blocks):
        lo = (c[0] * BS, c[1] * BS, c[2] * BS)
        old = seg.get_subvolume(Box(lo, (lo[0] + BS, lo[1] + BS, lo[2] + BS)))  # type: ignore[attr-defined]
        seg.put_subvolume(change(old, i), lo)  # type: ignore[attr-defined]
    repo.commit(branch)


def lower(block: np.ndarray, i: int) -> np.ndarray:
    out = block.copy()
    out[: BS // 2] = np.uint64(1 << 60) + np.uint64(i)
    return out


def upper(block: np.ndarray, i: int) -> np.ndarray:
    out = block.copy()
    out[BS // 2 :] = np.uint64(2 << 60) + np.uint64(i)
    return out


def split(block: np.ndarray, i: int) -> np.ndarray:
    labels, counts = np.unique(block, return_counts=True)
    out = block.copy()
    out[block == labels[np.argmax(counts)]] = np.uint64(3 << 60) + np.uint64(i)
    return out


def merge_checked(repo: Repository, parents: list[int], parts: int) -> None:
    """DVID's merge of ``parents`` (a new child each call); it merged ``parts`` blocks."""
    res = merge_nodes(repo, parents)
    assert res.merged_parts == parts, res


def payloads(repo: Repository, ref: str, blocks: list[tuple[int, int, int]]) -> list[bytes]:
    seg = repo.node(ref).instance("seg")
    got = seg.blocks.payloads(0, np.asarray(blocks))  # type: ignore[attr-defined]
    return [bytes(got[c]) for c in blocks]


def decode_limit(frames: list[bytes], encode: int = 0, codec: object = None) -> float:
    """Seconds to decode ``frames`` (and encode ``encode`` blocks) into a reused buffer."""
    buf = np.empty((BS, BS, BS), np.uint64)

    def run() -> None:
        for f in frames:
            decode_into(memoryview(f)[0:], buf)
        for _ in range(encode):
            codec.encode(buf)  # type: ignore[attr-defined]

    return best(run, 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="256^3 instead of 512^3")
    args = ap.parse_args()
    size = 256 if args.quick else 512
    nb = size // BS
    print(f"# bench_merge: {size}^3 labels, {BS}^3 blocks; load: {os.getloadavg()[0]:.1f}")
    rng = np.random.default_rng(5)
    order = [tuple(int(v) for v in c) for c in rng.permutation(
        np.argwhere(np.ones((nb, nb, nb), bool)))]  # fmt: skip
    root = Path(tempfile.mkdtemp(prefix="bench_merge_"))
    try:
        repo = Repository.init(root / "r")
        repo.new_instance("labelmap", "seg", {"BlockSize": f"{BS},{BS},{BS}",
                                              "MaxDownresLevel": "2"})  # fmt: skip
        seg = repo.head.instance("seg")
        samples = load_samples()
        t0 = time.perf_counter()
        for z in range(0, size, 64):  # in slabs: the whole volume is 1 GiB at 512^3
            seg.put_subvolume(label_slab(samples, z, 64, size), (z, 0, 0))  # type: ignore[attr-defined]
        base = repo.commit("base")[0].uuid
        print(f"base volume written in {time.perf_counter() - t0:.1f} s")
        codec = seg.codec  # type: ignore[attr-defined]

        # Warm-up: the first merge of a process pays for imports and the thread pool.
        edit(repo, base, "warm-a", [order[-1]], lower)
        edit(repo, base, "warm-b", [order[-1]], upper)
        merge_nodes(repo, [repo.resolve("warm-a~1"), repo.resolve("warm-b~1")])

        print("\n| blocks both sides changed, k | merge s | peer s | plan s | peer plan s "
              "| voxel merge ms/block | limit s | (plan - peer plan)/limit |")  # fmt: skip
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        ks = [1, 8, 32] if args.quick else [1, 8, 64]
        for k in ks:
            blocks = order[:k]
            edit(repo, base, f"ours-{k}", blocks, lower)
            edit(repo, base, f"theirs-{k}", blocks, upper)
            edit(repo, base, f"same-{k}", blocks, lower)  # peer: the same edit as ours
            ours, theirs, same = (repo.resolve(f"{b}-{k}~1") for b in ("ours", "theirs", "same"))
            # DVID's merge of explicit parents: a new child each time, so it can be repeated.
            merge_s = best(partial(merge_checked, repo, [ours, theirs], k), 2)
            peer_s = best(partial(merge_checked, repo, [ours, same], 0), 2)
            # The planning alone: where the voxel merge happens (the rest is the write
            # and the pyramid rebuild, the same for both).
            plan_s = best(partial(_checked_plan, repo, [ours, theirs], "fail"), 3)
            plan_peer_s = best(partial(_checked_plan, repo, [ours, same], "fail"), 3)
            frames = payloads(repo, base, blocks) + payloads(repo, f"ours-{k}~1", blocks)
            frames += payloads(repo, f"theirs-{k}~1", blocks)
            limit = decode_limit(frames, k, codec)
            part = plan_s - plan_peer_s
            print(f"| {k} | {merge_s:.3f} | {peer_s:.3f} | {plan_s:.3f} | {plan_peer_s:.3f} "
                  f"| {1000 * part / k:.1f} | {limit:.3f} | {part / limit:.2f} |")  # fmt: skip

        print("\n| diff --labels, blocks changed k | diff s | ms/block | limit s | /limit "
              "| bodies split |")  # fmt: skip
        print("|---:|---:|---:|---:|---:|---:|")
        for k in [1, 8, 64, nb**3] if not args.quick else [1, 8, nb**3]:
            blocks = order[:k]
            edit(repo, base, f"split-{k}", blocks, split)
            d = label_diff(repo, base, f"split-{k}~1", "seg")
            assert d.blocks == k
            diff_s = best(lambda k=k: label_diff(repo, base, f"split-{k}~1", "seg"), 2)
            frames = payloads(repo, base, blocks) + payloads(repo, f"split-{k}~1", blocks)
            limit = decode_limit(frames)
            print(f"| {k} | {diff_s:.3f} | {1000 * diff_s / k:.1f} | {limit:.3f} | "
                  f"{diff_s / limit:.2f} | {len(d.split)} |")  # fmt: skip
        repo.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"\nload at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
