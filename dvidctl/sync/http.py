"""A dvidctl server's ``/api/sync`` endpoints as one side of a transfer, over httpx.

The requests themselves (timeouts, the stall watchdog, retries with back-off,
errors by kind) are :class:`~dvidctl.sync.httpcalls.HttpCalls`'. Streamed answers
resume where they broke: a listing from after the last key it got, values with
the keys still missing, a node's stream after its last verified key, so nothing is
asked for twice. Values may travel in a wire encoding both sides speak
(:mod:`dvidctl.api.wire`); a value this side cannot make byte for byte is asked
for again as stored.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

import httpx

from dvidctl.api import wire
from dvidctl.api.syncstate import RepoInfo
from dvidctl.datatypes.registry import WireEncoding
from dvidctl.errors import CorruptDataError
from dvidctl.httpkit import frames
from dvidctl.httpkit.framebody import read_body
from dvidctl.store.nodedelta import check_stored
from dvidctl.sync.diff import Keys
from dvidctl.sync.endpoint import Value
from dvidctl.sync.httpcalls import NoSyncApiError, Policy
from dvidctl.sync.httpreceive import HttpReceiving, PostedBatch

__all__ = ["HttpEndpoint", "NoSyncApiError", "Policy", "PostedBatch"]


def _expect(max_bytes: int | None, got: int) -> int:
    """The body bytes an answer ending after ``max_bytes - got`` stored bytes likely reaches
    (framing and the value that crosses the limit: a megabyte more; none when unbounded)."""
    return 0 if max_bytes is None else max(0, max_bytes - got) + (1 << 20)


class HttpEndpoint(HttpReceiving):
    """The repository ``repo_ref`` on the server at ``base_url`` (see the module doc)."""

    def __init__(
        self,
        base_url: str,
        repo_ref: str,
        *,
        token: str | None = None,
        policy: Policy | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        super().__init__(base_url, repo_ref, token=token, policy=policy, client=client)
        #: Per data UUID, the wire encoding values of that instance travel in (none: stored).
        self.encodings: dict[str, WireEncoding] = {}
        #: The wire encodings the server speaks (its state document says).
        self.speaks: list[str] = []
        #: The server streams whole nodes (``dump``) and reads value runs (``B``) in
        #: batches: its state document lists ``wire`` (an older one has neither).
        self.dumps = False
        #: The server sends spans of nodes (its state document lists the ``span`` feature).
        self.spans = False
        self.takes_spans = False
        self.marks: list[dict[str, Any]] = []
        self.holds: dict[str, list[str]] = {}
        #: Body bytes and seconds of the values and batch requests: the link rate seen.
        self.link_bytes = 0
        self.link_seconds = 0.0

    def encoding_for(self, data_uuid: str, name: str) -> WireEncoding | None:
        """None: the local side builds encodings (it knows the instance's config)."""
        return None

    def fork(self) -> HttpEndpoint:
        """Another endpoint of the same repository with its own counters, on the same
        ``httpx.Client`` (which may be shared between threads: a request made while
        another is under way takes a connection of its own from its pool); the
        encodings are shared (one dict), so a choice made on one holds for all."""
        other = HttpEndpoint(
            self.base, self.repo_ref, token=self.token, policy=self.policy, client=self.client
        )
        other.shared_client = True
        other._raw_ok = self._raw_ok  # a connection of its own for whole bodies, as this one
        other.encodings = self.encodings
        other.speaks = self.speaks
        other.dumps = self.dumps
        other.spans = self.spans
        other.takes_spans = self.takes_spans
        return other

    def use_encoding(self, data_uuid: str, enc: WireEncoding | None) -> None:
        """Move the values of instance ``data_uuid`` in wire encoding ``enc`` (None: stored)."""
        if enc is None:
            self.encodings.pop(data_uuid, None)
        else:
            self.encodings[data_uuid] = enc

    # --------------------------------------------------------------- sending
    def state(self) -> RepoInfo:
        doc = self._call("GET", self._repo + "/state")
        info = RepoInfo.from_json(doc)
        self.speaks = [n for n in info.wire if n in wire.NUMBERS]
        self.dumps = isinstance(doc, dict) and "wire" in doc
        self.spans = "span" in info.features
        self.takes_spans = "span-batch" in info.features
        self.marks = info.marks
        self.holds = {n.uuid: n.holds for n in info.nodes if n.holds is not None}
        self.repo_ref = info.root  # from now on the root names it, not a prefix
        return info

    def listing(self, node: str, data_uuid: str) -> Iterator[Keys]:
        return self.selected_listing(node, data_uuid, {})

    def selected_listing(self, node: str, data_uuid: str, select: dict[str, str]) -> Iterator[Keys]:
        """:meth:`listing` of only the blocks ``select`` names (``bbox=``, ``scales=``: a
        partial clone's coarse filter, which a server may ignore)."""
        after: list[bytes] = []
        path = f"{self._repo}/node/{node}/keys"

        def produce() -> Iterator[Keys]:
            params = {"instance": data_uuid, **select}
            if after:
                params["after"] = after[-1].hex()
            with self._stream("GET", path, params) as body:
                reader = frames.FrameReader(body, "key listing")
                try:
                    for rec in reader:
                        if not isinstance(rec, frames.ListingChunk):
                            raise CorruptDataError("a key listing holds a record of another kind")
                        keys = Keys.from_chunk(rec)
                        if len(keys):
                            after[:] = [keys.last()]
                        yield keys
                finally:
                    self.stats.down += reader.nbytes

        return self._resuming(f"listing node {node[:10]}", produce)

    def values(
        self, node: str, data_uuid: str, tkeys: Sequence[bytes], max_bytes: int | None = None
    ) -> Iterator[Value]:
        enc = self.encodings.get(data_uuid)
        again: list[bytes] = []
        yield from self._values(node, data_uuid, tkeys, enc, again, max_bytes)
        if again:  # this side made other stored bytes of them: take them as stored
            yield from self._values(node, data_uuid, again, None, [])

    @staticmethod
    def _settle(
        pending: list[frames.Record],
        enc: WireEncoding | None,
        again: list[bytes],
        check: bool = True,
        suffix: int = 0,
    ) -> list[tuple[bytes, bytes, bytes]]:
        """Stored values of ``V``/``W`` records, digests checked unless ``check`` is False
        (``again``: not made the same; ``suffix``: the keys' bytes after the type key)."""
        if enc is None or all(r.kind == "V" for r in pending):
            done = [(r.tkey, r.digest, r.value) for r in pending]
        else:
            items = [(r.tkey, r.digest, r.value, r.encoding) for r in pending]
            done, redo = wire.decode_values({wire.NUMBERS[enc.name]: enc}, items, suffix)
            again.extend(redo)
        if check:
            for tk, dig, stored in done:
                check_stored(tk, dig, stored)
        pending.clear()
        return done

    def _values(
        self,
        node: str,
        data_uuid: str,
        tkeys: Sequence[bytes],
        enc: WireEncoding | None,
        again: list[bytes],
        max_bytes: int | None = None,
    ) -> Iterator[Value]:
        """The values of ``tkeys`` (with ``max_bytes``: until the server's answer ends,
        after the value that brings the stored bytes to it; a resumed request asks for
        what is left of that)."""
        got = [0, 0]  # values, stored bytes
        path = f"{self._repo}/node/{node}/values"
        params = {"instance": data_uuid}
        if enc is not None:
            params["encoding"] = enc.name

        def settle(pending: list[frames.Record]) -> list[tuple[bytes, bytes, bytes]]:
            n = len(pending)
            done = self._settle(pending, enc, again)
            got[0] += n
            got[1] += sum(len(s) for _, _, s in done)
            return done

        def produce() -> Iterator[Value]:
            wanted = tkeys[got[0] :]
            if not wanted or (max_bytes is not None and got[1] >= max_bytes):
                return
            if max_bytes is not None:
                params["bytes"] = str(max_bytes - got[1])
            w = frames.FrameWriter()
            content = b"".join(frames.encode((w.key(tk) for tk in wanted), w))
            self.stats.up += len(content)
            t0 = time.perf_counter()
            body = self._body("POST", path, params, content)  # few keys, or many: unknown
            self.stats.down += len(body)
            self.link_bytes += len(body) + len(content)
            self.link_seconds += time.perf_counter() - t0
            pending: list[frames.Record] = []
            for rec in read_body(body, "values"):
                if not isinstance(rec, frames.Record) or rec.kind not in "VWX":
                    raise CorruptDataError("a values body holds a record of another kind")
                if rec.tkey != tkeys[got[0] + len(pending)]:
                    raise CorruptDataError("values came back in another order")
                if rec.kind == "X":
                    yield from settle(pending)
                    got[0] += 1
                    yield rec.tkey, None, None
                    continue
                pending.append(rec)
                if len(pending) >= wire.CHUNK:
                    yield from settle(pending)
            yield from settle(pending)

        return self._resuming(f"reading values of node {node[:10]}", produce)

    def dump(
        self,
        node: str,
        data_uuid: str,
        after: bytes | None = None,
        max_values: int | None = None,
        max_bytes: int | None = None,
    ) -> Iterator[Value]:
        """:meth:`Endpoint.dump`: the values of :meth:`dump_runs`, one by one."""
        for run in self.dump_runs(node, data_uuid, after, max_values, max_bytes):
            yield from run

    def dump_runs(
        self,
        node: str,
        data_uuid: str,
        after: bytes | None = None,
        max_values: int | None = None,
        max_bytes: int | None = None,
    ) -> Iterator[list[Value]]:
        """:meth:`Endpoint.dump` in runs of values (as they came: a ``B`` record's, or up
        to :data:`wire.CHUNK` single values), for a receiver that puts a run in one call.
        Each value's digest is checked by the receiver's batch it goes into (a local
        one's ``put`` checks it: the only receiver of a server's dump), not twice (the
        body's checksums are checked here)."""
        enc = self.encodings.get(data_uuid)
        again: list[bytes] = []

        def settle(pending: list[frames.Record]) -> list[tuple[bytes, bytes, bytes]]:
            return self._settle(pending, enc, again, check=False)

        path = f"{self._repo}/node/{node}/dump"
        yield from self._batches(
            f"reading node {node[:10]}", "GET", path, None, data_uuid, after, max_values,
            max_bytes, settle,
        )  # fmt: skip
        if again:
            yield list(self._values(node, data_uuid, again, None, []))

    def span_runs(
        self,
        nodes: Sequence[str],
        data_uuid: str,
        after: bytes | None = None,
        max_values: int | None = None,
        max_bytes: int | None = None,
    ) -> Iterator[list[Value]]:
        """:meth:`dump_runs` of several nodes at once (:mod:`dvidctl.store.nodespan`: values
        keyed ``tkey | u32 position in nodes``), for a local receiver's span batches."""
        enc = self.encodings.get(data_uuid)
        again: list[bytes] = []

        def settle(pending: list[frames.Record]) -> list[tuple[bytes, bytes, bytes]]:
            return self._settle(pending, enc, again, check=False, suffix=4)

        content = json.dumps({"nodes": list(nodes)}).encode()
        yield from self._batches(
            f"reading {len(nodes)} nodes", "POST", f"{self._repo}/span", content, data_uuid,
            after, max_values, max_bytes, settle,
        )  # fmt: skip
        by_node: dict[int, list[bytes]] = {}
        for wk in again:  # this side made other stored bytes of them: take them as stored
            by_node.setdefault(int.from_bytes(wk[-4:], "big"), []).append(wk[:-4])
        for p, tks in sorted(by_node.items()):
            got = self._values(nodes[p], data_uuid, tks, None, [])
            yield [(tk + p.to_bytes(4, "big"), d, v) for tk, d, v in got]

    def _batches(
        self,
        what: str,
        method: str,
        path: str,
        content: bytes | None,
        data_uuid: str,
        after: bytes | None,
        max_values: int | None,
        max_bytes: int | None,
        settle: Callable[[list[frames.Record]], list[tuple[bytes, bytes, bytes]]],
    ) -> Iterator[list[Value]]:
        """A dump's or a span's answers in runs (one receiver's batch with the limits),
        asked again after the last key got when an answer breaks; ``settle`` makes the
        ``V``/``W`` records gathered into a run of stored values."""
        enc = self.encodings.get(data_uuid)
        last: list[bytes] = [after] if after is not None else []
        got = [0, 0]  # values, stored bytes: a resumed request asks for the rest

        def settled(pending: list[frames.Record]) -> list[Value]:
            if pending:
                last[:] = [pending[-1].tkey]
            got[0] += len(pending)
            done = settle(pending)
            pending.clear()
            got[1] += sum(len(s) for _, _, s in done)
            return cast(list[Value], done)

        def produce() -> Iterator[list[Value]]:
            params = {"instance": data_uuid}
            if enc is not None:
                params["encoding"] = enc.name
            if last:
                params["after"] = last[-1].hex()
            if max_values is not None:
                if got[0] >= max_values:
                    return
                params["limit"] = str(max_values - got[0])
            if max_bytes is not None:
                if got[1] >= max_bytes:
                    return
                params["bytes"] = str(max_bytes - got[1])
            t0 = time.perf_counter()
            body = self._body(method, path, params, content, _expect(max_bytes, got[1]))
            self.stats.down += len(body)
            self.stats.up += len(content or b"")
            self.link_bytes += len(body)
            self.link_seconds += time.perf_counter() - t0
            pending: list[frames.Record] = []
            for rec in read_body(body, what):
                if isinstance(rec, frames.ValueRun):
                    if pending:
                        yield settled(pending)
                    run = rec.triples()
                    last[:] = [run[-1][0]] if run else last
                    got[0] += len(run)
                    got[1] += sum(len(s) for _, _, s in run)
                    yield cast(list[Value], run)
                    continue
                if not isinstance(rec, frames.Record) or rec.kind not in "VW":
                    raise CorruptDataError(f"{what}: the answer holds a record of another kind")
                pending.append(rec)
                if len(pending) >= wire.CHUNK:
                    yield settled(pending)
            if pending:
                yield settled(pending)

        yield from self._resuming(what, produce)
