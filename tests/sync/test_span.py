"""Several new nodes come in one key-ordered stream per instance (a span, dvidctl/sync/spans.py):
the receiver's table files then cover ranges no other file covers, so the close has nothing to
compact; the same nodes arrive, through each wire encoding, and a server says what is wrong
with a span asked for wrongly."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from dvidctl import Repository
from dvidctl.api import receivespan
from dvidctl.api.syncstate import RepoInfo
from dvidctl.errors import RemoteError
from dvidctl.store import nodedelta, space
from dvidctl.store.engine import CF_META, WriteBatch
from dvidctl.store.fsck import Report
from dvidctl.store.fsck import check_engine as fsck_check
from dvidctl.sync import spans
from dvidctl.sync.endpoint import LocalEndpoint
from dvidctl.sync.fetch import fetch, fetch_from
from dvidctl.sync.http import HttpEndpoint
from dvidctl.sync.push import push
from dvidctl.sync.results import Progress
from dvidctl.sync.transfer import Options
from tests.sync.helpers import assert_same_nodes, node_contents, remote, served, server

#: Batches of 96 KiB whose values go to a table file from the first byte: a small source
#: ingests many files, as a large clone does with 16 MiB batches.
OPTIONS = Options(batch_bytes=96 << 10, streams=2)


@pytest.fixture
def src(tmp_path: Path) -> Iterator[Repository]:
    """Grayscale, labels and keyvalues over four committed nodes, each rewriting part of the
    last one's blocks (every node's values spread over the instance's whole key range)."""
    rng = np.random.default_rng(3)
    with Repository.init(tmp_path / "src", alias="span") as repo:
        repo.new_instance("uint8blk", "gray", {"BlockSize": "16,16,16"})
        repo.new_instance("labelmap", "seg", {"BlockSize": "16,16,16"})
        repo.new_instance("keyvalue", "kv")
        gray = rng.integers(0, 255, (64, 64, 64), dtype=np.uint8)
        seg = np.kron(rng.integers(1, 9, (8, 8, 8), dtype=np.uint64), np.ones((8, 8, 8), np.uint64))
        for i in range(4):
            n = repo.head
            gray[:, :, i::4] = rng.integers(0, 255, gray[:, :, i::4].shape, dtype=np.uint8)
            n.instance("gray").put_subvolume(gray, (0, 0, 0))
            seg[i * 8 : i * 8 + 8] += np.uint64(10)
            n.instance("seg").put_subvolume(seg, (0, 0, 0))
            n.instance("kv").put_many({f"k{j:04d}": rng.bytes(300) for j in range(i, 400, 3)})
            repo.commit(f"c{i}")
        yield repo


class _NodeByNode(HttpEndpoint):
    """The client's view of a server from before spans."""

    def state(self) -> RepoInfo:
        info = super().state()
        self.spans = False
        return info


def _overlapping_share(repo: Repository) -> float:
    """The share of the ``data`` table files' bytes beyond their live estimate: what a
    compaction of the whole range would find to merge (0: no two files' key ranges meet)."""
    files = space.data_files(repo.engine)  # type: ignore[arg-type]
    est = space.estimate(files, b"", b"\xff" * 8)
    return est.excess_bytes / est.total_bytes


