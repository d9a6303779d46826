"""A full disk on the receiving side, for real: run by test_full_disk.py inside its own mount
namespace (``unshare -m``), where it mounts a small tmpfs, fills it through sync, makes it
bigger and syncs again. Prints one JSON document of what it saw."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from dvidctl import Repository
from dvidctl.errors import DvidError
from dvidctl.sync.clone import clone
from dvidctl.sync.http import Policy
from dvidctl.sync.push import push
from dvidctl.sync.remotes import Remote
from dvidctl.sync.transfer import Options
from tests.sync.helpers import assert_same_nodes, served, server

BATCH = 64
POLICY = Policy(attempts=2, backoff=0.01)


def _mount(path: Path, size: str, remount: bool = False) -> None:
    opts = f"remount,size={size}" if remount else f"size={size}"
    args = (
        ["mount", "-o", opts, str(path)]
        if remount
        else ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)]
    )
    subprocess.run(args, check=True)


def _held(repo: Repository, uuid: str) -> int:
    vid = repo.dag.by_uuid.get(uuid)
    return 0 if vid is None else sum(1 for _ in repo.store.changes(vid))


def main(tmp: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    src = Repository.init(tmp / "src")
    src.new_instance("keyvalue", "kv")
    rng = np.random.default_rng(1)
    src.head.instance("kv").put_many({f"k{i:04d}": rng.bytes(8192) for i in range(1500)})
    tip, _ = src.commit("big")
    out["total"] = 1500
    small = tmp / "small"
    small.mkdir()
    _mount(small, "6m")
    remote_store = small / "store"
    # 1. push to a server whose disk fills up
    with server(remote_store) as srv:
        try:
            push(
                src,
                Remote("o", f"{srv.url}/{src.root_uuid}"),
                policy=POLICY,
                options=Options(batch_values=BATCH),
            )
            out["push_error"] = None
        except DvidError as exc:
            out["push_error"] = {"kind": exc.kind, "exit": exc.exit_code, "message": exc.message}
        there = served(srv, src.root_uuid)
        out["push_held"] = _held(there, tip.uuid)
        node = (
            there.dag.node(there.dag.by_uuid[tip.uuid])
            if tip.uuid in there.dag.by_uuid
            else there.dag.root
        )
        out["push_incoming"] = node.incoming
        out["push_branch_moved"] = there.state.branches[""] != there.dag.root.vid
    _mount(small, "64m", remount=True)
    with server(remote_store) as srv:
        res = push(src, Remote("o", f"{srv.url}/{src.root_uuid}"), policy=POLICY)
        out["push_rerun_keys"] = res.stats.keys
        out["push_equal"] = assert_same_nodes(src, served(srv, src.root_uuid), [tip.uuid])
        # 2. clone into a disk that fills up
        _mount(small, "64m", remount=True)
        target = small / "copy"
        st = os.statvfs(small)
        (small / "filler").write_bytes(b"\0" * (st.f_bavail * st.f_frsize - (5 << 20)))
        try:
            clone(
                f"{srv.url}/{src.root_uuid}",
                target,
                policy=POLICY,
                options=Options(batch_values=BATCH),
            )
            out["clone_error"] = None
        except DvidError as exc:
            out["clone_error"] = {"kind": exc.kind, "exit": exc.exit_code, "message": exc.message}
        with Repository.open(target, read_only=True) as copy:
            out["clone_held"] = _held(copy, tip.uuid)
        (small / "filler").unlink()
        got = clone(f"{srv.url}/{src.root_uuid}", target, policy=POLICY)
        out["clone_rerun_keys"] = got.fetch.stats.keys
        out["clone_resumed"] = got.resumed
        with Repository.open(target) as copy:
            out["clone_equal"] = assert_same_nodes(src, copy, [tip.uuid])
    src.close()
    return out


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
