"""The sending side of sync: the repository document, one node's listing, stored values.

Used by the server's ``/api/sync`` routes and by the local side of the sync
engine alike (a fetch reads a server through them; a push reads the local
repository through them), so both directions are the same transfer.

* :func:`repo_state` -- the :class:`~dvidctl.api.syncstate.RepoInfo` of a repository,
  with the digests of every committed node (computed now where missing);
* :func:`node_listing` -- the sorted ``(tkey, digest)`` entries one node wrote for one
  instance, streamed from the engine (never built whole);
* :func:`node_values` -- the stored values of chosen keys *as that node stored them*
  (data key ``iid | tkey | vid``), with their delta-index digests;
* :func:`node_dump` -- every value of one node and instance, in key order and in runs,
  for a receiver that holds none of them (no listing, no wanted keys).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, cast

from dvidctl.api import wire
from dvidctl.api.digests import ensure_digests
from dvidctl.api.syncstate import InstanceInfo, NodeInfo, RepoInfo
from dvidctl.datatypes.imageblk.heldkeys import block_layout, keep_keys
from dvidctl.errors import BadRequestError, NotFoundError
from dvidctl.store import nodedelta, nodedump, nodespan
from dvidctl.store.engine import CF_DELTA
from dvidctl.store.held import Held, Triple, parse_bbox, parse_scales
from dvidctl.store.keys import delta_key
from dvidctl.store.metadata import InstanceRecord

if TYPE_CHECKING:
    from dvidctl.api.repository import Repository
    from dvidctl.datatypes.registry import WireEncoding

#: Instance config entries named so are this repository's own (a label lease): never sent.
LOCAL_CONFIG = "local_"
#: A value as a dump sends it: ``(tkey, digest, payload, wire encoding number)`` (0: stored).
Wired = tuple[bytes, bytes, bytes, int]
#: What this side's sync API offers beyond listings, values and dumps (the state
#: document says; a client asks an older server nothing else): ``span``, several
#: nodes in one key-ordered stream (:func:`span_dump`); ``span-batch``, such a
#: stream's batches received (``receivespan.apply_span``).
FEATURES = ("span", "span-batch")
#: Keys read per engine multi-get when values are streamed.
VALUE_READ_CHUNK = 256


def instance_info(rec: InstanceRecord) -> InstanceInfo:
    """An instance record without its local id and its ``local_`` config (e.g. a label lease)."""
    return InstanceInfo(
        name=rec.name,
        typename=rec.typename,
        data_uuid=rec.data_uuid,
        config=shared_config(rec.config),
        versioned=rec.versioned,
        root_uuid=rec.root_uuid,
        created=rec.created,
        tags=dict(rec.tags),
    )


def shared_config(config: dict[str, Any]) -> dict[str, Any]:
    """An instance's config as a sync sends it: entries named ``local_...`` stay here."""
    return {k: v for k, v in config.items() if not k.startswith(LOCAL_CONFIG)}


def lease_labels(repo: Repository, name: str, count: int) -> tuple[int, int]:
    """Reserve ``count`` labels of labelmap ``name`` for a clone's lease (no version written)."""
    rec = repo.state.instances.get(name)
    if rec is None:
        raise NotFoundError(f"no data instance {name!r}")
    inst = repo.node(rec.root_uuid).instance(name)
    lease = getattr(inst, "lease_labels", None)
    if lease is None:
        raise BadRequestError(f"instance {name!r} is a {inst.typename}: no labels to lease")
    start, end = lease(count)
    return int(start), int(end)


def repo_state(repo: Repository) -> RepoInfo:
    """Everything the other side of a sync needs to plan: one document."""
    ensure_digests(repo)
    with repo.store.write_lock:  # one consistent DAG while a server writes meanwhile
        return _state(repo)


def _state(repo: Repository) -> RepoInfo:
    dag = repo.dag
    uuid_of = {vid: n.uuid for vid, n in dag.nodes.items()}
    nodes = []
    for vid in sorted(dag.nodes):
        n = dag.node(vid)
        nodes.append(
            NodeInfo(
                uuid=n.uuid,
                parents=[uuid_of[p] for p in n.parents],
                branch=n.branch,
                locked=n.locked,
                note=n.note,
                log=list(n.log),
                created=n.created,
                updated=n.updated,
                digests=dict(n.digests) if n.digests is not None and not n.incoming else None,
                writes_after_commit=n.writes_after_commit,
                incoming=n.incoming,
                empty=n.locked or not repo.store.has_changes(vid),
                stamp=None if n.locked else repo.store.write_stamp(vid),
                snapshot=n.snapshot,
                holds=_holds(repo, vid) if n.incoming else None,
            )
        )
    r = repo.state.repo
    return RepoInfo(
        root=r.root,
        alias=r.alias,
        description=r.description,
        instances=[instance_info(rec) for rec in repo.instances()],
        nodes=nodes,
        branches={b: uuid_of[v] for b, v in sorted(repo.state.branches.items())},
        tags={t: uuid_of[v] for t, v in sorted(repo.state.tags.items())},
        wire=list(wire.SPOKEN),
        features=list(FEATURES),
        marks=[
            {"instance": d, "nodes": nodes, "digests": digests, "after": after.hex()}
            for d, nodes, digests, after in nodespan.read_marks(repo.engine)
        ],
    )


