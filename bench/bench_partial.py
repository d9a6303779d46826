"""Issue 10 benchmark: bytes a partial clone by region moves, against the bytes of the blocks
it selects (goal: at most 1.05x).

A source repository holds a uint8blk (EM-like, 1.2x under zstd) and a labelmap
(segments, 3 pyramid levels), 64^3 blocks, ``--size`` voxels a side (x, y; z is
half), written over two committed nodes (the second rewrites a quarter). It is
pushed to a real ``dvidctl serve`` on loopback (in a thread), then cloned with
``--bbox`` (a box not aligned to blocks) and with ``--roi`` + ``--scales``:

* **selected** = the stored bytes of the source's held keys (every node's blocks
  the selection keeps, plus each node's metadata keys): what has to travel;
* **down** = response body bytes the clone read (``Stats.down``: the state
  document, listings, values), **up** = request bodies;
* the ratio ``(down + up) / selected`` is the number against the 1.05x goal.

The same clones against ``serve --no-sync-api`` (DVID's endpoints: ``raw``
reads of just the selection) are reported against the held blocks' *decoded*
bytes, since DVID sends voxels, not stored blocks. ``uptime`` is printed first.

Usage: ``python bench/bench_partial.py [--size 512]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dvidctl import Repository  # noqa: E402
from dvidctl.datatypes.imageblk.heldkeys import block_layout, keep_keys  # noqa: E402
from dvidctl.server.runner import BackgroundServer  # noqa: E402
from dvidctl.server.state import RepoSet, ServerSettings, ServerState  # noqa: E402
from dvidctl.store import nodedelta  # noqa: E402
from dvidctl.sync.clone import clone  # noqa: E402
from dvidctl.sync.push import push  # noqa: E402
from dvidctl.sync.remotes import Remote  # noqa: E402

GOAL = 1.05
BS = 64


def em_like(shape: tuple[int, int, int], seed: int) -> np.ndarray:
    """Smooth cells plus noise: compresses about 1.2x, as EM does."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(60, 200, tuple(s // 8 for s in shape), dtype=np.uint8)
    vol = np.kron(coarse, np.ones((8, 8, 8), np.uint8))
    return (vol + rng.integers(0, 24, shape, dtype=np.uint8)).astype(np.uint8)


