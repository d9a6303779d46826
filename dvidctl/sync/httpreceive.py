"""The receiving half of a dvidctl server as one side of a transfer (a push): its
``/api/sync`` routes that create repositories, instances and nodes, apply batches,
complete nodes and move branches. Every one is a single request with
:class:`~dvidctl.sync.httpcalls.HttpCalls`' retries; a batch is one POST, answered
once the server made it durable (:class:`PostedBatch`), with the keys it wants again
as stored bytes (a wire encoding it could not make byte for byte).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any, cast

from dvidctl.api import wire
from dvidctl.api.receivespan import SpanMark
from dvidctl.api.syncstate import InstanceInfo, NodeInfo, RepoInfo
from dvidctl.datatypes.registry import WireEncoding
from dvidctl.errors import BadRequestError
from dvidctl.httpkit import frames
from dvidctl.store.nodedelta import Applied
from dvidctl.sync.httpcalls import HttpCalls


class HttpReceiving(HttpCalls):
    """:class:`~dvidctl.sync.http.HttpEndpoint`'s receiving calls (see the module doc)."""

    #: Per data UUID, the wire encoding values of that instance travel in (none: stored).
    encodings: dict[str, WireEncoding]
    #: The server reads value runs (``B``) in batches (see ``HttpEndpoint.dumps``).
    dumps: bool
    #: The server takes spans' batches (its state document lists ``span-batch``).
    takes_spans: bool
    #: Its marks of the spans into it that did not end, as its last state document said.
    marks: list[dict[str, Any]]
    #: Per incoming node, the instances it holds keys of (its last state document).
    holds: dict[str, list[str]]
    #: Body bytes and seconds of the values and batch requests: the link rate seen.
    link_bytes: int
    link_seconds: float

    def create_repo(self, info: RepoInfo) -> None:
        body = {"root": info.root, "alias": info.alias, "description": info.description}
        self._call("POST", "/api/sync/repos", json_body=body)
        self.repo_ref = info.root

    def put_instances(self, instances: Sequence[InstanceInfo]) -> list[str]:
        doc = self._call(
            "POST", self._repo + "/instances", json_body=[asdict(i) for i in instances]
        )
        return [str(d) for d in doc.get("shared", [])]

    def create_node(self, info: NodeInfo) -> None:
        self._call("POST", self._repo + "/nodes", json_body=asdict(info))

    def reopen_node(self, uuid: str) -> None:
        self._call("POST", f"{self._repo}/node/{uuid}/reopen")

    def apply_batch(
        self,
        node: str,
        data_uuid: str,
        puts: Sequence[tuple[bytes, bytes, bytes]],
        deletes: Sequence[bytes],
    ) -> Applied:
        enc = self.encodings.get(data_uuid)
        items = list(wire.encode_values(enc, puts))
        done, again = self._batch(node, data_uuid, items, deletes)
        if again:  # the server made other stored bytes of these: send them as they are
            redo = set(again)
            rest = [(tk, d, s, 0) for tk, d, s in puts if tk in redo]
            more, _ = self._batch(node, data_uuid, rest, ())
            done = Applied(done.puts + more.puts, done.deletes, done.nbytes + more.nbytes)
        return done

    def batch(self, node: str, data_uuid: str) -> PostedBatch:
        return PostedBatch(self, node, data_uuid)

    def _batch(
        self,
        node: str,
        data_uuid: str,
        items: Sequence[tuple[bytes, bytes | None, bytes | None, int]],
        deletes: Sequence[bytes],
    ) -> tuple[Applied, list[bytes]]:
        present = [(tk, d, v, n) for tk, d, v, n in items if d is not None and v is not None]

        def body() -> bytes:
            w = frames.FrameWriter()
            if self.dumps:
                recs = list(frames.value_records([present], w))
            else:  # an older server: one record per value
                recs = [w.wired(tk, d, n, v) if n else w.value(tk, d, v) for tk, d, v, n in present]
            recs += [w.delete(tk) for tk in deletes]
            return b"".join(frames.encode(recs, w))

        return self._posted(f"{self._repo}/node/{node}/batch", data_uuid, body)

    def _posted(
        self, path: str, data_uuid: str, body: Callable[[], bytes]
    ) -> tuple[Applied, list[bytes]]:
        """POST a batch (``body`` rebuilt for each try); what it applied, and ``again``."""
        t0 = time.perf_counter()
        up0 = self.stats.up
        doc = self._call("POST", path, params={"instance": data_uuid}, body=body)
        self.link_bytes += self.stats.up - up0
        self.link_seconds += time.perf_counter() - t0
        again = [bytes.fromhex(str(h)) for h in doc.get("again", [])]
        return Applied(int(doc["puts"]), int(doc["deletes"]), int(doc["bytes"])), again

    def span_order(self, nodes: Sequence[str]) -> list[str]:
        """``nodes`` as they are: the server puts each whole batch in its own order."""
        return list(nodes)

    def span_batch(
        self, nodes: Sequence[str], data_uuid: str, digests: Sequence[str] | None = None
    ) -> PostedBatch:
        """A batch of a span into ``nodes`` (values by wire key), sent whole by ``commit``;
        with the sender's ``digests`` the server records the span's mark with it."""
        named = [f"{u} {d}" for u, d in zip(nodes, digests, strict=True)] if digests else nodes
        return PostedBatch(self, "", data_uuid, named)

    def holds_nothing(self, node: str, data_uuid: str) -> bool:
        """Whether the server's incoming ``node`` held no key of the instance, as its last
        state document said (False when it did not say)."""
        held = self.holds.get(node)
        return held is not None and data_uuid not in held

    def span_marks(self) -> list[SpanMark]:
        """The server's marks of the spans into it that did not end (its state document
        lists them: read by the last ``state``)."""
        out = []
        for m in self.marks:
            try:
                out.append(SpanMark.from_json(m))
            except BadRequestError:  # a mark only saves work: its nodes are diffed instead
                continue
        return out

    def apply_span(
        self, nodes: Sequence[str], data_uuid: str, puts: Sequence[tuple[bytes, bytes, bytes]]
    ) -> Applied:
        """One batch of a span, in the instance's wire encoding where it has one (type keys
        are the wire keys less their 4-byte position); what the server could not make the
        same goes again as stored."""
        enc = self.encodings.get(data_uuid)
        made = wire.encode_values(enc, [(wk[:-4], d, v) for wk, d, v in puts])
        items = [(wk, d, p, n) for (wk, d, _), (_, _, p, n) in zip(puts, made, strict=True)]
        done, again = self._span_batch(nodes, data_uuid, items)
        if again:
            redo = set(again)
            rest = [(wk, d, s, 0) for wk, d, s in puts if wk in redo]
            more, _ = self._span_batch(nodes, data_uuid, rest)
            done = Applied(done.puts + more.puts, 0, done.nbytes + more.nbytes)
        return done

    def _span_batch(
        self,
        nodes: Sequence[str],
        data_uuid: str,
        items: Sequence[tuple[bytes, bytes, bytes | None, int]],
    ) -> tuple[Applied, list[bytes]]:
        def body() -> bytes:
            w = frames.FrameWriter()
            recs: list[frames.Encoded] = [w.key(u.encode()) for u in nodes]
            recs += frames.value_records([cast(list[tuple[bytes, bytes, bytes, int]], items)], w)
            return b"".join(frames.encode(recs, w))

        return self._posted(f"{self._repo}/span/batch", data_uuid, body)

    def complete_node(self, info: NodeInfo, compare: Sequence[str]) -> bool:
        doc = self._call(
            "POST",
            f"{self._repo}/node/{info.uuid}/complete",
            json_body={"node": asdict(info), "compare": list(compare)},
        )
        return bool(doc.get("changed"))

    def mark_snapshot(self, uuid: str, stamp: str) -> None:
        self._call("POST", f"{self._repo}/node/{uuid}/snapshot", json_body={"stamp": stamp})

    def move_branch(self, name: str, old: str | None, new: str) -> str | None:
        doc = self._call("POST", f"{self._repo}/branch/{name}", json_body={"old": old, "new": new})
        dropped = doc.get("dropped")
        return str(dropped) if dropped else None

    def lease_labels(self, name: str, count: int) -> tuple[int, int]:
        body = {"instance": name, "count": count}
        doc = self._call("POST", self._repo + "/lease", json_body=body)
        return int(doc["start"]), int(doc["end"])


