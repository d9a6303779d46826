"""Partial clones by region (--bbox, --roi, --scales): what they hold, what they refuse, and
that fetch keeps the selection, through the sync API and through DVID's endpoints."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from dvidctl import Repository
from dvidctl.datatypes.imageblk.heldkeys import block_layout, keep_keys
from dvidctl.errors import BadRequestError, ConflictError, NotFoundError
from dvidctl.geometry import Box
from dvidctl.server.runner import BackgroundServer
from dvidctl.server.state import RepoSet, ServerSettings, ServerState
from dvidctl.store.held import OutsideHeldError
from dvidctl.sync.clone import clone
from dvidctl.sync.fetch import fetch
from dvidctl.sync.push import push
from tests.sync.helpers import build_source, labels, node_contents, remote, served, server

#: --bbox 0,0,0:32,16,16 (XYZ, end exclusive) in ZYX; blocks are 16^3.
BBOX = "0,0,0:32,16,16"
INSIDE = Box((0, 0, 0), (16, 16, 32))
INSIDE_S1 = Box((0, 0, 0), (16, 16, 16))  # scale 1: the one block meeting the box / 2
OUTSIDE = Box((0, 16, 0), (16, 32, 32))


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[tuple[BackgroundServer, Repository]]:
    with server(tmp_path / "store") as s, Repository.init(tmp_path / "src") as src:
        build_source(src)
        push(src, remote(s, src.root_uuid))
        push(src, remote(s, src.root_uuid), "side")
        yield s, src


@pytest.fixture
def dvid(tmp_path: Path) -> Iterator[tuple[BackgroundServer, Repository]]:
    """The source served without /api/sync (as DVID)."""
    repo = Repository.init(tmp_path / "dsrc")
    build_source(repo)
    state = ServerState(RepoSet([repo], None), ServerSettings(sync_api=False))
    with BackgroundServer(state) as s:
        yield s, repo
    state.close()


def _locked(repo: Repository) -> list[str]:
    return [n.uuid for n in repo.dag.nodes.values() if n.locked]


def _same_inside(src: Repository, part: Repository, uuid: str, boxes: dict[int, Box]) -> None:
    a, b = src.node(uuid), part.node(uuid)
    for scale, box in boxes.items():
        for name in ("gray", "seg") if scale == 0 else ("seg",):
            va = a.instance(name).get_subvolume(box, scale)
            vb = b.instance(name).get_subvolume(box, scale)
            assert np.array_equal(va, vb), (uuid[:8], name, scale)
    assert dict(a.instance("kv").items()) == dict(b.instance("kv").items())
    assert a.instance("roi").get_spans() == b.instance("roi").get_spans()
    assert a.instance("seg").max_label() == b.instance("seg").max_label()
    assert a.instance("seg").extents() == b.instance("seg").extents()


def _held_keys(src: Repository, part: Repository) -> tuple[int, int]:
    """Keys and stored bytes of the source's committed nodes that ``part``'s selection keeps."""
    held = part.state.held
    assert held is not None
    keys = nbytes = 0
    for uuid in _locked(src):
        for duuid, entries in node_contents(src, uuid).items():
            rec = next(r for r in src.instances() if r.data_uuid == duuid)
            mask = np.ones(len(entries), bool)
            layout = block_layout(rec.typename, rec.config)
            if layout is not None and entries:
                mask = keep_keys(held, layout[0], layout[1], [tk for tk, _, _ in entries])
            keys += int(mask.sum())
            nbytes += sum(len(e[2]) for e, k in zip(entries, mask, strict=True) if k)
    return keys, nbytes


def _refuses_outside(part: Repository, uuid: str) -> None:
    node = part.node(uuid)
    with pytest.raises(OutsideHeldError, match="outside the partial clone's bbox 0,0,0:32,16,16"):
        node.instance("gray").get_subvolume(OUTSIDE)
    with pytest.raises(OutsideHeldError, match="outside the partial clone's bbox"):
        node.instance("seg").get_subvolume(Box((0, 0, 0), (16, 16, 48)))  # partly outside
    with pytest.raises(OutsideHeldError):
        node.instance("seg").labels_at([[5, 20, 5]])  # XYZ: y 20 is outside
    with pytest.raises(OutsideHeldError):
        node.instance("gray").get_slice("xy", (0, 0, 3), (64, 32))


def test_a_bbox_clone_holds_the_box_at_every_node_and_refuses_the_rest(
    srv: tuple[BackgroundServer, Repository], tmp_path: Path
) -> None:
    s, src = srv
    got = clone(f"{s.url}/{src.root_uuid}", tmp_path / "part", bbox=BBOX)
    with Repository.open(tmp_path / "part") as part:
        assert sorted(_locked(part)) == sorted(_locked(src))
        for uuid in _locked(src):
            _same_inside(src, part, uuid, {0: INSIDE, 1: INSIDE_S1})
            _refuses_outside(part, uuid)
        # Exactly the held keys travelled: every key of the source's committed nodes but the
        # voxel blocks outside the box.
        want_keys, want_bytes = _held_keys(src, part)
        assert (got.fetch.stats.keys, got.fetch.stats.bytes) == (want_keys, want_bytes)
        full = clone(f"{s.url}/{src.root_uuid}", tmp_path / "full").fetch.stats
        assert got.fetch.stats.bytes < full.bytes / 4
        with pytest.raises(BadRequestError, match="voxels are read-only here"):
            part.head.instance("seg").put_subvolume(labels(3)[:16, :16, :16])


def test_fetch_keeps_the_selection(
    srv: tuple[BackgroundServer, Repository], tmp_path: Path
) -> None:
    s, src = srv
    clone(f"{s.url}/{src.root_uuid}", tmp_path / "part", bbox=BBOX)
    gray = src.head.instance("gray")
    gray.put_subvolume(np.full((16, 16, 16), 7, np.uint8), (0, 0, 0))  # one block inside
    gray.put_subvolume(np.full((16, 16, 16), 9, np.uint8), (16, 16, 48))  # one outside
    tip, _ = src.commit("inside and outside")
    push(src, remote(s, src.root_uuid))
    with Repository.open(tmp_path / "part") as part:
        got = fetch(part, remote(s, src.root_uuid))
        assert got.stats.nodes == 1
        assert got.stats.keys == 1  # the inside block (extents unchanged), not the outside one
        _same_inside(src, part, tip.uuid, {0: INSIDE, 1: INSIDE_S1})
        _refuses_outside(part, tip.uuid)
        assert fetch(part, remote(s, src.root_uuid)).stats.keys == 0  # nothing more to do


def test_an_roi_and_scales_clone_holds_the_roi_blocks_at_those_scales(
    srv: tuple[BackgroundServer, Repository], tmp_path: Path
) -> None:
    s, src = srv
    c2 = src.node("master~2").uuid  # its ROI: blocks x 0..3 at (z 0, y 0), x 0..1 at (1, 1)
    clone(f"{s.url}/{src.root_uuid}", tmp_path / "part", roi="roi", scales="0", node=c2)
    with Repository.open(tmp_path / "part") as part:
        held = part.state.held
        assert held is not None and held.roi == "roi" and held.scales == (0,)
        for uuid in _locked(part):
            _same_inside(src, part, uuid, {0: Box((0, 0, 0), (16, 16, 64))})
            _same_inside(src, part, uuid, {0: Box((16, 16, 0), (32, 32, 32))})
            node = part.node(uuid)
            with pytest.raises(OutsideHeldError, match="roi roi"):
                node.instance("gray").get_subvolume(Box((16, 0, 0), (32, 16, 16)))
            with pytest.raises(OutsideHeldError, match="scale 1 is not held"):
                node.instance("seg").get_subvolume(INSIDE_S1, 1)


def test_bad_region_choices_are_refused(
    srv: tuple[BackgroundServer, Repository], tmp_path: Path
) -> None:
    s, src = srv
    url = f"{s.url}/{src.root_uuid}"
    with pytest.raises(BadRequestError, match="is not X0,Y0,Z0:X1,Y1,Z1"):
        clone(url, tmp_path / "a", bbox="0,0,0")
    with pytest.raises(BadRequestError, match="scales"):
        clone(url, tmp_path / "b", scales="x")
    with pytest.raises(NotFoundError, match="no roi instance"):
        clone(url, tmp_path / "c", roi="kv")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_region_clones_through_dvid_endpoints(
    dvid: tuple[BackgroundServer, Repository], tmp_path: Path
) -> None:
    s, src = dvid
    got = clone(f"{s.url}/{src.root_uuid}", tmp_path / "part", bbox=BBOX)
    assert got.fetch.stats.down > 0 and got.fetch.stats.up > 0  # bytes counted both ways
    full = clone(f"{s.url}/{src.root_uuid}", tmp_path / "full").fetch.stats
    assert got.fetch.stats.down < full.down / 2
    with Repository.open(tmp_path / "part") as part:
        for uuid in _locked(src):
            _same_inside(src, part, uuid, {0: INSIDE, 1: INSIDE_S1})
            _refuses_outside(part, uuid)
    c2 = src.node("master~2").uuid
    clone(f"{s.url}/{src.root_uuid}", tmp_path / "roi", roi="roi", scales="0", node=c2)
    with Repository.open(tmp_path / "roi") as part:
        for uuid in _locked(part):
            _same_inside(src, part, uuid, {0: Box((0, 0, 0), (16, 16, 64))})
            with pytest.raises(OutsideHeldError, match="scale 1 is not held"):
                part.node(uuid).instance("seg").get_subvolume(INSIDE_S1, 1)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dvidctl", *args], cwd=cwd, capture_output=True, text=True
    )


def test_cli_clone_status_and_refusals_over_http(
    srv: tuple[BackgroundServer, Repository], tmp_path: Path
) -> None:
    s, src = srv
    r = _cli("clone", f"{s.url}/{src.root_uuid}", "p", "--bbox", BBOX, "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    p = tmp_path / "p"
    r = _cli("status", "--json", cwd=p)
    doc = json.loads(r.stdout)["partial"]
    assert doc["bbox"] == BBOX and doc["held"]["instances"] == ["gray", "seg"]
    r = _cli("status", cwd=p)
    assert "holds only bbox 0,0,0:32,16,16 of gray, seg" in r.stdout
    ref = src.node("master~1").uuid
    r = _cli(
        "get", "subvolume", "gray", "--node", ref, "--offset", "0,16,0", "--size", "8,8,8",
        "-o", str(tmp_path / "x.npy"), cwd=p,
    )  # fmt: skip
    assert r.returncode == 2 and not (tmp_path / "x.npy").exists()
    assert r.stderr.startswith("error: gray: the read is outside the partial clone's bbox")
    assert "Traceback" not in r.stderr
    # Served: reads inside answer as the source, reads outside are a 400 with the reason.
    with Repository.open(p) as part:
        state = ServerState(RepoSet([part], None), ServerSettings())
        with BackgroundServer(state) as served:
            url = f"{served.url}/api/node/{ref}/gray/raw/0_1_2/32_16_16/0_0_0"
            got = httpx.get(url)
            assert got.status_code == 200
            assert np.array_equal(
                np.frombuffer(got.content, np.uint8).reshape(16, 16, 32),
                src.node(ref).instance("gray").get_subvolume(INSIDE),
            )
            bad = httpx.get(f"{served.url}/api/node/{ref}/gray/raw/0_1_2/8_8_8/0_16_0")
            assert bad.status_code == 400 and "outside the partial clone" in bad.text
        state.close()


def test_push_from_a_region_clone_sends_its_own_commits_only(
    srv: tuple[BackgroundServer, Repository], tmp_path: Path
) -> None:
    s, src = srv
    clone(f"{s.url}/{src.root_uuid}", tmp_path / "part", bbox=BBOX)
    with Repository.open(tmp_path / "part") as part:
        part.head.instance("kv").put("from-part", b"1")
        tip, _ = part.commit("part work")
        got = push(part, remote(s, src.root_uuid))
        assert (got.stats.nodes, got.stats.keys) == (1, 1)
        node = served(s, src.root_uuid).node(tip.uuid)
        assert node.instance("kv").get("from-part") == b"1"
        full = Box((0, 0, 0), (32, 32, 64))  # the rest is there, through its parents
        assert np.array_equal(
            node.instance("gray").get_subvolume(full),
            src.node(tip.parents[0].uuid).instance("gray").get_subvolume(full),
        )
        # A server without the nodes it holds only part of: refused, nothing sent.
        with server(tmp_path / "other") as other:
            with pytest.raises(ConflictError, match="holds only part"):
                push(part, remote(other, src.root_uuid))
            assert not list((tmp_path / "other").iterdir())


def test_the_server_lists_only_the_selected_blocks(
    srv: tuple[BackgroundServer, Repository],
) -> None:
    from dvidctl.sync.http import HttpEndpoint

    s, src = srv
    c1 = src.root_uuid  # wrote every block
    seg = src.instance_record("seg").data_uuid
    ep = HttpEndpoint(s.url, src.root_uuid)
    try:
        whole = [k for chunk in ep.listing(c1, seg) for k in chunk.real()]
        some = [
            k
            for chunk in ep.selected_listing(c1, seg, {"bbox": BBOX, "scales": "0"})
            for k in chunk.real()
        ]
    finally:
        ep.close()
    blocks = [k for k in some if len(k) == 14]
    assert len(blocks) == 2 and len(whole) > len(some)  # the two scale-0 blocks in the box
    assert set(some) - set(blocks) == {k for k in whole if len(k) != 14}  # metadata keys stay


def test_fetch_through_dvid_endpoints_keeps_the_selection(
    dvid: tuple[BackgroundServer, Repository], tmp_path: Path
) -> None:
    s, src = dvid
    clone(f"{s.url}/{src.root_uuid}", tmp_path / "part", bbox=BBOX)
    src.head.instance("gray").put_subvolume(np.full((16, 16, 16), 7, np.uint8), (0, 0, 0))
    src.head.instance("gray").put_subvolume(np.full((16, 16, 16), 9, np.uint8), (16, 16, 48))
    tip, _ = src.commit("inside and outside")
    with Repository.open(tmp_path / "part") as part:
        got = fetch(part, remote(s, src.root_uuid))
        assert got.stats.down < 64 * 1024  # the selection's blocks, a few node JSONs
        _same_inside(src, part, tip.uuid, {0: INSIDE, 1: INSIDE_S1})
        _refuses_outside(part, tip.uuid)
