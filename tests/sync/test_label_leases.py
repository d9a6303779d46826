"""Label leases: each clone reserves labels on its server and hands out only those, so clones
splitting and cleaving at once never collide; pushes and pulls then merge cleanly. Real
``dvidctl serve`` on loopback (with and without the sync API), RocksDB on every end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dvidctl import Repository
from dvidctl.errors import BadRequestError
from dvidctl.server.runner import BackgroundServer
from dvidctl.server.state import RepoSet, ServerSettings, ServerState
from dvidctl.sync.clone import clone
from dvidctl.sync.fetch import fetch
from dvidctl.sync.pull import pull
from dvidctl.sync.push import push
from tests.commands.cli_helpers import invoker
from tests.sync.helpers import remote, served, server
from tests.sync.labelclones import BOX
from tests.sync.labelclones import base as _base
from tests.sync.labelclones import runs as _runs
from tests.sync.labelclones import volume as _volume

ROWS = np.arange(32)[:, None, None]


def _seg(repo: Repository) -> Any:
    return repo.head.instance("seg")


def test_two_clones_split_and_cleave_at_once_then_push_and_pull_cleanly(tmp_path: Path) -> None:
    vol = _volume()
    with server(tmp_path / "store") as srv, Repository.init(tmp_path / "a") as a:
        _base(a)
        push(a, remote(srv, a.root_uuid))
        url = f"{srv.url}/{a.root_uuid}"
        rb = clone(url, tmp_path / "b", label_lease=1000)
        rc = clone(url, tmp_path / "c", label_lease=1000)
        (lb,), (lc,) = rb.fetch.leases, rc.fetch.leases
        assert (lb["start"], lb["end"]) == (5, 1004) and (lc["start"], lc["end"]) == (1005, 2004)
        there: Any = served(srv, a.root_uuid).head.instance("seg")
        assert there.next_label() == 2005  # the server hands out neither lease
        made: dict[str, list[int]] = {}
        with Repository.open(tmp_path / "b") as b, Repository.open(tmp_path / "c") as c:
            made["b"] = [_seg(b).cleave(1, [2])[0]]
            made["c"] = [_seg(c).cleave(3, [4])[0]]
            made["c"].append(_seg(c).split(1, _runs((vol == 1) & (ROWS < 8)))[0])
            b.commit("cleave")
            c.commit("cleave, split")
            push(b, remote(srv, a.root_uuid))  # the server's heads are clean: not refused
            res = pull(c, remote(srv, a.root_uuid))
            assert res.action == "merge"  # no label-collision
            c.commit("merged")
            push(c, remote(srv, a.root_uuid))
            assert pull(b, remote(srv, a.root_uuid)).action == "fast-forward"
            assert made["b"] == [5] and made["c"] == [1005, 1006]
            for repo in (b, c):
                seg = _seg(repo)
                assert seg.supervoxels(5) == [2] and seg.supervoxels(1005) == [4]
                assert seg.supervoxels(1006) == [1007]  # Split id 1007, Remain 1008
                assert seg.supervoxels(1) == [1008]
                svs = seg.supervoxel_view().get_subvolume(BOX)
                assert np.unique(svs).tolist() == [2, 3, 4, 1007, 1008]
                bodies = np.unique(seg.get_subvolume(BOX)).tolist()
                assert bodies == [1, 3, 5, 1005, 1006]  # every body its own label
            st = json.loads(invoker(tmp_path / "c")("status", "--json").stdout)
            assert st["label_leases"]["seg"]["free"] == 1000 - 4
            assert st["label_leases"]["seg"]["next"] == 1009


def test_a_used_up_lease_refuses_until_a_fetch_renews_it(tmp_path: Path) -> None:
    vol = _volume()
    with server(tmp_path / "store") as srv, Repository.init(tmp_path / "a") as a:
        _base(a)
        push(a, remote(srv, a.root_uuid))
        clone(f"{srv.url}/{a.root_uuid}", tmp_path / "b", label_lease=3)
        with Repository.open(tmp_path / "b") as b:
            assert _seg(b).split(1, _runs((vol == 1) & (ROWS < 8)))[0] == 5  # 5, 6, 7
            with pytest.raises(BadRequestError) as info:
                _seg(b).cleave(3, [4])
            assert "lease" in info.value.message and "dvidctl fetch origin" in (
                info.value.hint or ""
            )
            assert list(_seg(b).supervoxels(3)) == [3, 4]  # nothing changed
            res = fetch(b, remote(srv, a.root_uuid))
            assert [(n["start"], n["end"]) for n in res.leases] == [(8, 10)]
            assert _seg(b).cleave(3, [4])[0] == 8
            res = fetch(b, remote(srv, a.root_uuid))
            assert res.leases == []  # two of three left: no renewal yet
        run = invoker(tmp_path / "b")
        got = json.loads(run("label", "lease", "seg", "--json").stdout)["lease"]
        assert got["ranges"] == [[9, 10]] and got["free"] == 2 and got["next"] == 9
        assert json.loads(run("label", "lease", "seg", "--drop", "--json").stdout)["dropped"]
        assert "no label lease" in run("label", "lease", "seg").stdout
        with Repository.open(tmp_path / "b") as b:
            assert _seg(b).label_lease() is None
            # its own counter: NextLabel came from the server with the fetch (10, the lease's end)
            assert _seg(b).next_label() == 11


def test_clone_without_a_lease_uses_its_own_counter(tmp_path: Path) -> None:
    with server(tmp_path / "store") as srv, Repository.init(tmp_path / "a") as a:
        _base(a)
        push(a, remote(srv, a.root_uuid))
        res = clone(f"{srv.url}/{a.root_uuid}", tmp_path / "b", label_lease=0)
        assert res.fetch.leases == []
        with Repository.open(tmp_path / "b") as b:
            assert _seg(b).label_lease() is None and _seg(b).cleave(1, [2])[0] == 5
        with pytest.raises(BadRequestError):
            clone(f"{srv.url}/{a.root_uuid}", tmp_path / "c", label_lease=-1)


def test_leases_through_dvid_endpoints(tmp_path: Path) -> None:
    """A server without the sync API (as DVID): the lease is DVID's POST nextlabel/{count}
    at the open head; two clones split apart and every label is unique."""
    src = Repository.init(tmp_path / "src")
    _base(src)
    state = ServerState(RepoSet([src], None), ServerSettings(sync_api=False))
    with BackgroundServer(state) as srv:
        url = f"{srv.url}/{src.root_uuid}"
        rb = clone(url, tmp_path / "b", label_lease=100)
        rc = clone(url, tmp_path / "c", label_lease=100)
        (lb,), (lc,) = rb.fetch.leases, rc.fetch.leases
        assert (lb["start"], lb["end"]) == (5, 104) and (lc["start"], lc["end"]) == (105, 204)
        with Repository.open(tmp_path / "b") as b, Repository.open(tmp_path / "c") as c:
            assert _seg(b).cleave(1, [2])[0] == 5
            assert _seg(c).cleave(3, [4])[0] == 105
        assert src.head.instance("seg").next_label() == 205  # type: ignore[attr-defined]
    state.close()


def test_a_lease_never_travels_in_a_sync(tmp_path: Path) -> None:
    with server(tmp_path / "store") as srv, Repository.init(tmp_path / "a") as a:
        _base(a)
        push(a, remote(srv, a.root_uuid))
        clone(f"{srv.url}/{a.root_uuid}", tmp_path / "b", label_lease=10)
        with Repository.open(tmp_path / "b") as b:
            _seg(b).cleave(1, [2])
            b.commit("cleave")
            push(b, remote(srv, a.root_uuid))
        there: Any = served(srv, a.root_uuid).head.instance("seg")
        assert there.label_lease() is None
        pull(a, remote(srv, a.root_uuid))
        assert _seg(a).label_lease() is None


def test_a_server_that_cannot_reserve_leaves_the_clone_working_without_a_lease(
    tmp_path: Path,
) -> None:
    with Repository.init(tmp_path / "a") as a:
        _base(a)
    with server(tmp_path / "store") as srv, Repository.open(tmp_path / "a") as a:
        push(a, remote(srv, a.root_uuid))
    with server(tmp_path / "store", read_only=True) as srv:
        run = invoker(tmp_path / "unused")
        r = run("clone", f"{srv.url}/{a.root_uuid}", str(tmp_path / "b"))
        assert "no label lease for seg" in r.stderr + r.stdout
        with Repository.open(tmp_path / "b") as b:
            assert _seg(b).label_lease() is None and _seg(b).cleave(1, [2])[0] == 5
