"""Labels handed out on both sides of a merge: two clones that each split or cleave a
different body allocate the same new ids from their own counters; pull must refuse
(label-collision) and change nothing. Two branches of one repository draw from one
counter and merge cleanly. Real ``dvidctl serve`` on loopback, RocksDB on every end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dvidctl import Repository
from dvidctl.datatypes.labelmap.collisions import fold_ranges
from dvidctl.errors import MergeConflictError
from dvidctl.sync.clone import clone
from dvidctl.sync.pull import pull
from dvidctl.sync.push import push
from tests.commands.cli_helpers import invoker
from tests.sync.helpers import remote, server
from tests.sync.labelclones import base as _base
from tests.sync.labelclones import runs as _runs
from tests.sync.labelclones import volume as _volume


def _snapshot(repo: Repository) -> tuple[Any, ...]:
    eng = repo.engine
    return tuple(tuple(eng.scan(cf, b"")) for cf in ("meta", "data", "delta"))


def test_pull_refuses_labels_two_clones_allocated_and_changes_nothing(tmp_path: Path) -> None:
    with server(tmp_path / "store") as srv, Repository.init(tmp_path / "a") as a:
        _base(a)
        push(a, remote(srv, a.root_uuid))
        url = f"{srv.url}/{a.root_uuid}"
        # Clones without label leases (as from a remote that cannot reserve labels).
        clone(url, tmp_path / "b", label_lease=0)
        clone(url, tmp_path / "c", label_lease=0)
        with Repository.open(tmp_path / "b") as b:
            new_b, _ = b.head.instance("seg").cleave(1, [2])  # type: ignore[attr-defined]
            b.commit("cleave 2 off body 1")
            push(b, remote(srv, a.root_uuid))
        with Repository.open(tmp_path / "c") as c:
            new_c, _ = c.head.instance("seg").cleave(3, [4])  # type: ignore[attr-defined]
            c.commit("cleave 4 off body 3")
            assert new_b == new_c == 5  # each clone's own counter: the same new body
            head = c.head.uuid
        # The mapping keys differ (2 -> 5 there, 4 -> 5 here): key by key this merges
        # cleanly, and body 5 would be supervoxels 2 and 4 of two unrelated bodies.
        invoke = invoker(tmp_path / "c")
        r = invoke("pull", "--json", ok=False)
        assert r.exit_code != 0
        out = json.loads(r.stdout)
        assert out["merged"] is False
        (d,) = [d for d in out["details"] if d.get("kind") == "label-collision"]
        assert d["instance"] == "seg" and d["labels"] == "5" and len(d["sides"]) == 2
        with Repository.open(tmp_path / "c") as c:
            assert c.head.uuid == head  # the fetch landed, the merge did not
            before = _snapshot(c)
        r = invoke("pull", ok=False)
        assert "label-collision" in r.stderr and "labels 5 allocated on both sides" in r.stderr
        with Repository.open(tmp_path / "c") as c:
            with pytest.raises(MergeConflictError):  # no strategy joins the two bodies
                pull(c, remote(srv, a.root_uuid), strategy="theirs")
            assert _snapshot(c) == before, "a refused merge must change nothing"
            seg: Any = c.head.instance("seg")
            assert seg.supervoxels(5) == [4]


def test_pull_refuses_two_clones_splits_with_identical_mapping_keys(tmp_path: Path) -> None:
    """Splits of one supervoxel each in two clones: every new id collides, including
    mapping keys that are byte-identical on both sides (Split id -> new body)."""
    vol = _volume()
    with server(tmp_path / "store") as srv, Repository.init(tmp_path / "a") as a:
        _base(a)
        push(a, remote(srv, a.root_uuid))
        clone(f"{srv.url}/{a.root_uuid}", tmp_path / "b", label_lease=0)
        with Repository.open(tmp_path / "b") as b:
            b.head.instance("seg").split(1, _runs((vol == 2) & (np.arange(32)[:, None, None] < 8)))  # type: ignore[attr-defined]
            b.commit("split body 1")
            push(b, remote(srv, a.root_uuid))
        seg: Any = a.head.instance("seg")
        new, _ = seg.split(3, _runs((vol == 4) & (np.arange(32)[:, None, None] < 8)))
        a.commit("split body 3")
        with pytest.raises(MergeConflictError) as info:
            pull(a, remote(srv, a.root_uuid))
        (d,) = [d for d in info.value.details if d.get("kind") == "label-collision"]
        assert new == 5 and d["labels"] == "5-7"  # body 5, Split 6, Remain 7 on both sides


def test_two_branches_of_one_repository_allocate_apart_and_merge_cleanly(tmp_path: Path) -> None:
    vol = _volume()
    with Repository.init(tmp_path / "a") as a:
        _base(a)
        a.branch("side")
        a.checkout("side")
        seg: Any = a.head.instance("seg")
        side_new, _ = seg.cleave(1, [2])
        side_split, _ = seg.split(3, _runs((vol == 4) & (np.arange(32)[:, None, None] < 8)))
        a.commit("side: cleave and split")
        a.checkout("master")
        seg = a.head.instance("seg")
        ours_new, _ = seg.split(1, _runs((vol == 1) & (np.arange(32)[:, None, None] < 8)))
        a.commit("master: split")
        res = a.merge(["side"])
        assert res.node is not None
        seg = a.head.instance("seg")
        assert len({side_new, side_split, ours_new}) == 3
        assert seg.supervoxels(side_new) == [2]
        assert seg.size(ours_new) == 8 * 32 * 16


def test_fold_ranges() -> None:
    assert fold_ranges([7, 3, 1, 2, 9, 8, 2]) == "1-3, 7-9"
    assert fold_ranges([5]) == "5"
    assert fold_ranges([]) == ""
