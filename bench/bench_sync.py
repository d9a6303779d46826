"""Issue 10 benchmark: sync between two real ``dvidctl serve`` processes on loopback.

Set-up: a repository with an N^3 labelmap (DVID's real 64^3 label samples) and an
N^3 uint8blk (EM-like grayscale), 64^3 blocks, written over 5 committed nodes,
and a repository with one keyvalue node of K keys (64-byte values). Server A
serves both; server B serves a copy of the first with ``--no-sync-api`` (as DVID).
Every client step is the ``dvidctl`` CLI in its own process (``--json`` summary).

Cases, in one run:

1. clone A (twice: ``clone`` and ``clone again``); the same from a server started on a
   copy whose files are not in the page cache, with and without the kernel's readahead
   (``DVIDCTL_READAHEAD=0``); then a push of a node that rewrote
   25% of the blocks and its pull into the second clone (pull rate vs clone rate); at
   the end of the run, the same with a node that rewrote every block (about the
   clone's bytes in one node: the pull's rate per byte apart from its fixed costs);
2. a new node that changes 1% of the blocks of each volume, then a push;
3. a no-op push and a no-op pull;
4. the clone of case 1 from B, through DVID's endpoints (the fallback); again from a copy
   whose labels are stored as DVID stores them (label Blocks), so that the server passes
   blocks on as DVID does instead of encoding each one;
5. a clone of the keyvalue node, then a no-op push and pull (round trips counted);
6. the clone of case 1 through a proxy limited to ``--rate`` MB/s (the link the bound, as
   between labs); the 1% push again through it, once per label wire encoding
   (``DVIDCTL_SYNC_LABELS``), then 10% of the label blocks alone likewise;
7. a clone killed (SIGKILL) at random points and resumed: bytes sent beyond the
   same clone uninterrupted.

Each row also gives the client's peak resident memory (``rss_mb``) and wall time.

Every case's time is set against the **link limit** measured in the same run: a raw
streamed GET of the same byte count (uvicorn + httpx, as sync) over the same link
(direct, or the same proxy). Bytes on the wire are the proxy's count (headers
included) where a case runs through a proxy, else the summary's body bytes. The
clone and pull rows also give the **disk limit** (``x_disk``: writing the same byte
count to a file with an ``fsync`` every 16 MiB, the receiver's durable points) and the
CPU seconds of the client's transfer (``cpu_c``, from its summary) and of the server
(``cpu_s``, from ``/proc``), steadier than wall-clock on a loaded machine.

Usage: ``python bench/bench_sync.py [--quick] [--size N] [--kv-keys K] [--cases 1,2,...]
[--cache DIR]`` (``make bench-sync``).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import sync_rig as rig

from dvidctl import Repository
from dvidctl.store import nodedelta
from dvidctl.sync.transfer import Options

NODES = 5
BS = 64
GOALS = {
    "bytes": "wire <= 1.03 x changed + 24 B/key",
    "noop": "<= 2 round trips and <= 0.25 s",
    "clone": ">= 0.8 x link limit",
    "pull": ">= 0.9 x clone rate",
    "resume": "<= 1 batch per stream again",
}


# ------------------------------------------------------------------ building
def _blocks(n: int) -> list[tuple[int, int, int]]:
    g = n // BS
    return [(z, y, x) for z in range(g) for y in range(g) for x in range(g)]


def build_volumes(path: Path, n: int, labels: str = "") -> None:
    """Labels and grayscale over NODES committed nodes (block t goes to node t % NODES);
    ``labels``: the labelmap's ``Compression`` (default: dvidctl's own)."""
    samples = rig.label_samples()
    gray = rig.gray_volume(n)
    with Repository.init(path, alias="vol") as repo:
        seg = {"BlockSize": f"{BS},{BS},{BS}"} | ({"Compression": labels} if labels else {})
        repo.new_instance("labelmap", "seg", seg)
        repo.new_instance("uint8blk", "gray", {"BlockSize": f"{BS},{BS},{BS}"})
        coords = _blocks(n)
        for i in range(NODES):
            mine = [(t, c) for t, c in enumerate(coords) if t % NODES == i]
            node = repo.head
            node.instance("seg").put_blocks([(c, rig.label_block(samples, t)) for t, c in mine], 0)
            node.instance("gray").put_blocks([(c, _gray_block(gray, c)) for _, c in mine], 0)
            repo.commit(f"part {i + 1} of {NODES}")


def _gray_block(gray: np.ndarray, c: tuple[int, int, int]) -> np.ndarray:
    z, y, x = (v * BS for v in c)
    return np.ascontiguousarray(gray[z : z + BS, y : y + BS, x : x + BS])


def build_kv(path: Path, keys: int) -> None:
    """One committed keyvalue node of ``keys`` keys, 64-byte values."""
    rng = np.random.default_rng(1)
    with Repository.init(path, alias="kv") as repo:
        repo.new_instance("keyvalue", "kv")
        kv = repo.head.instance("kv")
        step = 100_000
        for i in range(0, keys, step):
            vals = rng.integers(0, 256, (min(step, keys - i), 64), np.uint8)
            kv.put_many({f"key{i + j:08d}": vals[j].tobytes() for j in range(len(vals))})
        repo.commit("kv")


def change_blocks(
    path: Path, n: int, frac: float, seed: int, *, gray_too: bool = True
) -> dict[str, int]:
    """Rewrite ``frac`` of the blocks of both volumes (or the labels only) in a new committed node.

    Returns the node's changed keys and their stored (compressed) bytes.
    """
    rng = random.Random(seed)
    samples = rig.label_samples()
    coords = _blocks(n)
    pick = rng.sample(coords, max(1, round(frac * len(coords))))
    gray = rig.gray_volume(BS, seed)
    with Repository.open(path) as repo:
        node = repo.head
        node.instance("seg").put_blocks(
            [(c, rig.label_block(samples, 10_000 * seed + k)) for k, c in enumerate(pick)], 0
        )
        if gray_too:
            node.instance("gray").put_blocks([(c, gray) for c in pick], 0)
        done, _ = repo.commit(f"{frac:.0%} change")
        return node_bytes(repo, done.uuid)


def node_bytes(repo: Repository, uuid: str) -> dict[str, int]:
    """Keys node ``uuid`` itself wrote and their stored bytes."""
    vid = repo.dag.by_uuid[uuid]
    keys = nbytes = 0
    for rec in repo.state.instances.values():
        tks = [tk for tk, _ in nodedelta.listing(repo.engine, vid, rec.iid)]
        for i in range(0, len(tks), 256):
            vals = nodedelta.stored_at(repo.engine, vid, rec.iid, tks[i : i + 256])
            nbytes += sum(len(v or b"") for v in vals)
        keys += len(tks)
    return {"keys": keys, "bytes": nbytes, "uuid": uuid}  # type: ignore[dict-item]


# ------------------------------------------------------------------ measuring
class Bench:
    """The servers, links and rows of one run."""

    def __init__(self, tmp: Path, args: argparse.Namespace) -> None:
        self.tmp, self.args = tmp, args
        self.raw = rig.rawserver()
        self.rows: list[dict[str, Any]] = []
        self._limits: dict[tuple[str, int], float] = {}
        self._disk: dict[int, float] = {}
        self.procs: list[rig.Proc] = [self.raw]

    def close(self) -> None:
        for p in self.procs:
            p.stop()

    def proxy(self, target: int, rate_mb: float = 0.0) -> rig.Proxy:
        """A proxy to ``target`` (``rate_mb`` MB/s each way; 0: counting only)."""
        p = rig.Proxy(target, rate_mb * 1e6, self.tmp / f"counts-{len(self.procs)}.json")
        self.procs.append(p)
        return p

    def limit(self, nbytes: int, link: str = "direct", rate_mb: float = 0.0) -> float:
        """Seconds of a raw streamed GET of ``nbytes`` over the link (cached per size)."""
        key = (link, nbytes)
        if key not in self._limits:
            if link == "direct":
                self._limits[key] = rig.raw_get(self.raw.url, max(1, nbytes))
            else:
                px = self.proxy(self.raw.port, rate_mb)
                self._limits[key] = rig.raw_get(px.url, max(1, nbytes), repeat=2)
                px.stop()
        return self._limits[key]

    def disk(self, nbytes: int) -> float:
        """Seconds of the disk limit for ``nbytes`` (cached per size)."""
        if nbytes not in self._disk:
            self._disk[nbytes] = rig.disk_get(self.tmp, nbytes)
        return self._disk[nbytes]

    def ceiling(self, nbytes: int) -> None:
        """Print the machine's limits for a clone of ``nbytes``: the link (httpx, as sync,
        and the standard library's socket reads), and the durable disk writes every
        receiver needs; a clone can go no faster than the slower of link and disk."""
        link = self.limit(nbytes)
        sock = rig.raw_get_socket(self.raw.url, max(1, nbytes))
        disk = self.disk(nbytes)
        first = rig.disk_first(self.tmp, nbytes)
        mb = nbytes / 1e6
        print(
            f"   limits for {mb:.1f} MB: link {mb / link:.0f} MB/s (httpx), "
            f"{mb / sock:.0f} MB/s (http.client readinto); durable disk {mb / disk:.0f} MB/s "
            f"(fsync per 16 MiB), {mb / first:.0f} MB/s as a new process's first write: "
            f"a clone can reach at most {link / disk:.2f}x the link limit here "
            f"({link / first:.2f}x on memory it has not used before)"
        )
        self.limits_row = {"link_s": link, "socket_s": sock, "disk_s": disk, "first_s": first}

    def row(self, case: str, what: str, s: dict[str, Any], wire: int, **extra: Any) -> None:
        """Record one measurement (``s``: a CLI summary)."""
        sec = float(s.get("seconds", s.get("wall", 0.0)))
        if extra.pop("disk", False) and sec:
            extra["x_disk"] = self.disk(wire) / sec
        if "cpu_seconds" in s:
            extra["cpu_c"] = float(s["cpu_seconds"])
        lim = self.limit(wire, extra.pop("link", "direct"), extra.pop("rate_mb", 0.0))
        row = {
            "case": case,
            "what": what,
            "keys": s.get("keys", 0),
            "stored": s.get("bytes", 0),
            "wire": wire,
            "requests": s.get("requests", 0),
            "seconds": sec,
            "wall": s.get("wall", 0.0),
            "limit_s": lim,
            "vs_limit": lim / sec if sec else 0.0,
            "rss_mb": round(float(s.get("rss_mb", 0.0))),
            "wall_s": round(float(s.get("wall", 0.0)), 2),
            **extra,
        }
        self.rows.append(row)
        print(_fmt(row), flush=True)


def _fmt(r: dict[str, Any]) -> str:
    extra = {k: v for k, v in r.items() if k not in _COLS}
    ex = "  ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in extra.items())
    return (
        f"{r['case']:>2} {r['what']:<34} keys {r['keys']:>8} stored {r['stored'] / 1e6:8.2f} MB "
        f"wire {r['wire'] / 1e6:8.2f} MB  req {r['requests']:>5}  {r['seconds']:7.3f} s "
        f"({r['wire'] / 1e6 / max(r['seconds'], 1e-9):7.1f} MB/s, {r['vs_limit']:.2f}x limit)  "
        + ex
    )


_COLS = {"case", "what", "keys", "stored", "wire", "requests", "seconds", "wall", "limit_s",
         "vs_limit"}  # fmt: skip


def wire_of(s: dict[str, Any]) -> int:
    """Body bytes both ways from a summary."""
    return int(s.get("up", 0)) + int(s.get("down", 0))


def served_cli(srv: rig.Proc, *args: str, **kw: Any) -> dict[str, Any]:
    """``rig.cli`` with the server's CPU seconds meanwhile (``server_cpu``)."""
    c0 = rig.cpu_seconds(srv.proc.pid)
    s = rig.cli(*args, **kw)
    s["server_cpu"] = rig.cpu_seconds(srv.proc.pid) - c0
    return s


