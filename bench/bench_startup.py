"""Start-up: how long a command and a server take to begin, side by side with their floor.

Issue #9's goals, measured in one run, interleaved (every case once per round,
median of the rounds):

* ``dvidctl status`` and ``dvidctl get key`` within 1.5x of
  ``python -c "import typer, numpy"`` (the floor any typer + numpy CLI pays);
* ``dvidctl serve`` answers its first request within 0.5 s of launch (DVID's own
  client test fixtures start ``dvid`` and wait a fixed second).

Usage: ``python bench/bench_startup.py [--rounds 15]``.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent
DVIDCTL = str(BIN / "dvidctl")


def _time(cmd: list[str], cwd: Path, stdin: bytes | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, input=stdin, capture_output=True, check=True)
    return time.perf_counter() - t0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_first_answer(cwd: Path) -> float:
    port = _free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [DVIDCTL, "serve", "--port", str(port)],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/server/info"
        while True:
            try:
                if httpx.get(url, timeout=1.0).status_code == 200:
                    return time.perf_counter() - t0
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise RuntimeError("dvidctl serve exited")
            time.sleep(0.005)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dvidctl-startup-"))
    try:
        repo = tmp / "r"
        subprocess.run([DVIDCTL, "init", str(repo)], check=True, capture_output=True)
        subprocess.run([DVIDCTL, "new", "keyvalue", "kv"], cwd=repo, check=True)
        subprocess.run([DVIDCTL, "put", "key", "kv", "k"], cwd=repo, input=b"v", check=True)
        cases = {
            "python -c 'import typer, numpy'": lambda: _time(
                [sys.executable, "-c", "import typer, numpy"], repo
            ),
            "dvidctl status": lambda: _time([DVIDCTL, "status"], repo),
            "dvidctl get key": lambda: _time([DVIDCTL, "get", "key", "kv", "k"], repo),
            "dvidctl serve, first answer": lambda: _serve_first_answer(repo),
        }
        times: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(args.rounds):
            for name, run in cases.items():
                times[name].append(run())
        floor = statistics.median(times["python -c 'import typer, numpy'"])
        print(f"rounds: {args.rounds}; median seconds; ratio to the typer+numpy import")
        print("| case | median s | min s | ratio | goal |")
        print("|---|---|---|---|---|")
        goals = {"dvidctl status": "<= 1.5x", "dvidctl get key": "<= 1.5x"}
        for name, ts in times.items():
            med = statistics.median(ts)
            goal = goals.get(name, "<= 0.5 s" if "serve" in name else "")
            print(f"| {name} | {med:.3f} | {min(ts):.3f} | {med / floor:.2f} | {goal} |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
