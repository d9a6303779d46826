"""The rig of bench_sync.py: servers in their own processes, a loopback proxy, the link limit.

* :class:`Proc` -- ``dvidctl serve`` (or this file's own helpers) in a subprocess;
* ``python bench/sync_rig.py proxy LISTEN TARGET RATE COUNTS`` -- a TCP proxy on
  127.0.0.1 that forwards to ``TARGET`` at most ``RATE`` bytes/s each way (0: no
  limit, a byte counter only) and keeps the bytes it moved each way in the file
  ``COUNTS`` (rewritten every 50 ms);
* ``python bench/sync_rig.py rawserver PORT`` -- uvicorn (the server stack of
  ``dvidctl serve``) answering ``GET /bytes/N`` with N bytes streamed in 1 MiB
  pieces: :func:`raw_get` times it with httpx, the sync client's library. That is
  the **link limit** every sync time is compared with, on the same link in the same run;
* volume builders (EM-like grayscale, DVID's real label samples tiled).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "tests" / "data" / "dvid"
PY = sys.executable


def free_port() -> int:
    """A free loopback port (bound and released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"nothing listens on port {port}")


class Proc:
    """A helper process listening on a loopback port; stopped by :meth:`stop`."""

    def __init__(self, args: list[str], port: int, env: dict[str, str] | None = None) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT
        )
        _wait_port(port, self.proc)

    def stop(self) -> None:
        """SIGINT, then wait (SIGKILL after 30 s)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def serve(
    repos: list[Path],
    *,
    store: Path | None = None,
    sync_api: bool = True,
    env: dict[str, str] | None = None,
) -> Proc:
    """``dvidctl serve`` on ``repos`` in its own process (``env``: added to the environment)."""
    port = free_port()
    args = [PY, "-m", "dvidctl", "serve", "--port", str(port)]
    for r in repos:
        args += ["--repo", str(r)]
    if store is not None:
        args += ["--store", str(store)]
    if not sync_api:
        args.append("--no-sync-api")
    return Proc(args, port, {**os.environ, **env} if env else None)


def evict(path: Path) -> float:
    """Drop every file under ``path`` from the page cache (written out first); the share
    of their bytes still cached after (mincore; near 1.0 where a filesystem keeps them,
    e.g. tmpfs). No process may have them mapped: mapped pages stay."""
    import ctypes
    import ctypes.util
    import mmap

    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    total = cached = 0
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        size = f.stat().st_size
        if size == 0:
            continue
        fd = os.open(f, os.O_RDONLY)
        try:
            os.fdatasync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            with mmap.mmap(fd, size, access=mmap.ACCESS_COPY) as m:
                vec = (ctypes.c_ubyte * ((size + mmap.PAGESIZE - 1) // mmap.PAGESIZE))()
                buf = ctypes.c_char.from_buffer(m)  # type: ignore[arg-type]
                try:
                    libc.mincore(ctypes.c_void_p(ctypes.addressof(buf)), ctypes.c_size_t(size), vec)
                finally:
                    del buf
                cached += sum(b & 1 for b in vec) * mmap.PAGESIZE
        finally:
            os.close(fd)
        total += size
    return min(1.0, cached / total) if total else 0.0


class Proxy(Proc):
    """A loopback TCP proxy to ``target`` at ``rate`` bytes/s each way (0: unlimited)."""

    def __init__(self, target: int, rate: float, counts: Path) -> None:
        self.counts = counts
        port = free_port()
        super().__init__(
            [PY, str(Path(__file__)), "proxy", str(port), str(target), str(rate), str(counts)],
            port,
        )

    def moved(self, *, wait: bool = True) -> tuple[int, int]:
        """Bytes moved so far: (client -> server, server -> client). ``wait``: long enough
        for the count file to catch up with what has moved (else up to 50 ms behind)."""
        if wait:
            time.sleep(0.12)  # the file is rewritten every 50 ms
        try:
            doc = json.loads(self.counts.read_text() or "{}")
        except (OSError, ValueError):  # not written yet
            doc = {}
        return int(doc.get("up", 0)), int(doc.get("down", 0))


def rawserver() -> Proc:
    """The raw byte server of the link limit."""
    port = free_port()
    return Proc([PY, str(Path(__file__)), "rawserver", str(port)], port)


def raw_get(url: str, nbytes: int, repeat: int = 3) -> float:
    """Best seconds of a streamed GET of ``nbytes`` from the raw server at ``url``, with httpx."""
    import httpx

    best = float("inf")
    with httpx.Client(timeout=120) as client:
        for _ in range(repeat):
            t0 = time.perf_counter()
            got = 0
            with client.stream("GET", f"{url}/bytes/{nbytes}") as r:
                for chunk in r.iter_raw():
                    got += len(chunk)
            best = min(best, time.perf_counter() - t0)
            assert got == nbytes, (got, nbytes)
    return best


def raw_get_socket(url: str, nbytes: int, repeat: int = 3) -> float:
    """:func:`raw_get` with the standard library's ``http.client``, read with ``readinto``
    into one reused buffer: the link's limit without httpx's own cost per byte (h11 copies
    each piece twice), the fastest a Python client here can take the bytes in."""
    import http.client
    from urllib.parse import urlsplit

    u = urlsplit(url)
    buf = memoryview(bytearray(1 << 20))
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=120)
        conn.request("GET", f"/bytes/{nbytes}")
        r = conn.getresponse()
        got = 0
        while k := r.readinto(buf):
            got += k
        conn.close()
        best = min(best, time.perf_counter() - t0)
        assert got == nbytes, (got, nbytes)
    return best


def disk_get(folder: Path, nbytes: int, chunk: int = 16 << 20, repeat: int = 2) -> float:
    """Best seconds to write ``nbytes`` to a file in ``folder``, ``fsync`` after each ``chunk``
    (the durable-write limit: one durable point per batch, as sync's receiver)."""
    piece = os.urandom(min(chunk, max(1, nbytes)))
    best = float("inf")
    for _ in range(repeat):
        path = folder / "disk-limit.bin"
        t0 = time.perf_counter()
        with open(path, "wb", buffering=0) as f:
            left = nbytes
            while left > 0:
                k = min(left, len(piece))
                f.write(piece[:k])
                os.fsync(f.fileno())
                left -= k
        best = min(best, time.perf_counter() - t0)
        path.unlink()
    return best


def disk_first(folder: Path, nbytes: int, chunk: int = 16 << 20) -> float:
    """Seconds a new process takes to write ``nbytes`` to a new file, ``fsync`` after each
    ``chunk``: :func:`disk_get` (once) as a clone meets it, its file's page-cache pages
    on memory the process has not used before. On a virtual machine
    that hands free memory back to its host (free page reporting) each such page is
    faulted in again from the host: several times the time of a rewrite."""
    child = (
        "import sys; sys.path.insert(0, sys.argv[1]); import sync_rig; from pathlib import Path; "
        "print(sync_rig.disk_get(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), repeat=1))"
    )
    args = [str(Path(__file__).parent), str(folder), str(max(1, nbytes)), str(chunk)]
    out = subprocess.run([PY, "-c", child, *args], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_idle(pid: int, quiet: float = 0.5, limit: float = 60.0) -> float:
    """Wait until process ``pid`` has used no CPU for ``quiet`` seconds (a server's
    background compactions after a push have ended), at most ``limit``; seconds waited."""
    t0 = time.perf_counter()
    still, last = 0.0, cpu_seconds(pid)
    while still < quiet and time.perf_counter() - t0 < limit:
        time.sleep(0.1)
        now = cpu_seconds(pid)
        still = still + 0.1 if now - last < 0.005 else 0.0
        last = now
    return time.perf_counter() - t0


def cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> dict[str, Any]:
    """``dvidctl ARGS --json`` in its own process; its summary with ``wall`` seconds and the
    process's peak resident memory (``rss_mb``) added."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(
            [PY, "-m", "dvidctl", *args, "--json"],
            stdout=out,
            stderr=err,
            cwd=cwd or ROOT,
            env={**os.environ, **(env or {})},
        )
        hwm = 0  # VmHWM of the process's own memory (ru_maxrss would carry this one's over)
        while p.poll() is None:
            hwm = max(hwm, _vm_hwm_kb(p.pid))
            time.sleep(0.02)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if p.returncode:
        raise RuntimeError(f"dvidctl {' '.join(args)}: {stderr.decode()[-2000:]}")
    doc = json.loads(stdout)
    doc["wall"] = wall
    doc["rss_mb"] = hwm / 1024
    return dict(doc)


def _vm_hwm_kb(pid: int) -> int:
    """Peak resident memory so far of process ``pid`` (kB; 0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


# ----------------------------------------------------------------- volumes
def gray_volume(n: int, seed: int = 0) -> Any:
    """EM-like grayscale: smooth cells, dark membranes, noise (about 1.2x under zstd)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    z, y, x = np.ogrid[0:n, 0:n, 0:n]
    cells = ((x // 24 * 7 + y // 20 * 13 + z // 28 * 5) % 97).astype(np.int16) + 100
    membrane = ((x % 24 < 2) | (y % 20 < 2) | (z % 28 < 2)).astype(np.int16) * 80
    out = cells - membrane
    out = out + rng.normal(0, 12, size=(n, n, n)).astype(np.int16)
    return np.clip(out, 0, 255).astype(np.uint8)


def label_samples() -> list[Any]:
    """DVID's real 64^3 label samples (tests/data/dvid)."""
    import numpy as np

    out = []
    for name in ("fib19-64x64x64-sample1", "fib19-64x64x64-sample2", "cx-64x64x64-sample1"):
        raw = gzip.decompress((SAMPLES / f"{name}.dat.gz").read_bytes())
        out.append(np.frombuffer(raw, "<u8").reshape(64, 64, 64))
    return out


def label_block(samples: list[Any], t: int) -> Any:
    """Real 64^3 label block number ``t``: a sample, relabelled so that no two blocks share ids."""
    import numpy as np

    s = samples[t % len(samples)]
    _, inv = np.unique(s, return_inverse=True)
    return inv.reshape(s.shape).astype(np.uint64) + np.uint64(1000 * t + 1)


def label_volume(n: int) -> Any:
    """An n^3 label volume of real 64^3 blocks."""
    import numpy as np

    samples = label_samples()
    out = np.empty((n, n, n), np.uint64)
    t = 0
    for z in range(0, n, 64):
        for y in range(0, n, 64):
            for x in range(0, n, 64):
                out[z : z + 64, y : y + 64, x : x + 64] = label_block(samples, t)
                t += 1
    return out


# ------------------------------------------------------- helper processes
class _Bucket:
    """A token bucket shared by every connection in one direction."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.t = time.monotonic()
        self.moved = 0

    async def take(self, n: int) -> None:
        self.moved += n
        if self.rate <= 0:
            return
        now = time.monotonic()
        self.t = max(self.t, now - 0.01) + n / self.rate  # at most 10 ms of burst
        if self.t > now:
            await asyncio.sleep(self.t - now)


async def _pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter, bucket: _Bucket) -> None:
    try:
        while data := await r.read(1 << 16):
            await bucket.take(len(data))
            w.write(data)
            await w.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        w.close()


async def _proxy(listen: int, target: int, rate: float, counts: Path) -> None:
    up, down = _Bucket(rate), _Bucket(rate)

    async def conn(cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        try:
            sr, sw = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            cw.close()
            return
        await asyncio.gather(_pipe(cr, sw, up), _pipe(sr, cw, down))

    async def report() -> None:
        while True:
            tmp = counts.with_suffix(".tmp")
            tmp.write_text(json.dumps({"up": up.moved, "down": down.moved}))
            tmp.replace(counts)
            await asyncio.sleep(0.05)

    server = await asyncio.start_server(conn, "127.0.0.1", listen)
    asyncio.get_running_loop().create_task(report())
    async with server:
        await server.serve_forever()


def _rawserver(port: int) -> None:
    import uvicorn

    piece = os.urandom(1 << 20)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        n = int(scope["path"].rsplit("/", 1)[-1])
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/octet-stream")],
            }
        )
        while n > 0:
            k = min(n, len(piece))
            n -= k
            await send({"type": "http.response.body", "body": piece[:k], "more_body": n > 0})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    if sys.argv[1] == "proxy":
        asyncio.run(
            _proxy(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), Path(sys.argv[5]))
        )
    elif sys.argv[1] == "rawserver":
        _rawserver(int(sys.argv[2]))
