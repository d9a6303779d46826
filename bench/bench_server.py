"""Issue 4 benchmark: the HTTP server on loopback against the local Python API, same run.

One RocksDB repository (temp dir) with a uint8blk and a labelmap instance, 64^3
blocks (zstd). The local API runs first; then ``dvidctl serve`` runs on the same
repository in another process on a free 127.0.0.1 port; the client is httpx (one
kept-alive connection), bodies streamed
in 1 MiB pieces into preallocated numpy arrays (dvidctl.api.remote.client).

Operations, each the best of ``--repeat`` runs, in MB/s of uncompressed voxels:

* 256^3 grayscale subvolume GET and POST (``raw/0_1_2``) vs ``get_subvolume``/``put_subvolume``;
* 256^3 label subvolume GET and POST, the same;
* labelmap ``blocks`` streaming of the 256^3 box (``compression=lz4``, decoded
  by the client into one array; and ``compression=blocks``, DVID's gzip'd label
  Block, decoded) vs the local ``get_subvolume`` of the same box.

The ratio column is server / local (goal for GETs: >= 0.6).

Usage: ``python bench/bench_server.py [--size N] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import lz4.block
import numpy as np

from dvidctl.api.remote import RemoteRepository
from dvidctl.api.repository import Repository
from dvidctl.datatypes.imageblk.blockstream import iter_block_stream
from dvidctl.datatypes.imageblk.labelblock import decode_label_block
from dvidctl.geometry import Box

#: DVID's samples, the project's own copy.
TESTDATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "dvid"


def best(fn: Callable[[], object], repeat: int) -> float:
    """Best wall time of ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def gray_volume(n: int) -> np.ndarray:
    """EM-like grayscale: smooth cells, dark membranes, noise."""
    rng = np.random.default_rng(0)
    z, y, x = np.ogrid[0:n, 0:n, 0:n]
    cells = ((x // 24 * 7 + y // 20 * 13 + z // 28 * 5) % 97).astype(np.int32) + 100
    membrane = ((x % 24 < 2) | (y % 20 < 2) | (z % 28 < 2)) * 80
    noise = rng.normal(0, 12, size=(n, n, n)).astype(np.int32)
    return np.clip(cells - membrane + noise, 0, 255).astype(np.uint8)


def label_volume(n: int) -> np.ndarray:
    """Tile DVID's real 64^3 label samples (relabelled per tile) to n^3."""
    samples = []
    for name in (
        "fib19-64x64x64-sample1",
        "fib19-64x64x64-sample2",
        "cx-64x64x64-sample1",
        "cx-64x64x64-sample2",
    ):
        path = TESTDATA / f"{name}.dat.gz"
        samples.append(np.frombuffer(gzip.decompress(path.read_bytes()), "<u8").reshape(64, 64, 64))
    out = np.empty((n, n, n), np.uint64)
    t = 0
    for z in range(0, n, 64):
        for y in range(0, n, 64):
            for x in range(0, n, 64):
                s = samples[t % len(samples)]
                _, inv = np.unique(s, return_inverse=True)
                out[z : z + 64, y : y + 64, x : x + 64] = (
                    inv.reshape(s.shape).astype(np.uint64) + 1000 * t + 1
                )
                t += 1
    return out


def stream_blocks(client: httpx.Client, url: str, n: int, comp: str) -> np.ndarray:
    """GET a labelmap block stream and decode it into one ZYX array."""
    out = np.empty((n, n, n), np.uint64)
    with client.stream("GET", url, params={"compression": comp}) as r:
        body = bytearray()
        for chunk in r.iter_raw():
            body += chunk
    for (bx, by, bz), payload in iter_block_stream(body):
        dst = out[bz * 64 : (bz + 1) * 64, by * 64 : (by + 1) * 64, bx * 64 : (bx + 1) * 64]
        if comp == "lz4":
            dst[...] = np.frombuffer(
                lz4.block.decompress(payload, uncompressed_size=64**3 * 8), "<u8"
            ).reshape(64, 64, 64)
        else:
            dst[...] = decode_label_block(gzip.decompress(payload))
    return out


def free_port() -> int:
    """A free loopback port (bound and released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(repo_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``dvidctl serve`` on the repository in a separate process (as a user runs it)."""
    port = free_port()
    cmd = [
        sys.executable,
        "-c",
        "from dvidctl.commands.main import run; run()",
        "serve",
        "--repo",
        str(repo_dir),
        "--port",
        str(port),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/api/heartbeat", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("server did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n, rep = args.size, args.repeat
    tmp = Path(tempfile.mkdtemp(prefix="bench_server_"))
    vols = {"grayscale": ("gray", gray_volume(n)), "labels": ("seg", label_volume(n))}
    box = Box((0, 0, 0), (n, n, n))
    local: dict[str, float] = {}
    served: dict[str, float] = {}
    try:
        # 1. Local Python API (this process holds the database).
        with Repository.init(tmp / "repo") as repo:
            repo.new_instance("uint8blk", "gray", {"BlockSize": "64,64,64"})
            repo.new_instance("labelmap", "seg", {"BlockSize": "64,64,64"})
            uuid = repo.head.uuid
            for label, (name, arr) in vols.items():
                inst = repo.head.instance(name)
                local[f"{label} POST"] = best(
                    lambda i=inst, a=arr: i.put_subvolume(a, (0, 0, 0)), rep
                )
                local[f"{label} GET"] = best(lambda i=inst: i.get_subvolume(box), rep)
        # 2. The same operations through `dvidctl serve` in another process.
        proc, url = start_server(tmp / "repo")
        try:
            with RemoteRepository(url) as remote:
                rnode = remote.node(uuid)
                for label, (name, arr) in vols.items():
                    inst = rnode.instance(name)
                    served[f"{label} POST"] = best(
                        lambda i=inst, a=arr: i.put_subvolume(a, (0, 0, 0)), rep
                    )
                    for mode, is_dvidctl in (("raw", False), ("remote API", True)):
                        remote._is_dvidctl = is_dvidctl  # False: raw/0_1_2, as any DVID client
                        inst.prefer_stored = is_dvidctl
                        assert np.array_equal(inst.get_subvolume(box), arr), (label, mode)
                        served[f"{label} GET {mode}"] = best(
                            lambda i=inst: i.get_subvolume(box), rep
                        )
                base = f"{url}/api/node/{uuid}/seg/blocks/{n}_{n}_{n}/0_0_0"
                seg = vols["labels"][1]
                for comp in ("lz4", "blocks"):
                    assert np.array_equal(stream_blocks(remote.client, base, n, comp), seg), comp
                    served[f"blocks {comp}"] = best(
                        lambda c=comp: stream_blocks(remote.client, base, n, c), rep
                    )
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(30)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    nb = {k: v[1].nbytes for k, v in vols.items()}
    rows = []
    for label in vols:
        rows += [
            (
                f"{n}^3 {label} GET, raw/0_1_2",
                local[f"{label} GET"],
                served[f"{label} GET raw"],
                nb[label],
            ),
            (
                f"{n}^3 {label} GET, remote API (stored blocks)",
                local[f"{label} GET"],
                served[f"{label} GET remote API"],
                nb[label],
            ),
            (
                f"{n}^3 {label} POST, raw/0_1_2",
                local[f"{label} POST"],
                served[f"{label} POST"],
                nb[label],
            ),
        ]
    for comp in ("lz4", "blocks"):
        rows.append(
            (
                f"labelmap blocks?compression={comp} stream + client decode",
                local["labels GET"],
                served[f"blocks {comp}"],
                nb["labels"],
            )
        )
    print("| operation | local MB/s | server MB/s | server/local |")
    print("|---|---:|---:|---:|")
    for name, tl, ts, nbytes in rows:
        mb = nbytes / 1e6
        print(f"| {name} | {mb / tl:,.0f} | {mb / ts:,.0f} | {tl / ts:.2f}x |")


if __name__ == "__main__":
    main()