def via(px: rig.Proxy, fn: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], int]:
    """Run ``fn`` and count what crossed the proxy meanwhile."""
    u0, d0 = px.moved()
    s = fn()
    u1, d1 = px.moved()
    return s, (u1 - u0) + (d1 - d0)


def main() -> None:  # noqa: D103
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="128^3 volumes, 20,000 keys, 2 kills")
    ap.add_argument("--size", type=int, default=None, help="volume edge (multiple of 64)")
    ap.add_argument("--kv-keys", type=int, default=None)
    ap.add_argument("--rate", type=float, default=100.0, help="proxy limit, MB/s (case 6)")
    ap.add_argument("--kills", type=int, default=None)
    ap.add_argument("--cases", default="1,2,3,4,5,6,7")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--cache", default=None, help="build the sources here once and reuse them")
    args = ap.parse_args()
    n = args.size or (128 if args.quick else 512)
    kv_keys = args.kv_keys or (20_000 if args.quick else 1_000_000)
    kills = args.kills if args.kills is not None else (2 if args.quick else 3)
    cases = {int(c) for c in args.cases.split(",")}
    tmp = Path(tempfile.mkdtemp(prefix="bench_sync_"))
    t0 = time.perf_counter()
    built = _built(args.cache, f"vol-{n}", lambda p: build_volumes(p, n))
    shutil.copytree(built, tmp / "vol")
    shutil.copytree(built, tmp / "vol-dvid")
    if 4 in cases:  # labels stored as DVID stores them: a server that passes Blocks on
        lb = _built(args.cache, f"vol-lb-{n}", lambda p: build_volumes(p, n, "labelblock"))
        shutil.copytree(lb, tmp / "vol-lb")
    if 5 in cases:
        shutil.copytree(
            _built(args.cache, f"kv-{kv_keys}", lambda p: build_kv(p, kv_keys)), tmp / "kv"
        )
    print(f"built {n}^3 x 2 over {NODES} nodes, {kv_keys} keys in {time.perf_counter() - t0:.0f} s")
    load = os.getloadavg()
    print(f"load: {load[0]:.1f} {load[1]:.1f} (1 and 5 min), {os.cpu_count()} CPUs")
    b = Bench(tmp, args)
    try:
        run(b, n, kv_keys, kills, cases)
    finally:
        b.close()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    summary(b.rows)


