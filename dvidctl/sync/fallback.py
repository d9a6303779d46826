"""``fetch`` (and so ``clone`` and ``pull``) from a server without the sync API: DVID itself.

The DAG and the instances come from ``GET /api/repo/{uuid}/info``
(:mod:`dvidctl.sync.dvidstate`); every node this side lacks, or holds incoming, is created here
(incoming, same UUID, parents, branch, note, log) in parent-first order and its
data replayed over DVID's data endpoints (:mod:`dvidctl.sync.replay`); a node committed there
is then committed here (its digests computed here: DVID has none to compare
with). A node still open there stays a snapshot, replayed again by the next
fetch. A node this side holds committed is taken as it is: DVID does not say
whether a committed node changed. Every request is retried with back-off.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from dvidctl.api import digests, receive
from dvidctl.api.remote import RemoteRepository
from dvidctl.api.syncstate import InstanceInfo, RepoInfo
from dvidctl.errors import BadRequestError, ConflictError, NotFoundError, RemoteError
from dvidctl.sync.dvidstate import repo_info
from dvidctl.sync.http import Policy
from dvidctl.sync.replay import Memo, Replayed, replay
from dvidctl.sync.replaylabels import replay_next_label
from dvidctl.sync.replaymemo import ReplayMemo
from dvidctl.sync.results import FetchResult, Progress, ProgressFn, Stats

if TYPE_CHECKING:
    from dvidctl.api.repository import Repository

T = TypeVar("T")


_TIMEOUT = httpx.Timeout(30.0, read=600.0, write=600.0)


class _CountedBody(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, owner: Any) -> None:
        self.inner, self.owner = inner, owner

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.inner:
            self.owner.stats.down += len(chunk)
            yield chunk

    def close(self) -> None:
        self.inner.close()


class Counting(httpx.BaseTransport):
    """An HTTP transport that counts body bytes into ``owner.stats`` (``up``, ``down``)."""

    def __init__(self, owner: Any) -> None:
        self.owner = owner
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            self.owner.stats.up += len(request.content)
        except httpx.RequestNotRead:
            pass
        response = self.inner.handle_request(request)
        assert isinstance(response.stream, httpx.SyncByteStream)
        response.stream = _CountedBody(response.stream, self.owner)
        return response

    def close(self) -> None:
        self.inner.close()


class Source:
    """A DVID server's repository, read through its standard endpoints with retries."""

    def __init__(
        self, base: str, ref: str, *, token: str | None = None, policy: Policy | None = None
    ) -> None:
        self.base, self.ref = base, ref
        self.policy = policy or Policy()
        self.stats = Stats()
        client = httpx.Client(transport=Counting(self), timeout=_TIMEOUT)
        self.remote = RemoteRepository(base, token=token, client=client)

    def close(self) -> None:
        """Release the connections."""
        self.remote.close()

    def retry(self, fn: Callable[[], T]) -> T:
        """``fn()``, tried again with back-off while the server fails or is unreachable."""
        p = self.policy
        for attempt in range(p.attempts):
            self.stats.requests += 1
            try:
                return fn()
            except RemoteError as exc:
                last = exc
                if attempt + 1 < p.attempts:
                    time.sleep(min(p.max_backoff, p.backoff * 2**attempt))
        raise RemoteError(
            f"{self.base}: {last.message} (after {p.attempts} tries)", hint=last.hint
        ) from None

    def state(self) -> RepoInfo:
        """The repository document (protocol 0: DVID's endpoints)."""
        try:
            doc = self.retry(lambda: self.remote.info(self.ref, refresh=True))
        except (BadRequestError, NotFoundError) as exc:  # DVID: 400 for an unknown UUID
            raise RemoteError(
                f"{self.base} has no repository {self.ref} ({exc.message})",
                hint="check the UUID at the end of the remote URL",
            ) from None
        return repo_info(doc)