class PostedBatch:
    """A batch for a server: gathered here, sent in one request by :meth:`commit`
    (the server checks every digest and applies it atomically and durably)."""

    overlaps = True

    def __init__(
        self, ep: HttpReceiving, node: str, data_uuid: str, span: Sequence[str] = ()
    ) -> None:
        self.ep, self.node, self.data_uuid = ep, node, data_uuid
        #: A span's nodes: values are keyed by wire key, and removals are refused.
        self.span = list(span)
        self.items: list[tuple[bytes, bytes, bytes]] = []
        self.removals: list[bytes] = []
        self.nbytes = 0

    @property
    def puts(self) -> int:
        return len(self.items)

    @property
    def deletes(self) -> int:
        return len(self.removals)

    def __len__(self) -> int:
        return len(self.items) + len(self.removals)

    def put(self, tkey: bytes, dig: bytes, stored: bytes) -> None:
        self.items.append((tkey, dig, stored))
        self.nbytes += len(stored)

    def delete(self, tkey: bytes) -> None:
        if self.span:
            raise BadRequestError("a span removes nothing: it fills nodes that hold nothing")
        self.removals.append(tkey)

    def commit(self) -> Applied:
        if self.span:
            return self.ep.apply_span(self.span, self.data_uuid, self.items)
        return self.ep.apply_batch(self.node, self.data_uuid, self.items, self.removals)

    def discard(self) -> None:
        self.items, self.removals = [], []