def _built(cache: str | None, name: str, build: Callable[[Path], None]) -> Path:
    """The source repository ``name``: built in ``cache`` once (kept), else in a temporary dir."""
    base = Path(cache) if cache else Path(tempfile.mkdtemp(prefix="bench_sync_src_"))
    path = base / name
    if not (path / ".dvid").exists():
        shutil.rmtree(path, ignore_errors=True)
        build(path)
    return path


def _root(path: Path) -> str:
    with Repository.open(path, read_only=True) as r:
        return r.root_uuid


def run(b: Bench, n: int, kv_keys: int, kills: int, cases: set[int]) -> None:
    """The seven cases (see the module doc)."""
    tmp = b.tmp
    vol_root = _root(tmp / "vol")
    kv_root = _root(tmp / "kv") if 5 in cases else ""
    a = rig.serve([tmp / "vol"] + ([tmp / "kv"] if 5 in cases else []))
    b.procs.append(a)
    c1, c1b = tmp / "c1", tmp / "c1b"
    s = served_cli(a, "clone", f"{a.url}/{vol_root}", str(c1))
    b.row("1", "clone", s, wire_of(s), disk=True, cpu_s=s["server_cpu"])
    b.ceiling(wire_of(s))
    clone_rate = wire_of(s) / s["seconds"]
    clone_cpu = wire_of(s) / (s["cpu_seconds"] + s["server_cpu"])
    if 1 in cases:
        s = served_cli(a, "clone", f"{a.url}/{vol_root}", str(c1b))
        b.row("1", "clone again", s, wire_of(s), disk=True, cpu_s=s["server_cpu"])
        clone_rate = max(clone_rate, wire_of(s) / s["seconds"])
        clone_cpu = max(clone_cpu, wire_of(s) / (s["cpu_seconds"] + s["server_cpu"]))
        _cold_clones(b, tmp / "vol", vol_root)
        big = change_blocks(c1, n, 0.25, seed=7)
        s = served_cli(a, "push", cwd=c1)
        b.row("1", "push of a 25% node", s, wire_of(s), changed=big["bytes"], cpu_s=s["server_cpu"])
        # Twice, as the clone (best of two against best of two): into the second
        # clone and into a copy of it made before (the same repository, byte for byte).
        c1c = tmp / "c1c"
        shutil.copytree(c1b, c1c)
        pulls = (("pull of that node", c1b), ("pull again (a copy)", c1c))
        _pulls(b, a, pulls, clone_rate, clone_cpu)
        shutil.rmtree(c1c)
    px = b.proxy(a.port)
    for c in (c1, c1b):
        if c.exists():
            rig.cli("remote", "add", "px", f"{px.url}/{vol_root}", cwd=c)
    if 2 in cases or 3 in cases:
        ch = change_blocks(c1, n, 0.01, seed=11)
        s, wire = via(px, lambda: rig.cli("push", "px", "master", cwd=c1))
        _bytes_row(b, "2", "push of a 1% node", s, wire, ch, link="proxy")
    if 3 in cases:
        s, wire = via(px, lambda: rig.cli("push", "px", "master", cwd=c1))
        b.row("3", "no-op push", s, wire, link="proxy")
        s, wire = via(px, lambda: rig.cli("pull", "px", "master", cwd=c1))
        b.row("3", "no-op pull", s, wire, link="proxy")
    if 4 in cases:
        bsrv = rig.serve([tmp / "vol-dvid"], sync_api=False)
        b.procs.append(bsrv)
        pxb = b.proxy(bsrv.port)
        s, wire = via(pxb, lambda: rig.cli("clone", f"{pxb.url}/{vol_root}", str(tmp / "c4")))
        b.row("4", "clone through DVID's endpoints", s, wire, link="proxy")
        bsrv.stop()
        lsrv = rig.serve([tmp / "vol-lb"], sync_api=False)
        b.procs.append(lsrv)
        pxl = b.proxy(lsrv.port)
        lb_root = _root(tmp / "vol-lb")
        s, wire = via(pxl, lambda: rig.cli("clone", f"{pxl.url}/{lb_root}", str(tmp / "c4b")))
        b.row("4", "the same, labels stored as DVID's", s, wire, link="proxy")
        lsrv.stop()
    if 5 in cases:
        c5 = tmp / "c5"
        s = rig.cli("clone", f"{a.url}/{kv_root}", str(c5))
        b.row("5", f"clone of {kv_keys} keys", s, wire_of(s), keys_per_s=s["keys"] / s["seconds"])
        s = rig.cli("push", cwd=c5)
        b.row("5", "no-op push", s, wire_of(s))
        s = rig.cli("pull", cwd=c5)
        b.row("5", "no-op pull", s, wire_of(s))
    if 6 in cases:
        slow = b.proxy(a.port, b.args.rate)
        rig.cli("remote", "add", "slow", f"{slow.url}/{vol_root}", cwd=c1)
        # The throughput goal where the link, not the machine, is the bound (as between labs).
        s, wire = via(slow, lambda: rig.cli("clone", f"{slow.url}/{vol_root}", str(tmp / "c6")))
        b.row("6", f"clone at {b.args.rate:.0f} MB/s", s, wire, link="slow", rate_mb=b.args.rate)
        shutil.rmtree(tmp / "c6")
        # The 1% change (labels are ~5% of its bytes), then 10% of the label
        # blocks alone, where the label encoding decides the bytes.
        for frac, gray_too, what in ((0.01, True, "1% push"), (0.10, False, "10% labels push")):
            for k, enc in enumerate(("stored", "labelblock", "auto")):
                ch = change_blocks(
                    c1, n, frac, seed=20 + k + (0 if gray_too else 10), gray_too=gray_too
                )
                env = {"DVIDCTL_SYNC_LABELS": enc}
                s, wire = via(slow, lambda e=env: rig.cli("push", "slow", "master", cwd=c1, env=e))
                _bytes_row(
                    b, "6", f"{what} at {b.args.rate:.0f} MB/s, {enc}", s, wire, ch,
                    link="slow", rate_mb=b.args.rate,
                )  # fmt: skip
    if 7 in cases:
        _kills(b, a, vol_root, kills)
    if 1 in cases:
        # Last, so that no other case moves more: a node that rewrote every block (about
        # the clone's bytes in one node), pulled twice as above. Its rate against the
        # clone's separates the pull's fixed costs (the 25% node is a quarter of the
        # clone) from its rate per byte.
        change_blocks(c1, n, 1.0, seed=13)
        served_cli(a, "push", cwd=c1)  # c1 made every node A has since the clone
        c1c = tmp / "c1c"
        shutil.copytree(c1b, c1c)
        pulls = (("pull of a 100% node", c1b), ("pull of a 100% node again", c1c))
        _pulls(b, a, pulls, clone_rate, clone_cpu)
        shutil.rmtree(c1c)