def fetch_dvid(
    repo: Repository,
    name: str,
    source: Source,
    their: RepoInfo,
    *,
    progress: ProgressFn | None = None,
) -> tuple[Stats, list[str]]:
    """Bring ``their`` nodes into ``repo``; returns the counters and the snapshots taken."""
    stats = source.stats
    insts = _by_name(repo, their.instances)
    todo = [n for n in their.nodes if not _complete_here(repo, n.uuid)]
    stats.nodes_same += len(their.nodes) - len(todo)
    snapshots = []
    cache = repo.dvid_dir / "cache" / "dvid-blocks" if repo.dvid_dir is not None else None
    memo = ReplayMemo(cache)
    for done, node in enumerate(todo):
        if progress is not None:
            progress(Progress(f"fetch {name}", done, len(todo), stats, node.uuid))
        fresh = node.uuid not in repo.dag.by_uuid  # nothing of it here yet (replaymemo)
        vid = receive.create_node(repo, node).vid
        remote_node = source.remote.node(node.uuid)
        stamps = _Stamps(repo, vid)
        with repo.store.receiving(vid):
            replayed = [inst for inst in insts if inst.versioned]
            for inst in replayed:
                stamp = partial(stamps.of, inst.data_uuid)
                m = memo.begin(inst.name, node.uuid, node.parents, fresh=fresh, stamp=stamp)
                _add(stats, _replay(repo, source, remote_node, node.uuid, inst.name, m))
            if memo.cache is not None:
                stamps.clear()  # an open node's digests go with what it holds now
                for inst in replayed:
                    own = "" if node.locked else stamps.of(inst.data_uuid)
                    memo.end(inst.name, node.uuid, locked=node.locked, stamp=own)
        if node.locked:
            receive.complete_unverified(repo, node)
        else:
            snapshots.append(node.uuid)
        stats.nodes += 1
    root = repo.dag.root
    last = their.nodes[-1].uuid if their.nodes else root.uuid
    for inst in insts:
        if not inst.versioned:  # kept at the root, whatever its state: replayed each time
            with repo.store.receiving(root.vid):
                _add(
                    stats,
                    _replay(repo, source, source.remote.node(root.uuid), root.uuid, inst.name),
                )
        elif inst.typename == "labelmap":  # the next label is repo-wide: once
            there = source.retry(partial(source.remote.node(last).instance, inst.name))
            replay_next_label(there, repo.node(last).instance(inst.name))
    return stats, snapshots


class _Stamps:
    """The digest of what node ``vid`` holds of its own per instance (one scan of its
    delta, made when first asked for; :mod:`.replaymemo`'s stamps)."""

    def __init__(self, repo: Repository, vid: int) -> None:
        self.repo, self.vid = repo, vid
        self._got: dict[str, str] | None = None

    def of(self, data_uuid: str) -> str:
        if self._got is None:
            self._got = digests.node_digests(self.repo, self.vid)
        return self._got.get(data_uuid) or "nothing"

    def clear(self) -> None:
        self._got = None


def _by_name(repo: Repository, instances: list[InstanceInfo]) -> list[InstanceInfo]:
    """The instances to replay; created here where missing.

    DVID picks its own data UUIDs (a push through its endpoints cannot keep ours), so
    an instance of the same name and type here is that instance: matched by name, its
    record here kept as it is.
    """
    mine = {rec.name: rec for rec in repo.instances()}
    matched, new = [], []
    for info in instances:
        rec = mine.get(info.name)
        if rec is not None and rec.typename == info.typename and rec.data_uuid != info.data_uuid:
            matched.append(dataclasses.replace(info, data_uuid=rec.data_uuid))
        else:
            new.append(info)
    shared = set(receive.put_instances(repo, new))
    return [i for i in new if i.data_uuid in shared] + matched


def _complete_here(repo: Repository, uuid: str) -> bool:
    vid = repo.dag.by_uuid.get(uuid)
    if vid is None:
        return False
    node = repo.dag.node(vid)
    if not node.locked and not node.incoming:
        raise ConflictError(
            f"node {uuid[:10]} is open on the receiving side; sync never overwrites one"
        )
    return not node.incoming


def _replay(
    repo: Repository,
    source: Source,
    remote_node: object,
    uuid: str,
    name: str,
    memo: Memo | None = None,
) -> Replayed:
    remote = source.retry(lambda: remote_node.instance(name))  # type: ignore[attr-defined]
    return replay(remote, repo.node(uuid).instance(name), source.retry, memo)


def _add(stats: Stats, r: Replayed) -> None:
    stats.notes.extend(n for n in r.notes if n not in stats.notes)
    if r.labels:
        stats.labels = r.labels
    stats.keys += r.keys
    stats.bytes += r.bytes
    stats.deleted += r.deleted
    stats.same += r.same
    stats.batches += r.batches


__all__ = ["FetchResult", "Source", "fetch_dvid"]
