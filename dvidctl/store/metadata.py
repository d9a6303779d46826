"""Repository metadata in the ``meta`` column family.

Keys (ASCII)::

    repo                 -> JSON RepoRecord
    node/<vid u32 BE>    -> JSON NodeRecord
    branch/<name>        -> leaf version id (u32 BE); master is the empty name
    tag/<name>           -> version id (u32 BE)
    inst/<name>          -> JSON InstanceRecord
    deleted-inst/<iid u32 BE> -> JSON {name, typename, iid, data_uuid, deleted}: a deleted
                            instance whose data keys (prefix <iid>) await gc
    counter/<name>       -> u64 BE (``vid``, ``iid``: never reused)
    remote-ref/<remote>/<branch> -> node UUID (ASCII): where sync last saw a remote's
                            branch (``origin/master``), readable as a ref
    held                 -> JSON: a partial clone's voxel selection (:mod:`dvidctl.store.held`)

Everything is loaded once when a repository opens (it is small) and kept in
memory; every change is written through a :class:`WriteBatch` together with the
data it belongs to.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from dvidctl.errors import CorruptDataError
from dvidctl.store.dag import Dag, NodeRecord, now_iso
from dvidctl.store.engine import CF_META, KVEngine, WriteBatch
from dvidctl.store.held import HELD_KEY, Held
from dvidctl.store.keys import read_u32, u32

REPO_KEY = b"repo"
NODE_PREFIX = b"node/"
BRANCH_PREFIX = b"branch/"
TAG_PREFIX = b"tag/"
INSTANCE_PREFIX = b"inst/"
DELETED_INSTANCE_PREFIX = b"deleted-inst/"
COUNTER_PREFIX = b"counter/"
REMOTE_REF_PREFIX = b"remote-ref/"
#: How far an interrupted span of a fetch got (``api/receivespan.py``), per span.
SPAN_MARK_PREFIX = b"span-mark/"
SCHEMA_VERSION = 1


@dataclass
class RepoRecord:
    """Repository-wide properties (DVID's ``repoT`` minus the DAG)."""

    root: str
    alias: str = ""
    description: str = ""
    log: list[str] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)
    created: str = field(default_factory=now_iso)
    updated: str = field(default_factory=now_iso)
    schema: int = SCHEMA_VERSION