def _holds(repo: Repository, vid: int) -> list[str]:
    """The data UUIDs of the versioned instances node ``vid`` holds keys of (a seek each)."""
    versioned = (rec for rec in repo.instances() if rec.versioned)
    return [rec.data_uuid for rec in versioned if repo.store.has_changes(vid, rec.iid)]


def node_vid(repo: Repository, uuid: str) -> int:
    """The local version id of node ``uuid`` (NotFoundError if this side lacks it)."""
    vid = repo.dag.by_uuid.get(uuid)
    if vid is None:
        raise NotFoundError(f"no node {uuid} in repository {repo.root_uuid}")
    return vid


def instance_by_data_uuid(repo: Repository, data_uuid: str) -> InstanceRecord:
    """The live instance with ``data_uuid`` (NotFoundError if this side lacks it)."""
    for rec in repo.state.instances.values():
        if rec.data_uuid == data_uuid:
            return rec
    raise NotFoundError(f"no data instance with data UUID {data_uuid} in {repo.root_uuid}")


def _vid_iid(repo: Repository, uuid: str, data_uuid: str) -> tuple[int, int]:
    rec = instance_by_data_uuid(repo, data_uuid)
    vid = repo.dag.root.vid if not rec.versioned else node_vid(repo, uuid)
    return vid, rec.iid


def node_listing(
    repo: Repository, uuid: str, data_uuid: str, after: bytes | None = None
) -> Iterator[tuple[bytes, bytes]]:
    """The ``(tkey, digest)`` entries node ``uuid`` wrote for the instance, in key order.

    An unversioned instance keeps its keys at the root: its listing is the root's,
    whichever node is named.
    """
    vid, iid = _vid_iid(repo, uuid, data_uuid)
    return nodedelta.listing(repo.engine, vid, iid, after)


def node_values(
    repo: Repository,
    uuid: str,
    data_uuid: str,
    tkeys: Iterable[bytes],
    max_bytes: int | None = None,
) -> Iterator[tuple[bytes, bytes | None, bytes | None]]:
    """``(tkey, digest, stored)`` for each key, as node ``uuid`` itself stored it.

    ``(tkey, None, None)`` for a key the node holds no value for (an open node
    may have dropped it since it was listed). With ``max_bytes``, it stops after
    the value that brings the stored bytes to that limit (one receiver's batch).
    """
    vid, iid = _vid_iid(repo, uuid, data_uuid)  # now: an unknown node fails before streaming
    pairs = ((tk, None) for tk in tkeys)
    return limited(_values(repo, vid, iid, pairs), None, max_bytes)


def node_values_wire(
    repo: Repository,
    uuid: str,
    data_uuid: str,
    tkeys: Iterable[bytes],
    encoding: str,
    max_bytes: int | None = None,
) -> Iterator[tuple[bytes, bytes | None, bytes | None, int]]:
    """:func:`node_values` with each value in wire ``encoding`` where the instance has it.

    ``(tkey, digest, payload, number)``: number 0 is the stored value as it is
    (:func:`dvidctl.api.wire.encode_values`).
    """
    rec = instance_by_data_uuid(repo, data_uuid)
    enc = wire.encoding_for(rec.typename, rec.config, wire.check_name(encoding))
    return wire.encode_values(enc, node_values(repo, uuid, data_uuid, tkeys, max_bytes))


def node_dump(
    repo: Repository,
    uuid: str,
    data_uuid: str,
    after: bytes | None = None,
    encoding: str = "stored",
    max_values: int | None = None,
    max_bytes: int | None = None,
) -> Iterator[list[Wired]]:
    """Every value node ``uuid`` stored for the instance, in key order (after ``after``), in runs.

    What a receiver that holds nothing of the node needs, in one stream: no listing
    and no wanted keys. Lists of ``(tkey, digest, payload, number)`` as
    :func:`node_values_wire` gives them, for the values still there (an open node may
    have dropped one since). With ``max_values`` / ``max_bytes`` it ends after one
    receiver's batch: the value that brings the count or the stored bytes to its
    limit (the receiver asks for the next batch after this one is durable).
    """
    vid, iid = _vid_iid(repo, uuid, data_uuid)
    rec = instance_by_data_uuid(repo, data_uuid)
    enc = wire.encoding_for(rec.typename, rec.config, wire.check_name(encoding))
    runs = nodedump.stored_runs(repo.engine, vid, iid, after, max_values, max_bytes)
    if enc is None:
        return ([(tk, d, v, 0) for tk, d, v in run] for run in runs)
    return (cast(list[Wired], list(wire.encode_values(enc, run))) for run in runs)