def test_a_clone_in_spans_leaves_nothing_to_compact(
    src: Repository,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(nodedelta, "SPILL_BYTES", 0)  # every batch a table file
    caplog.set_level(logging.INFO, logger="dvidctl.server")
    committed = [n.uuid for n in src.dag.nodes.values() if n.locked]
    excess = {}
    with server(tmp_path / "store") as srv:
        push(src, remote(srv, src.root_uuid))
        for name, ep in (("span", None), ("node", _NodeByNode(srv.url, src.root_uuid))):
            caplog.clear()
            path = tmp_path / name
            with Repository.init(path, root_uuid=src.root_uuid, incoming_root=True) as dst:
                sender = ep or HttpEndpoint(srv.url, src.root_uuid)
                got = fetch_from(dst, "origin", sender, options=OPTIONS, lease=0)
                assert got.stats.batches > 12  # each unit in several batches
                assert assert_same_nodes(src, dst, committed) > 1000
                excess[name] = _overlapping_share(dst)  # before the close could compact
            lines = [r.getMessage() for r in caplog.records]
            spans = sum("/span?" in m for m in lines)
            dumps = sum("/dump?" in m for m in lines)
            assert (spans > 9 and dumps == 0) if name == "span" else (spans == 0 and dumps > 9)
            with Repository.open(path) as again:  # and nothing left to move
                assert fetch(again, remote(srv, src.root_uuid)).stats.keys == 0
    assert excess["span"] == 0
    assert excess["node"] > 0.01  # node by node, files overlap the others' (0.08-0.53 seen)


@pytest.mark.parametrize("encoding", ["stored", "labelblock"])
def test_a_span_moves_labels_in_each_wire_encoding(
    src: Repository, tmp_path: Path, encoding: str
) -> None:
    """Label blocks travel in DVID's encoding inside a span too; the receiver makes the same
    stored bytes (digests agree), so the next fetch finds nothing to send."""
    committed = [n.uuid for n in src.dag.nodes.values() if n.locked]
    with server(tmp_path / "store") as srv:
        push(src, remote(srv, src.root_uuid))
        opts = Options(batch_bytes=96 << 10, wire=encoding)
        with Repository.init(tmp_path / "c", root_uuid=src.root_uuid, incoming_root=True) as dst:
            ep = HttpEndpoint(srv.url, src.root_uuid)
            got = fetch_from(dst, "origin", ep, options=opts, lease=0)
            assert got.stats.labels == encoding
            assert assert_same_nodes(src, dst, committed) > 1000
            again = fetch(dst, remote(srv, src.root_uuid))
            assert again.stats.keys == 0 and again.stats.nodes == 0


def test_a_server_refuses_a_span_asked_for_wrongly(src: Repository, tmp_path: Path) -> None:
    """400 for a body without nodes, a node named twice, an unversioned instance or a bad
    ``after``; 404 for a node or an instance it lacks; and it keeps serving."""
    nodes = [n.uuid for n in src.dag.nodes.values() if n.locked]
    with server(tmp_path / "store") as srv:
        push(src, remote(srv, src.root_uuid))
        gray = src.state.instances["gray"].data_uuid
        url = f"{srv.url}/api/sync/{src.root_uuid}/span"
        cases = [
            ({"instance": gray}, {"nodes": []}, 400, "nodes"),
            ({"instance": gray}, {"nodes": "abc"}, 400, "nodes"),
            ({"instance": gray}, {"nodes": [nodes[0], nodes[0]]}, 400, "twice"),
            ({"instance": gray, "after": "zz"}, {"nodes": nodes}, 400, "hex"),
            ({"instance": gray}, {"nodes": [nodes[0], "f" * 32]}, 404, "no node"),
            ({"instance": "0" * 32}, {"nodes": nodes}, 404, "no data instance"),
            ({}, {"nodes": nodes}, 400, "instance"),
        ]
        for params, body, status, words in cases:
            r = httpx.post(url, params=params, json=body)
            assert r.status_code == status, (params, body, r.text)
            assert words in r.json()["message"], r.text
        r = httpx.post(url, params={"instance": gray, "limit": "3"}, json={"nodes": nodes})
        assert r.status_code == 200 and r.content.startswith(b"DVSYNC1\n")


def test_progress_counts_keys_while_spans_complete_nodes_at_their_end(
    src: Repository, tmp_path: Path
) -> None:
    """A span completes every node at its end, so a bar measured in nodes would sit at 0
    until then: each report carries the keys the sender's digests count, and the keys
    moved so far grow towards them."""
    committed = [n.uuid for n in src.dag.nodes.values() if n.locked]
    seen: list[tuple[int, int, int, int | None]] = []  # the counters change in place

    def report(p: Progress) -> None:
        seen.append((p.nodes_done, p.nodes_total, p.stats.keys, p.keys_total))

    with server(tmp_path / "store") as srv:
        push(src, remote(srv, src.root_uuid))
        with Repository.init(tmp_path / "c", root_uuid=src.root_uuid, incoming_root=True) as dst:
            ep = HttpEndpoint(srv.url, src.root_uuid)
            got = fetch_from(dst, "origin", ep, options=OPTIONS, lease=0, progress=report)
            total = assert_same_nodes(src, dst, committed)
    assert {keys_total for *_, keys_total in seen} == {total} and got.stats.keys == total
    before_any_node = [keys for done, _, keys, _ in seen if done == 0]
    assert len(set(before_any_node)) > 5 and max(before_any_node) == total
    assert seen[-1][0] == seen[-1][1] == len(committed)


def test_a_plan_of_more_nodes_than_a_span_names_moves_in_several_spans(
    src: Repository,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each request carries its span's node list, so a span names at most SPAN_NODES nodes
    (here 2): the four committed nodes of an instance come as two spans of 2 consecutive
    nodes."""
    monkeypatch.setattr(spans, "SPAN_NODES", 2)
    caplog.set_level(logging.INFO, logger="dvidctl.server")
    committed = [n.uuid for n in src.dag.nodes.values() if n.locked]
    with server(tmp_path / "store") as srv:
        push(src, remote(srv, src.root_uuid))
        caplog.clear()
        with Repository.init(tmp_path / "c", root_uuid=src.root_uuid, incoming_root=True) as dst:
            got = fetch_from(dst, "origin", HttpEndpoint(srv.url, src.root_uuid), lease=0)
            assert assert_same_nodes(src, dst, committed) == got.stats.keys
        firsts = [
            r.getMessage()
            for r in caplog.records
            if "/span?" in r.getMessage() and "after=" not in r.getMessage()
        ]
        assert len(committed) == 4 and len(firsts) == 3 * 2  # three instances, two spans each


@pytest.mark.parametrize("encoding", ["stored", "labelblock"])
def test_a_push_to_a_new_server_sends_spans_it_writes_in_its_key_order(
    src: Repository,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    encoding: str,
) -> None:
    """The same the other way: a server that lists ``span-batch`` gets each span's batch
    whole and puts it in its own key order, so its table files do not overlap either."""
    monkeypatch.setattr(nodedelta, "SPILL_BYTES", 0)  # every batch a table file
    caplog.set_level(logging.INFO, logger="dvidctl.server")
    committed = [n.uuid for n in src.dag.nodes.values() if n.locked]
    with server(tmp_path / "store") as srv:
        opts = Options(batch_bytes=96 << 10, wire=encoding)
        res = push(src, remote(srv, src.root_uuid), options=opts)
        assert res.stats.labels == encoding
        there = served(srv, src.root_uuid)
        assert assert_same_nodes(src, there, committed) == res.stats.keys > 1000
        assert _overlapping_share(there) == 0
        lines = [r.getMessage() for r in caplog.records]
        assert sum("/span/batch?" in m for m in lines) > 9
        assert not any("/node/" in m and "/batch?" in m for m in lines)
        again = push(src, remote(srv, src.root_uuid), options=opts)
        assert again.up_to_date and again.stats.keys == 0


class _NoSpanBatches(HttpEndpoint):
    """The client's view of a server that sends spans but takes none."""

    def state(self) -> RepoInfo:
        info = super().state()
        self.takes_spans = False
        return info


def test_a_server_that_takes_no_spans_gets_node_batches(src: Repository, tmp_path: Path) -> None:
    committed = [n.uuid for n in src.dag.nodes.values() if n.locked]
    with server(tmp_path / "store") as srv:
        ep = _NoSpanBatches(srv.url, src.root_uuid)
        res = push(src, remote(srv, src.root_uuid), endpoint=ep)
        assert assert_same_nodes(src, served(srv, src.root_uuid), committed) == res.stats.keys


class _CountingSpans(LocalEndpoint):
    spans_read: int = 0

    def span_runs(self, nodes: Sequence[str], *args: Any, **kw: Any) -> Iterator[list[Any]]:
        self.spans_read += 1
        return super().span_runs(nodes, *args, **kw)


def test_new_nodes_come_in_spans_beside_a_snapshot_refreshed_by_a_diff(
    src: Repository, tmp_path: Path
) -> None:
    """A fetch that brings new nodes and refreshes a snapshot it took of the sender's open
    head (now committed): the new nodes come in spans, the snapshot is diffed."""
    src.head.instance("kv").put("open", b"written before the first fetch")
    with Repository.init(tmp_path / "c", root_uuid=src.root_uuid, incoming_root=True) as dst:
        fetch_from(dst, "origin", LocalEndpoint(src), lease=0)
        head = src.head.uuid
        assert dst.dag.node(dst.dag.by_uuid[head]).incoming  # a snapshot of the open head
        src.head.instance("kv").put("open2", b"and after it")
        src.commit("c4")
        for i in (5, 6):
            src.head.instance("kv").put(f"k{i}", b"new")
            src.head.instance("gray").put_subvolume(np.full((16, 16, 16), i, np.uint8), (0, 0, 0))
            src.commit(f"c{i}")
        sender = _CountingSpans(src)
        got = fetch_from(dst, "origin", sender, lease=0)
        committed = [n.uuid for n in src.dag.nodes.values() if n.locked]
        assert_same_nodes(src, dst, committed)
        assert sender.spans_read >= 2  # kv and gray of c5 and c6
        assert not dst.dag.node(dst.dag.by_uuid[head]).incoming
        assert got.stats.nodes == 4  # c4 completed, c5, c6, and a snapshot of the new head


class _Cut(LocalEndpoint):
    """A sender whose span answers stop coming after ``reads`` of them (a broken link),
    counting its span reads (and where each started) and its listings."""

    def __init__(self, repo: Repository, reads: int | None = None) -> None:
        super().__init__(repo)
        self.reads, self.starts, self.listings = reads, [], []

    def span_runs(self, nodes: Sequence[str], data_uuid: str, after: Any = None, *a: Any) -> Any:
        if self.reads is not None and len(self.starts) >= self.reads:
            raise RemoteError("the link broke")
        self.starts.append((data_uuid, after))
        return super().span_runs(nodes, data_uuid, after, *a)

    def listing(self, node: str, data_uuid: str) -> Any:
        self.listings.append((node, data_uuid))
        return super().listing(node, data_uuid)


def test_an_interrupted_span_resumes_after_its_last_batch(
    src: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each batch records how far its span got (in the same write); the next fetch asks
    for the rest after that key, lists nothing of those nodes, and the table files still
    do not overlap."""
    monkeypatch.setattr(nodedelta, "SPILL_BYTES", 0)
    committed = [n.uuid for n in src.dag.nodes.values() if n.locked]
    opts = Options(batch_bytes=96 << 10, streams=1)
    with Repository.init(tmp_path / "c", root_uuid=src.root_uuid, incoming_root=True) as dst:
        with pytest.raises(RemoteError):
            fetch_from(dst, "origin", _Cut(src, reads=5), options=opts, lease=0)
        marks = receivespan.span_marks(dst)
        assert marks and all(dst.dag.node(dst.dag.by_uuid[u]).incoming for u in committed)
        report = Report(tmp_path / "c")
        fsck_check(dst.engine, report)  # a mark is a record fsck knows
        assert report.ok and not report.warnings, (report.problems, report.warnings)
        sender = _Cut(src)
        got = fetch_from(dst, "origin", sender, options=opts, lease=0)
        resumed = {m.data_uuid: m.after for m in marks}
        firsts = {}
        for d, after in sender.starts:
            firsts.setdefault(d, after)
        assert all(firsts[d] == after for d, after in resumed.items())  # no batch again
        assert not [d for _, d in sender.listings if d in resumed]  # nothing listed
        assert got.stats.keys > 0
        assert assert_same_nodes(src, dst, committed) > 1000
        assert _overlapping_share(dst) == 0 and receivespan.span_marks(dst) == []


def test_a_mark_the_sender_no_longer_matches_is_dropped_and_its_nodes_diffed(
    src: Repository, tmp_path: Path
) -> None:
    committed = [n.uuid for n in src.dag.nodes.values() if n.locked]
    opts = Options(batch_bytes=96 << 10, streams=1)
    with Repository.init(tmp_path / "c", root_uuid=src.root_uuid, incoming_root=True) as dst:
        with pytest.raises(RemoteError):
            fetch_from(dst, "origin", _Cut(src, reads=4), options=opts, lease=0)
        (mark,) = receivespan.span_marks(dst)[:1]
        wrong = receivespan.open_span(dst, mark.data_uuid, mark.nodes, digests=["0:0"] * 9)
        assert wrong.mark is not None
        dst.engine.write(WriteBatch([(CF_META, mark.key, wrong.mark[1] + b"\n" + mark.after)]))
        sender = _Cut(src)
        fetch_from(dst, "origin", sender, options=opts, lease=0)
        assert (mark.data_uuid, None) in sender.starts or any(
            d == mark.data_uuid for _, d in sender.listings
        )
        assert assert_same_nodes(src, dst, committed) > 1000
        assert receivespan.span_marks(dst) == []


def test_a_server_refuses_a_bad_span_batch_and_writes_nothing(
    src: Repository, tmp_path: Path
) -> None:
    """400 for a batch that names no nodes, a damaged value or a position past its nodes;
    404 for a node it lacks; 400 for a node it holds complete. Nothing is written, and
    the server keeps serving (a good batch then applies)."""
    from dvidctl.httpkit import frames

    with server(tmp_path / "store") as srv:
        push(src, remote(srv, src.root_uuid))
        there = served(srv, src.root_uuid)
        gray = src.state.instances["gray"].data_uuid
        local = LocalEndpoint(src)
        committed = [n.uuid for n in src.dag.nodes.values() if n.locked]
        (wk, dig, val), *_ = next(iter(local.span_runs(committed[:2], gray, None, 4)))
        # a pair of incoming nodes to aim at, created on the server as a push does
        ep = HttpEndpoint(srv.url, src.root_uuid)
        tip = local.state().node(committed[-1])
        assert tip is not None
        first = dataclasses.replace(tip, uuid=uuid.uuid4().hex, parents=[tip.uuid])
        second = dataclasses.replace(tip, uuid=uuid.uuid4().hex, parents=[first.uuid])
        for info in (first, second):
            ep.create_node(info)
        new = [first, second]
        done = [n for n in there.dag.nodes.values() if n.locked][:2]
        before = sum(1 for _ in there.engine.scan(CF_META, b""))

        def post(nodes: list[str], items: list[tuple[bytes, bytes, bytes]]) -> httpx.Response:
            w = frames.FrameWriter()
            recs: list[frames.Encoded] = [w.key(u.encode()) for u in nodes]
            recs += [w.value(k, d, v) for k, d, v in items]
            body = b"".join(frames.encode(recs, w))
            url = f"{srv.url}/api/sync/{src.root_uuid}/span/batch"
            return httpx.post(url, params={"instance": gray}, content=body)

        cases = [
            ([], [(wk, dig, val)], 400, "names its nodes"),
            ([n.uuid for n in new], [(wk, dig, val + b"x")], 400, "digest"),
            ([n.uuid for n in new], [(wk[:-4] + b"\0\0\0\x09", dig, val)], 400, "names no node"),
            (["f" * 32, new[0].uuid], [(wk, dig, val)], 404, "no node"),
            ([n.uuid for n in done], [(wk, dig, val)], 400, "not being received"),
        ]
        for nodes, items, status, words in cases:
            r = post(nodes, items)
            assert r.status_code == status, (words, r.text)
            assert words in r.json()["message"], r.text
        assert sum(1 for _ in there.engine.scan(CF_META, b"")) == before
        iid = there.state.instances["gray"].iid
        vids = [there.dag.by_uuid[n.uuid] for n in new]
        assert all(not list(nodedelta.listing(there.engine, v, iid)) for v in vids)
        r = post([n.uuid for n in new], [(wk, dig, val)])
        assert r.status_code == 200 and r.json()["puts"] == 1


class _PushCut(HttpEndpoint):
    """A server link that breaks after ``batches`` span batches went through."""

    def __init__(self, *a: Any, batches: int, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.left = batches

    def fork(self) -> HttpEndpoint:
        other = _PushCut(self.base, self.repo_ref, batches=0, client=self.client)
        other.__dict__.update({k: v for k, v in self.__dict__.items() if k != "client"})
        other.shared_client = True
        return other

    def apply_span(self, *a: Any, **kw: Any) -> Any:
        if self.left <= 0:
            raise RemoteError("the link broke")
        self.left -= 1
        return super().apply_span(*a, **kw)


def test_an_interrupted_push_resumes_its_spans_after_the_servers_marks(
    src: Repository,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The server records each span batch's mark and lists the marks in its state
    document; the next push resumes each span after its mark, spans the instances not
    begun (the document says which instances an incoming node holds), sends no key
    twice and lists nothing; completing the nodes drops the marks."""
    monkeypatch.setattr(nodedelta, "SPILL_BYTES", 0)
    caplog.set_level(logging.INFO, logger="dvidctl.server")
    committed = [n.uuid for n in src.dag.nodes.values() if n.locked]
    opts = Options(batch_bytes=96 << 10, streams=1)
    with server(tmp_path / "store") as srv:
        with pytest.raises(RemoteError):
            cut = _PushCut(srv.url, src.root_uuid, batches=6)
            push(src, remote(srv, src.root_uuid), options=opts, endpoint=cut)
        there = served(srv, src.root_uuid)
        held = sum(len(v) for u in committed for v in node_contents(there, u).values())
        doc = httpx.get(f"{srv.url}/api/sync/{src.root_uuid}/state").json()
        assert doc["marks"] and 0 < held
        caplog.clear()
        res = push(src, remote(srv, src.root_uuid), options=opts)
        total = assert_same_nodes(src, there, committed)
        assert res.stats.keys == total - held  # nothing sent twice
        assert not [r for r in caplog.records if "/keys?" in r.getMessage()]  # nothing listed
        assert _overlapping_share(there) == 0
        assert httpx.get(f"{srv.url}/api/sync/{src.root_uuid}/state").json()["marks"] == []


class _CountingDumps(LocalEndpoint):
    dumped: list[str]

    def dump_runs(self, node: str, *a: Any, **kw: Any) -> Any:
        self.dumped = [*getattr(self, "dumped", []), node]
        return super().dump_runs(node, *a, **kw)


def test_an_open_node_that_wrote_nothing_is_asked_for_nothing(
    src: Repository, tmp_path: Path
) -> None:
    """Its state says so (``empty``): a request per instance for nothing would cost a
    round trip each on a slow link. Once written, its snapshot is dumped."""
    head = src.head.uuid
    with Repository.init(tmp_path / "c", root_uuid=src.root_uuid, incoming_root=True) as dst:
        sender = _CountingDumps(src)
        fetch_from(dst, "origin", sender, lease=0)
        assert head in dst.dag.by_uuid and getattr(sender, "dumped", []) == []
        src.head.instance("kv").put("now", b"written")
        sender = _CountingDumps(src)
        fetch_from(dst, "origin", sender, lease=0)
        assert dict(dst.node(head).instance("kv").items())["now"] == b"written"