@dataclass
class InstanceRecord:
    """A data instance: its name, type, configuration and local instance id."""

    name: str
    typename: str
    iid: int
    data_uuid: str
    config: dict[str, Any] = field(default_factory=dict)
    versioned: bool = True
    root_uuid: str = ""
    created: str = field(default_factory=now_iso)
    tags: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-serialisable form."""
        return asdict(self)


@dataclass
class RepoState:
    """Everything in the ``meta`` column family, decoded."""

    repo: RepoRecord
    dag: Dag
    branches: dict[str, int]
    tags: dict[str, int]
    instances: dict[str, InstanceRecord]
    counters: dict[str, int]
    #: Remote-tracking refs, ``"REMOTE/BRANCH"`` -> node UUID (set by sync).
    remote_refs: dict[str, str] = field(default_factory=dict)
    #: A partial clone's voxel selection (None: every instance is held whole).
    held: Held | None = None


def _json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def load(engine: KVEngine) -> RepoState | None:
    """Read all metadata; None if the database holds no repository yet.

    Raises:
        CorruptDataError: A record does not decode.
    """
    raw = engine.get(CF_META, REPO_KEY)
    if raw is None:
        return None
    with _decoding(REPO_KEY):
        repo = RepoRecord(**json.loads(raw))
    nodes = []
    for k, v in engine.scan_prefix(CF_META, NODE_PREFIX):
        with _decoding(k):
            nodes.append(NodeRecord.from_dict(json.loads(v)))
    branches: dict[str, int] = {}
    tags: dict[str, int] = {}
    instances: dict[str, InstanceRecord] = {}
    counters: dict[str, int] = {}
    for k, v in engine.scan_prefix(CF_META, BRANCH_PREFIX):
        with _decoding(k):
            branches[k[len(BRANCH_PREFIX) :].decode()] = read_u32(v)
    for k, v in engine.scan_prefix(CF_META, TAG_PREFIX):
        with _decoding(k):
            tags[k[len(TAG_PREFIX) :].decode()] = read_u32(v)
    for k, v in engine.scan_prefix(CF_META, INSTANCE_PREFIX):
        with _decoding(k):
            rec = InstanceRecord(**json.loads(v))
        instances[rec.name] = rec
    for k, v in engine.scan_prefix(CF_META, COUNTER_PREFIX):
        with _decoding(k):
            counters[k[len(COUNTER_PREFIX) :].decode()] = struct.unpack(">Q", v)[0]
    remote_refs: dict[str, str] = {}
    for k, v in engine.scan_prefix(CF_META, REMOTE_REF_PREFIX):
        with _decoding(k):
            remote_refs[k[len(REMOTE_REF_PREFIX) :].decode()] = v.decode("ascii")
    raw_held = engine.get(CF_META, HELD_KEY)
    held = None
    if raw_held is not None:
        with _decoding(HELD_KEY):
            held = Held.decode(bytes(raw_held))
    return RepoState(repo, Dag(nodes), branches, tags, instances, counters, remote_refs, held)


_HINT = "'dvidctl fsck' lists what is wrong; restore .dvid from a copy"


@contextmanager
def _decoding(key: bytes) -> Iterator[None]:
    """Turn a record that does not decode into :class:`CorruptDataError` naming its key."""
    try:
        yield
    except (ValueError, TypeError, KeyError, struct.error, UnicodeDecodeError) as exc:
        raise CorruptDataError(
            f"repository metadata record {key.decode('ascii', 'replace')!r} does not decode "
            f"({type(exc).__name__}: {exc})",
            hint=_HINT,
        ) from None


def put_repo(batch: WriteBatch, repo: RepoRecord) -> None:
    """Queue the repository record."""
    batch.put(CF_META, REPO_KEY, _json(asdict(repo)))


def put_node(batch: WriteBatch, node: NodeRecord) -> None:
    """Queue a node record."""
    batch.put(CF_META, NODE_PREFIX + u32(node.vid), _json(node.to_dict()))


def delete_node(batch: WriteBatch, vid: int) -> None:
    """Queue the removal of a node record."""
    batch.delete(CF_META, NODE_PREFIX + u32(vid))


def put_branch(batch: WriteBatch, name: str, vid: int) -> None:
    """Queue a branch leaf pointer (``name`` is the stored name; master is ``""``)."""
    batch.put(CF_META, BRANCH_PREFIX + name.encode(), u32(vid))


def delete_branch(batch: WriteBatch, name: str) -> None:
    """Queue the removal of a branch pointer (stored name; the nodes keep their branch)."""
    batch.delete(CF_META, BRANCH_PREFIX + name.encode())


def put_tag(batch: WriteBatch, name: str, vid: int) -> None:
    """Queue a tag."""
    batch.put(CF_META, TAG_PREFIX + name.encode(), u32(vid))


def delete_tag(batch: WriteBatch, name: str) -> None:
    """Queue the removal of a tag."""
    batch.delete(CF_META, TAG_PREFIX + name.encode())


def put_instance(batch: WriteBatch, rec: InstanceRecord) -> None:
    """Queue an instance record."""
    batch.put(CF_META, INSTANCE_PREFIX + rec.name.encode(), _json(rec.to_dict()))


def delete_instance(batch: WriteBatch, rec: InstanceRecord, when: str) -> None:
    """Queue the removal of an instance record and a ``deleted-inst/<iid>`` note of it.

    The note tells a later gc which data keys (those starting with the instance
    id) nothing reads any more; instance ids are never reused.
    """
    batch.delete(CF_META, INSTANCE_PREFIX + rec.name.encode())
    note = {
        "name": rec.name,
        "typename": rec.typename,
        "iid": rec.iid,
        "data_uuid": rec.data_uuid,
        "deleted": when,
    }
    batch.put(CF_META, DELETED_INSTANCE_PREFIX + u32(rec.iid), _json(note))


def deleted_instances(engine: KVEngine) -> list[dict[str, Any]]:
    """The ``deleted-inst/`` notes, by instance id (what gc has to reclaim)."""
    return [json.loads(v) for _, v in engine.scan_prefix(CF_META, DELETED_INSTANCE_PREFIX)]


def put_counter(batch: WriteBatch, name: str, value: int) -> None:
    """Queue a counter value."""
    batch.put(CF_META, COUNTER_PREFIX + name.encode(), struct.pack(">Q", value))


def put_remote_ref(batch: WriteBatch, ref: str, uuid: str) -> None:
    """Queue remote-tracking ref ``ref`` (``"REMOTE/BRANCH"``) -> node ``uuid``."""
    batch.put(CF_META, REMOTE_REF_PREFIX + ref.encode(), uuid.encode("ascii"))


def delete_remote_ref(batch: WriteBatch, ref: str) -> None:
    """Queue the removal of remote-tracking ref ``ref``."""
    batch.delete(CF_META, REMOTE_REF_PREFIX + ref.encode())