def span_dump(
    repo: Repository,
    data_uuid: str,
    nodes: list[str],
    after: bytes | None = None,
    encoding: str = "stored",
    max_values: int | None = None,
    max_bytes: int | None = None,
) -> Iterator[list[Wired]]:
    """Every value nodes ``nodes`` stored for the instance, in one key-ordered stream, in runs.

    What a receiver that holds nothing of several nodes needs (:mod:`dvidctl.store.nodespan`:
    records keyed ``tkey | u32 position in nodes``, after the wire key ``after``), so
    that its table files do not overlap. As :func:`node_dump` otherwise: values in wire
    ``encoding`` where the instance has it, one receiver's batch with the limits.
    """
    rec = instance_by_data_uuid(repo, data_uuid)
    if not rec.versioned:
        raise BadRequestError(f"instance {rec.name} is unversioned: it has no span of nodes")
    vids = [node_vid(repo, u) for u in nodes]
    enc = wire.encoding_for(rec.typename, rec.config, wire.check_name(encoding))
    runs = nodespan.span_runs(repo.engine, rec.iid, vids, after, max_values, max_bytes)
    if enc is None:
        return ([(wk, d, v, 0) for wk, d, v in run] for run in runs)
    return (_span_wired(enc, run) for run in runs)


def _span_wired(enc: WireEncoding, run: list[nodedump.Stored]) -> list[Wired]:
    """A span's run in wire encoding ``enc`` (which reads the type keys, not wire keys)."""
    made = wire.encode_values(enc, [(wk[:-4], d, v) for wk, d, v in run])
    both = zip(run, made, strict=True)
    return [(wk, d, cast(bytes, p), n) for (wk, d, _), (_, _, p, n) in both]


def limited(
    values: Iterator[tuple[bytes, bytes | None, bytes | None]],
    max_values: int | None,
    max_bytes: int | None,
) -> Iterator[tuple[bytes, bytes | None, bytes | None]]:
    """``values`` up to the one that brings their count or stored bytes to a limit.

    The receiver closes its batch by the same rule, so one answer is one batch.
    """
    n = nbytes = 0
    for item in values:
        yield item
        n += 1
        nbytes += len(item[2] or b"")
        if (max_values is not None and n >= max_values) or (
            max_bytes is not None and nbytes >= max_bytes
        ):
            return


#: Stored bytes one engine multi-get aims at when values are streamed: the first bytes
#: of an answer leave early, and each read is large enough to cost little per key.
READ_BYTES = 2 << 20


def _values(
    repo: Repository, vid: int, iid: int, pairs: Iterable[tuple[bytes, bytes | None]]
) -> Iterator[tuple[bytes, bytes | None, bytes | None]]:
    """The stored values of ``(tkey, digest or None)``: digests not given are read too."""
    engine = repo.engine
    pending: list[tuple[bytes, bytes | None]] = []
    want = 16  # keys per read: adapted to about READ_BYTES by the sizes seen
    seen_keys = seen_bytes = 0

    def flush() -> Iterator[tuple[bytes, bytes | None, bytes | None]]:
        tks = [tk for tk, _ in pending]
        stored = nodedelta.stored_at(engine, vid, iid, tks)
        if all(d is not None for _, d in pending):
            digests = [d for _, d in pending]
        else:
            digests = engine.multi_get(CF_DELTA, [delta_key(vid, iid, tk) for tk in tks])
        for tk, s, d in zip(tks, stored, digests, strict=True):
            yield (tk, d, s) if s is not None and d is not None else (tk, None, None)

    for pair in pairs:
        pending.append(pair)
        if len(pending) >= want:
            for item in flush():
                seen_keys += 1
                seen_bytes += len(item[2] or b"")
                yield item
            pending = []
            mean = max(1, seen_bytes // max(1, seen_keys))
            want = max(1, min(VALUE_READ_CHUNK * 4, READ_BYTES // mean))
    if pending:
        yield from flush()


def held_listing(
    repo: Repository,
    data_uuid: str,
    listing: Iterator[tuple[bytes, bytes]],
    bbox: str | None,
    scales: str | None,
) -> Iterator[tuple[bytes, bytes]]:
    """``listing`` without the blocks outside ``bbox`` (``X0,Y0,Z0:X1,Y1,Z1``) and ``scales``.

    A partial clone's listing request: only the blocks it will hold are listed.
    Keys other than blocks, and instances other than voxels, pass unchanged.
    """
    held = Held(
        box=parse_bbox(bbox) if bbox else None,
        scales=parse_scales(scales) if scales else None,
        instances=(data_uuid,),
    )
    rec = instance_by_data_uuid(repo, data_uuid)
    layout = block_layout(rec.typename, rec.config)
    if layout is None:
        return listing
    return _filtered(listing, held, layout)


def _filtered(
    listing: Iterator[tuple[bytes, bytes]], held: Held, layout: tuple[int, Triple]
) -> Iterator[tuple[bytes, bytes]]:
    run: list[tuple[bytes, bytes]] = []

    def flush() -> Iterator[tuple[bytes, bytes]]:
        mask = keep_keys(held, layout[0], layout[1], [tk for tk, _ in run])
        return (pair for pair, keep in zip(run, mask.tolist(), strict=True) if keep)

    for pair in listing:
        run.append(pair)
        if len(run) >= VALUE_READ_CHUNK * 32:
            yield from flush()
            run = []
    if run:
        yield from flush()