def _cold_clones(b: Bench, vol: Path, root: str) -> None:
    """The clone from a server whose files are not in the page cache (a server just
    started on a large repository), with the kernel's readahead in its mapped table
    files (the default) and without it (``DVIDCTL_READAHEAD=0``: RocksDB's advice that
    every file is read at random, a 4 KiB page fault at a time)."""
    cold = b.tmp / "vol-cold"
    shutil.copytree(vol, cold)
    for what, env in (("", None), (", no readahead", {"DVIDCTL_READAHEAD": "0"})):
        left = rig.evict(cold)
        srv = rig.serve([cold], env=env)
        dest = b.tmp / "c-cold"
        s = served_cli(srv, "clone", f"{srv.url}/{root}", str(dest))
        srv.stop()
        b.row(
            "1", f"clone, server files not cached{what}", s, wire_of(s), disk=True,
            cpu_s=s["server_cpu"], cached_before=left,
        )  # fmt: skip
        shutil.rmtree(dest)
    shutil.rmtree(cold)


def _pulls(
    b: Bench,
    a: rig.Proc,
    pulls: tuple[tuple[str, Path], ...],
    clone_rate: float,
    clone_cpu: float,
) -> None:
    """A row per pull of A's master into each repository, with its rate against the clone's."""
    for label, where in pulls:
        # As the clone's server is: RocksDB's compaction of what the push brought runs
        # on the server's threads for up to seconds after it (measured beside a pull:
        # 0.34-0.37 s against 0.22-0.25 s for the same pull once it had ended).
        waited = rig.wait_idle(a.proc.pid)
        s = served_cli(a, "pull", cwd=where)
        s["idle_wait"] = waited
        rate = wire_of(s) / s["seconds"]
        per_cpu = wire_of(s) / (s["cpu_seconds"] + s["server_cpu"])
        b.row(
            "1", label, s, wire_of(s), disk=True, cpu_s=s["server_cpu"],
            vs_clone=rate / clone_rate, vs_clone_cpu=per_cpu / clone_cpu,
            idle_wait=round(s["idle_wait"], 1),
        )  # fmt: skip


