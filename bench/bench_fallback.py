"""The DVID-endpoint fallback against a server that is not dvidctl (what a real DVID gets).

A repository of labels and grayscale over 5 nodes (bench_sync's ``build_volumes``) is
served with the sync API off, behind a loopback proxy that rewrites ``server/info``'s
``DVID Version`` (so no client shortcut for dvidctl servers applies). Measured in the same
run:

* the fallback clone (``clone``): DVID's label Blocks, lz4 grayscale, mapping, indexes;
* the peer: every node's voxels read whole with ``raw`` through the same proxy, the bytes
  the raw-voxel fallback moved against DVID (a lower bound of its time: it also compared
  and wrote).

Usage: ``python bench/bench_fallback.py [--size N]`` (default 256); ``uptime`` is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sync import build_volumes  # noqa: E402

from dvidctl import Repository  # noqa: E402
from dvidctl.server.runner import BackgroundServer  # noqa: E402
from dvidctl.server.state import RepoSet, ServerSettings, ServerState  # noqa: E402
from dvidctl.sync.clone import clone  # noqa: E402
from tests.sync import oldproxy  # noqa: E402


class AsDvid(oldproxy.OldDvid):
    """The proxy, saying the server is DVID."""

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        status, out = super().answer(method, path, body)
        if path.startswith("/api/server/info") and status == 200:
            doc = json.loads(out)
            doc["DVID Version"] = "v1.0.0"
            out = json.dumps(doc).encode()
        return status, out


def raw_reads(url: str, repo: Repository, n: int) -> tuple[int, float]:
    """Bytes and seconds of reading every node's voxels whole with ``raw`` (64-voxel slabs)."""
    got, t0 = 0, time.perf_counter()
    with httpx.Client(timeout=300) as c:
        for node in repo.dag.nodes.values():
            for name in ("seg", "gray"):
                for z in range(0, n, 64):
                    for y in range(0, n, 64):
                        path = f"{url}/api/node/{node.uuid}/{name}/raw/0_1_2/{n}_64_64/0_{y}_{z}"
                        with c.stream("GET", path) as r:
                            for chunk in r.iter_raw():
                                got += len(chunk)
    return got, time.perf_counter() - t0


def main() -> None:  # noqa: D103
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()
    n = args.size
    tmp = Path(tempfile.mkdtemp(prefix="bench_fallback_"))
    build_volumes(tmp / "vol", n)
    print(f"{n}^3 labels + gray over 5 nodes; load {os.getloadavg()[0]:.1f}, 2 CPUs")
    oldproxy.OldDvid = AsDvid  # type: ignore[misc]
    repo = Repository.open(tmp / "vol")
    state = ServerState(RepoSet([repo], None), ServerSettings(sync_api=False))
    with BackgroundServer(state) as srv, oldproxy.old_dvid(srv.url) as (url, _):
        t0 = time.perf_counter()
        res = clone(f"{url}/{repo.root_uuid}", tmp / "clone")
        secs = time.perf_counter() - t0
        s = res.fetch.stats
        raw_bytes, raw_secs = raw_reads(url, repo, n)
    state.close()
    print("| path | wire MB | s |\n|---|---:|---:|")
    print(f"| fallback clone (DVID's blocks) | {s.down / 1e6:.2f} | {secs:.1f} |")
    print(f"| peer: every node read with raw | {raw_bytes / 1e6:.2f} | {raw_secs:.1f} |")
    print(f"bytes {s.down / raw_bytes:.3f}x the raw path's, time {secs / raw_secs:.2f}x")
    print(f"notes: {s.notes or 'none'}; labels: {s.labels}")


if __name__ == "__main__":
    main()
