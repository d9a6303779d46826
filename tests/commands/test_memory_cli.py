"""Large reads and writes through the CLI hold little more than their data (issue 8, item 9).

The peak resident memory of real ``dvidctl`` processes is read from the kernel
(``VmHWM`` of ``/proc/self/status``, written by the child as it exits), less the
same command's peak on a one-voxel input. The bounds are generous (the goal,
checked by ``bench/bench_memory.py``, is 1.5x); before, these commands took 2x
to 3x the array and 3x to 4x a keyvalue value; then keyvalue 2x until values
above 8 MiB were stored in pieces.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.commands.cli_helpers import assert_fails, invoker

#: Runs dvidctl with its arguments and writes its peak RSS (bytes) to argv[1] at exit.
_PEAK = textwrap.dedent(
    """
    import atexit, sys
    def peak():
        with open("/proc/self/status") as f:
            kib = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
        with open(out, "w") as f:
            f.write(str(kib * 1024))
    out = sys.argv[1]
    atexit.register(peak)
    sys.argv = ["dvidctl", *sys.argv[2:]]
    from dvidctl.commands.entry import main
    main()
    """
)

linux_only = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc"
)


def _peak(repo: Path, *args: str, stdin: Path | None = None, stdout: Path | None = None) -> int:
    out = repo.parent / "peak.txt"
    env = {**os.environ, "DVIDCTL_REPO": str(repo)}
    with open(stdin or os.devnull, "rb") as fin, open(stdout or os.devnull, "wb") as fout:
        proc = subprocess.run(
            [sys.executable, "-c", _PEAK, str(out), *args],
            stdin=fin,
            stdout=fout,
            stderr=subprocess.PIPE,
            env=env,
            timeout=300,
        )
    assert proc.returncode == 0, proc.stderr.decode()
    return int(out.read_text())


def _init(repo: Path, *new: str) -> None:
    for args in (("init", str(repo)), ("new", *new)):
        subprocess.run(
            [sys.executable, "-m", "dvidctl", *args],
            check=True,
            capture_output=True,
            env={**os.environ, "DVIDCTL_REPO": str(repo)},
        )


@linux_only
def test_put_and_get_subvolume_hold_little_more_than_the_array(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    # Random uint64 voxels are 8 million distinct labels: with label indexes on, the write
    # would also make 8 million index keys (one per body, as DVID). This measures the
    # voxel path, so the instance keeps none (IndexedLabels=false).
    _init(
        repo, "labelmap", "seg", "--config", "BlockSize=64,64,64", "--config", "IndexedLabels=false"
    )
    shape = (128, 256, 256)  # 64 MiB of incompressible uint64
    vol = np.random.default_rng(1).integers(0, 2**63, shape, dtype=np.uint64)
    np.save(tmp_path / "vol.npy", vol)
    np.save(tmp_path / "one.npy", vol[:1, :1, :1])
    out = str(tmp_path / "out.npy")
    put = ["put", "subvolume", "seg"]
    get = ["get", "subvolume", "seg", "--offset", "0,0,0", "-o", out, "--size"]
    idle_put = _peak(repo, *put, str(tmp_path / "one.npy"), "--offset", "0,0,999")
    idle_get = _peak(repo, *get, "1,1,1")
    size = vol.nbytes
    ratios = {
        "put": (_peak(repo, *put, str(tmp_path / "vol.npy")) - idle_put) / size,
        # Over the same box: the close compacts what it replaced, reading both copies.
        "put again": (_peak(repo, *put, str(tmp_path / "vol.npy")) - idle_put) / size,
        "get": (_peak(repo, *get, "256,256,128") - idle_get) / size,
    }
    assert np.array_equal(np.load(out, mmap_mode="r"), vol)
    # Measured 1.4x, 1.4x and 1.3x at this size (fixed parts weigh more than at 128 MiB);
    # before: 2.0x, 3.0x and 3.0x.
    assert all(r < 1.75 for r in ratios.values()), ratios


@linux_only
def test_put_and_get_key_hold_a_few_pieces_of_the_value(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    _init(repo, "keyvalue", "kv")
    value = tmp_path / "value.bin"
    value.write_bytes(np.random.default_rng(2).bytes(64 << 20))
    (tmp_path / "one.bin").write_bytes(b"x")
    out = tmp_path / "out.bin"
    idle_put = _peak(repo, "put", "key", "kv", "one", str(tmp_path / "one.bin"))
    idle_get = _peak(repo, "get", "key", "kv", "one", "-o", str(out))
    size = 64 << 20
    ratios = {
        "put file": (_peak(repo, "put", "key", "kv", "k", str(value)) - idle_put) / size,
        "put stdin": (_peak(repo, "put", "key", "kv", "k2", "-", stdin=value) - idle_put) / size,
        "get": (_peak(repo, "get", "key", "kv", "k", "-o", str(out)) - idle_get) / size,
    }
    assert out.read_bytes() == value.read_bytes()
    ratios["get stdout"] = (_peak(repo, "get", "key", "kv", "k2", stdout=out) - idle_get) / size
    assert out.read_bytes() == value.read_bytes()
    # Values above 8 MiB are stored in 8 MiB pieces, streamed: measured 0.6x to put and
    # 0.4x to get at this size (a few pieces at a time: ~0.2x at 200 MB). Before: 2.0x
    # each (RocksDB copied the one value again), and 4.0x, 4.0x, 3.0x before issue 8.
    assert all(r < 1.5 for r in ratios.values()), ratios


def test_get_key_to_a_file(tmp_path: Path) -> None:
    """The output file is made only once there is a value to write."""
    invoke = invoker(tmp_path / "r")
    invoke("init", str(tmp_path / "r"))
    invoke("new", "keyvalue", "kv")
    out = tmp_path / "out.bin"
    assert_fails(invoke("get", "key", "kv", "nope", "-o", str(out), ok=False), 3, "not found")
    assert not out.exists()
    invoke("put", "key", "kv", "empty", input=b"")
    invoke("get", "key", "kv", "empty", "-o", str(out))
    assert out.exists() and out.read_bytes() == b""
    value = bytes(range(256)) * 40_000
    (tmp_path / "in.bin").write_bytes(value)
    invoke("put", "key", "kv", "big", str(tmp_path / "in.bin"))
    invoke("get", "key", "kv", "big", "-o", str(out))
    assert out.read_bytes() == value
    assert invoke("get", "key", "kv", "big").stdout_bytes == value
    assert_fails(
        invoke("get", "key", "kv", "big", "-o", str(tmp_path / "no" / "f"), ok=False),
        2,
        "cannot write",
    )
    assert_fails(
        invoke("put", "key", "kv", "k", str(tmp_path / "missing.bin"), ok=False), 2, "cannot read"
    )


def test_commands_open_without_mmap_reads(tmp_path: Path) -> None:
    from dvidctl.commands._options import open_repo
    from dvidctl.store.rocks import RocksEngine

    invoke = invoker(tmp_path / "r")
    invoke("init", str(tmp_path / "r"))
    for read_only in (True, False):
        with open_repo(tmp_path / "r", read_only=read_only) as r:
            assert isinstance(r.engine, RocksEngine) and r.engine.mmap_reads is False
    assert RocksEngine.mmap_reads_default is True  # the library and the server keep mmap