def _bytes_row(
    b: Bench, case: str, what: str, s: dict[str, Any], wire: int, ch: dict[str, int], **kw: Any
) -> None:
    over = (wire - ch["bytes"]) / max(1, ch["keys"])
    ok = wire <= 1.03 * ch["bytes"] + 24 * ch["keys"]
    b.row(
        case, what, s, wire, changed=ch["bytes"], changed_keys=ch["keys"],
        x_changed=wire / max(1, ch["bytes"]), B_per_key=over, goal_met=ok, **kw,
    )  # fmt: skip


def _kills(b: Bench, a: rig.Proc, root: str, kills: int) -> None:
    """Case 7: clone through a counting proxy, SIGKILLed ``kills`` times, then finished.

    Each kill comes once the attempt has moved a random 10-50% of the bytes the same
    clone moved uninterrupted (measured first, through the same proxy; a kill placed by
    time would mostly land in the CLI's start-up or after the end, now that the
    transfer is shorter than the start-up); bytes sent again are the difference.
    """
    px = b.proxy(a.port)
    rng = random.Random(3)
    dest = b.tmp / "c7"
    _, whole = via(px, lambda: rig.cli("clone", f"{px.url}/{root}", str(b.tmp / "c7-whole")))
    u0, d0 = px.moved()
    done, finished = 0, False
    for _ in range(kills):
        p = subprocess.Popen(
            [rig.PY, "-m", "dvidctl", "clone", f"{px.url}/{root}", str(dest), "--json"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=rig.ROOT,
        )
        if not _moved_past(px, p, rng.uniform(0.1, 0.5) * whole):
            p.wait()  # it finished first (a resumed clone has less to do)
            finished = True
            break
        p.send_signal(signal.SIGKILL)
        p.wait()
        done += 1
    if not finished:
        try:
            s = rig.cli("clone", f"{px.url}/{root}", str(dest))
        except RuntimeError as exc:  # killed after its clone was whole (closing): fetch instead
            if "already holds" not in str(exc):
                raise
            finished = True
    if finished:
        s = rig.cli("fetch", cwd=dest)
    u1, d1 = px.moved()
    again = (u1 - u0) + (d1 - d0) - whole  # against the same clone uninterrupted
    b.row(
        "7", f"clone killed {done}x, resumed", s, (u1 - u0) + (d1 - d0), link="proxy",
        whole=whole, sent_again=again, again_per_kill=again / max(1, done),
        bound=Options().streams * Options().batch_bytes,  # one batch per stream
    )  # fmt: skip


def _moved_past(px: rig.Proxy, p: subprocess.Popen[bytes], nbytes: float) -> bool:
    """Wait until ``nbytes`` more cross ``px`` (True) or ``p`` exits first (False)."""
    start = sum(px.moved(wait=False))
    while p.poll() is None:
        if sum(px.moved(wait=False)) - start >= nbytes:
            return True
        time.sleep(0.01)
    return False


def summary(rows: list[dict[str, Any]]) -> None:
    """The table for bench/RESULTS.md."""
    print("\n| case | what | keys | stored MB | wire MB | requests | s | MB/s | x limit | notes |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        notes = ", ".join(
            f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
            for k, v in r.items()
            if k not in _COLS
        )
        mbs = r["wire"] / 1e6 / max(r["seconds"], 1e-9)
        print(
            f"| {r['case']} | {r['what']} | {r['keys']} | {r['stored'] / 1e6:.2f} | "
            f"{r['wire'] / 1e6:.2f} | {r['requests']} | {r['seconds']:.3f} | {mbs:.0f} | "
            f"{r['vs_limit']:.2f} | {notes} |"
        )
    print("\ngoals: " + "; ".join(f"{k}: {v}" for k, v in GOALS.items()))


if __name__ == "__main__":
    main()