def segments(shape: tuple[int, int, int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.integers(1, 5000, tuple(s // 16 for s in shape), dtype=np.uint64)
    return np.kron(coarse, np.ones((16, 16, 16), np.uint64))


def build(path: Path, size: int) -> Repository:
    repo = Repository.init(path)
    repo.new_instance("uint8blk", "gray", {"BlockSize": f"{BS},{BS},{BS}"})
    repo.new_instance("labelmap", "seg", {"BlockSize": f"{BS},{BS},{BS}", "MaxDownresLevel": "2"})
    repo.new_instance("roi", "cells", {"BlockSize": "32,32,32"})
    shape = (size // 2, size, size)
    n = repo.head
    n.instance("gray").put_subvolume(em_like(shape, 1))
    n.instance("seg").put_subvolume(segments(shape, 1))
    # An ROI of scattered 32^3 blocks, a few runs per row.
    spans = [[z, y, x, x + 2] for z in range(2, 6) for y in range(3, 9, 2) for x in (1, 9)]
    n.instance("cells").put_spans(spans)
    repo.commit("c1")
    q = (shape[0] // 2, shape[1] // 2, shape[2] // 2)
    repo.head.instance("gray").put_subvolume(em_like(q, 2))
    repo.head.instance("seg").put_subvolume(segments(q, 2))
    repo.commit("c2")
    return repo


def held_bytes(src: Repository, part: Repository) -> tuple[int, int, int]:
    """(keys, stored bytes, decoded block bytes) of the source's committed nodes that the
    clone's selection keeps (voxel instances only; the rest is the same either way)."""
    held = part.state.held
    assert held is not None
    keys = stored = decoded = 0
    for node in src.dag.nodes.values():
        if not node.locked:
            continue
        for rec in src.instances():
            layout = block_layout(rec.typename, rec.config)
            if layout is None:
                continue
            entries = list(nodedelta.listing(src.engine, node.vid, rec.iid))
            if not entries:
                continue
            mask = keep_keys(held, layout[0], layout[1], [tk for tk, _ in entries])
            tks = [tk for (tk, _), k in zip(entries, mask, strict=True) if k]
            vals = nodedelta.stored_at(src.engine, node.vid, rec.iid, tks)
            keys += len(tks)
            stored += sum(len(v or b"") for v in vals)
            item = 8 if rec.typename == "labelmap" else 1
            decoded += sum(BS**3 * item for tk in tks if len(tk) == 14)
    return keys, stored, decoded


def run_case(
    label: str, url: str, src: Repository, tmp: Path, kw: dict[str, str], via: str
) -> list[str]:
    t0 = time.perf_counter()
    got = clone(url, tmp / f"{label}-{via}", **kw)  # type: ignore[arg-type]
    secs = time.perf_counter() - t0
    st = got.fetch.stats
    with Repository.open(tmp / f"{label}-{via}") as part:
        keys, stored, decoded = held_bytes(src, part)
    ref = stored if via == "sync" else decoded
    what = "stored" if via == "sync" else "decoded"
    ratio = (st.down + st.up) / ref
    mark = "ok" if via != "sync" or ratio <= GOAL else "OVER"
    return [
        f"| {label} | {via} | {keys} | {ref / 1e6:.2f} ({what}) | {st.down / 1e6:.2f} "
        f"| {st.up / 1e3:.1f} kB | {ratio:.3f} {mark} | {st.requests} | {secs:.2f} |"
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    args = ap.parse_args()
    print("uptime:", os.popen("uptime").read().strip())
    tmp = Path(tempfile.mkdtemp(prefix="bench-partial-"))
    src = build(tmp / "src", args.size)
    s = args.size
    a, b = s // 4 + 10, s // 2 + 30  # not block aligned
    cases = {
        "bbox": {"bbox": f"{a},{a},{a // 2}:{b},{b},{b // 2}"},
        "roi+scales 0,1": {"roi": "cells", "scales": "0,1"},
    }
    rows = [
        "| selection | via | held keys | selected MB | down MB | up | (down+up)/selected | "
        "requests | s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    store = tmp / "store"
    store.mkdir()
    state = ServerState(RepoSet([], store), ServerSettings())
    with BackgroundServer(state) as srv:
        push(src, Remote("bench", f"{srv.url}/{src.root_uuid}"))
        for label, kw in cases.items():
            rows += run_case(label, f"{srv.url}/{src.root_uuid}", src, tmp, kw, "sync")
    state.close()
    pushed = push_rows(src, tmp)
    state = ServerState(RepoSet([src], None), ServerSettings(sync_api=False))
    with BackgroundServer(state) as srv:
        for label, kw in cases.items():
            rows += run_case(label, f"{srv.url}/{src.root_uuid}", src, tmp, kw, "dvid")
    state.close()
    print("\n".join([*rows, "", *pushed]))
    return 0


def push_rows(src: Repository, tmp: Path) -> list[str]:
    """The whole repository pushed to an empty server, through the sync API and DVID's."""
    out = [
        "| push (whole repository) | nodes | keys | up MB | down MB | s | s / sync |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    base = None
    for via, api in (("sync API", True), ("DVID endpoints", False)):
        store = tmp / f"push-{via[:4]}"
        store.mkdir()
        state = ServerState(RepoSet([], store), ServerSettings(sync_api=api))
        with BackgroundServer(state) as srv:
            t0 = time.perf_counter()
            got = push(src, Remote("bench", f"{srv.url}/{src.root_uuid}"))
            secs = time.perf_counter() - t0
        state.close()
        base = base or secs
        st = got.stats
        out.append(
            f"| {via} | {st.nodes} | {st.keys} | {st.up / 1e6:.2f} | {st.down / 1e6:.2f} "
            f"| {secs:.2f} | {secs / base:.2f} |"
        )
    return out


if __name__ == "__main__":
    raise SystemExit(main())
