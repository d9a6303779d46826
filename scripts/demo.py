#!/usr/bin/env python3
"""The end-to-end demo: a temporary repository driven through the real ``dvidctl`` CLI.

Each step prints the command and its output, so this doubles as a tour.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BIN = Path(sys.executable).parent
DVIDCTL = str(BIN / "dvidctl")


def run(*args: str, stdin: bytes | None = None, ok: bool = True, cwd: Path) -> str:
    """Run ``dvidctl ARGS`` in ``cwd``, echo it, and return stdout."""
    print(f"\n$ dvidctl {' '.join(args)}" + (" < (stdin)" if stdin is not None else ""), flush=True)
    proc = subprocess.run([DVIDCTL, *args], input=stdin, cwd=cwd, capture_output=True)
    out = proc.stdout.decode(errors="replace")
    sys.stdout.write(out)
    sys.stdout.write(proc.stderr.decode(errors="replace"))
    if ok and proc.returncode != 0:
        raise SystemExit(
            f"demo step failed with exit code {proc.returncode}: dvidctl {' '.join(args)}"
        )
    if not ok and proc.returncode == 0:
        raise SystemExit(f"demo step should have failed: dvidctl {' '.join(args)}")
    return out


def keyvalue_tour(d: Path) -> None:
    """Versions, branches, a conflict caught at merge time, and a resolution."""
    run("init", "--alias", "demo", "--description", "dvidctl demo repository", cwd=d)
    run("new", "keyvalue", "notes", cwd=d)
    run("put", "key", "notes", "status", stdin=b"draft", cwd=d)
    run("put", "key", "notes", "owner", stdin=b"alice", cwd=d)
    run("commit", "-m", "first notes", cwd=d)
    run("branch", "review", "--checkout", cwd=d)
    run("put", "key", "notes", "status", stdin=b"reviewed", cwd=d)
    run("put", "key", "notes", "reviewer", stdin=b"bob", cwd=d)
    run("commit", "-m", "review done", cwd=d)
    run("checkout", "master", cwd=d)
    run("put", "key", "notes", "status", stdin=b"final", cwd=d)
    run("commit", "-m", "finalised on master", cwd=d)
    run("diff", "master~1", "review~1", cwd=d)
    print("\n# both sides changed 'status': the merge refuses and lists the conflict")
    run("merge", "review", ok=False, cwd=d)
    run("merge", "review", "--strategy", "theirs", "-m", "merge review", cwd=d)
    got = run("get", "key", "notes", "status", cwd=d)
    assert got == "reviewed", got
    old = run("get", "key", "notes", "status", "--node", "master~1", cwd=d)
    assert old == "final", old
    run("keys", "notes", cwd=d)
    run("commit", "-m", "after merge", cwd=d)
    run("tag", "v1", "HEAD~1", cwd=d)
    run("status", cwd=d)
    run("log", "--graph", "--all", cwd=d)


def voxel_tour(d: Path) -> None:
    """Grayscale and labels, if the voxel datatypes are installed."""
    try:
        import numpy as np

        from dvidctl.datatypes import registry

        registry.get("labelmap")
        registry.get("uint8blk")
    except Exception:  # noqa: BLE001 - optional part of the tour
        return
    gray = (np.arange(96 * 80 * 64, dtype=np.uint64) % 251).astype(np.uint8).reshape(96, 80, 64)
    labels = np.zeros((64, 64, 64), dtype=np.uint64)
    labels[:, :, 32:] = 7
    labels[20:40, 10:30, 5:25] = 123456789
    np.save(d / "gray.npy", gray)
    np.save(d / "labels.npy", labels)
    run("new", "uint8blk", "grayscale", "--block-size", "32,32,32", cwd=d)
    run("new", "labelmap", "segmentation", "--max-downres", "2", cwd=d)
    run("put", "subvolume", "grayscale", "gray.npy", "--offset", "10,20,30", cwd=d)
    run("put", "subvolume", "segmentation", "labels.npy", "--offset", "0,0,0", cwd=d)
    run("commit", "-m", "volumes", cwd=d)
    run(
        "get",
        "subvolume",
        "grayscale",
        "--offset",
        "10,20,30",
        "--size",
        "64,80,96",
        "-o",
        "back.npy",
        cwd=d,
    )
    back = np.load(d / "back.npy")
    assert np.array_equal(back, gray), "grayscale read back differs"
    print("# grayscale read back bit-exactly")
    run(
        "get",
        "slice",
        "grayscale",
        "xy",
        "--offset",
        "10,20,50",
        "--size",
        "64,80",
        "-o",
        "slice.png",
        cwd=d,
    )
    run(
        "get",
        "subvolume",
        "segmentation",
        "--offset",
        "0,0,0",
        "--size",
        "32,32,32",
        "--scale",
        "1",
        "-o",
        "s1.npy",
        cwd=d,
    )
    run("info", "segmentation", cwd=d)


def serve_tour(d: Path) -> None:
    """Serve the repository over DVID's HTTP API and read it back as a DVID client would."""
    import signal
    import socket
    import time

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    print(f"\n$ dvidctl serve --port {port} &", flush=True)
    proc = subprocess.Popen(
        [DVIDCTL, "serve", "--port", str(port)],
        cwd=d,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{url}/heartbeat").text == "OK":
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        info = httpx.get(f"{url}/repos/info").json()
        ((root, repo_info),) = info.items()
        print(
            f"GET /api/repos/info -> repo {root[:10]}: {sorted(repo_info['DataInstances'])}, "
            f"{len(repo_info['DAG']['Nodes'])} nodes"
        )
        status = httpx.get(f"{url}/node/:master/notes/key/status").content
        print(f"GET /api/node/:master/notes/key/status -> {status!r}")
        assert status == b"reviewed", status
        if "grayscale" in repo_info["DataInstances"]:
            r = httpx.get(f"{url}/node/:master/grayscale/raw/0_1_2/64_80_96/10_20_30")
            import numpy as np

            got = np.frombuffer(r.content, np.uint8).reshape(96, 80, 64)
            assert np.array_equal(got, np.load(d / "gray.npy"))
            print(
                "GET /api/node/:master/grayscale/raw/0_1_2/64_80_96/10_20_30 -> "
                f"{len(r.content)} bytes, identical"
            )
        run("keys", "notes", "--remote", f"http://127.0.0.1:{port}", "--node", ":master", cwd=d)
        if "segmentation" in repo_info["DataInstances"]:
            sync_tour(d, f"http://127.0.0.1:{port}/{root[:10]}")
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        print(out.decode(errors="replace").strip().splitlines()[-1])
    if proc.returncode != 0:
        raise SystemExit(f"dvidctl serve exited with {proc.returncode}")


def sync_tour(d: Path, remote: str) -> None:
    """Clone from the server, proofread in the clone, and push back: only the change travels."""
    import httpx

    print("\n# a collaborator clones the served repository, merges two bodies, and pushes")
    run("clone", remote, "lab", cwd=d)
    lab = d / "lab"
    run("label", "size", "segmentation", "7", "123456789", cwd=lab)
    run("label", "merge", "segmentation", "7", "123456789", cwd=lab)
    run("diff", "HEAD~1", "HEAD", "--labels", "segmentation", cwd=lab)
    run("commit", "-m", "merge body 123456789 into 7", cwd=lab)
    run("push", cwd=lab)
    server, _, uuid = remote.rpartition("/")
    size = httpx.get(f"{server}/api/node/:master/segmentation/size/7").json()["voxels"]
    print(f"GET /api/node/:master/segmentation/size/7 -> {size} voxels (32*64*64 + 20^3)")
    assert size == 32 * 64 * 64 + 20**3, size
    del uuid


def main() -> int:
    """Run the demo in a temporary directory (kept with DVIDCTL_DEMO_KEEP=1)."""
    d = Path(tempfile.mkdtemp(prefix="dvidctl-demo-"))
    print(f"# demo repository in {d}")
    try:
        keyvalue_tour(d)
        voxel_tour(d)
        serve_tour(d)
        print("\n# demo finished: every step ran against a real RocksDB repository")
    finally:
        if os.environ.get("DVIDCTL_DEMO_KEEP") != "1":
            shutil.rmtree(d, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
