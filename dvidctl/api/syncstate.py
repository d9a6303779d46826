"""What one side of a sync tells the other about its repository, in one document.

``RepoInfo`` (root, alias, description, instances, every node, branches, tags)
is the answer to ``GET /api/sync/{repo}/state`` and what the local side builds
for itself (:func:`dvidctl.api.exchange.repo_state`). Instances are named by data
UUID and nodes by UUID, which are the same on every server; version and instance
ids are local and never travel. A committed node carries its digests
(:mod:`dvidctl.api.digests`), so comparing two DAGs needs this one document.

Every field read from the network is checked here (:class:`BadRequestError`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from dvidctl.errors import BadRequestError
from dvidctl.ids import check_uuid

PROTOCOL = 1


def _get(d: Any, key: str, kind: type | tuple[type, ...], what: str, default: Any = ...) -> Any:
    if not isinstance(d, dict):
        raise BadRequestError(f"{what} must be a JSON object")
    if key not in d:
        if default is ...:
            raise BadRequestError(f"{what} lacks {key!r}")
        return default
    v = d[key]
    if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
        raise BadRequestError(f"{what}: {key!r} has the wrong type")
    return v


def _uuid(value: str, what: str) -> str:
    try:
        check_uuid(value)
    except Exception:  # noqa: BLE001 - any refusal is this one error
        raise BadRequestError(f"{what}: {value!r} is not a 32-hex UUID") from None
    return value


def _strs(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise BadRequestError(f"{what} must be a list of strings")
    return list(value)


@dataclass
class InstanceInfo:
    """A data instance as sync sees it (no local instance id)."""

    name: str
    typename: str
    data_uuid: str
    config: dict[str, Any] = field(default_factory=dict)
    versioned: bool = True
    root_uuid: str = ""
    created: str = ""
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, d: Any) -> InstanceInfo:
        """Check and build one instance entry."""
        w = "instance"
        return cls(
            name=_get(d, "name", str, w),
            typename=_get(d, "typename", str, w),
            data_uuid=_uuid(_get(d, "data_uuid", str, w), w),
            config=dict(_get(d, "config", dict, w, {})),
            versioned=_get(d, "versioned", bool, w, True),
            root_uuid=_get(d, "root_uuid", str, w, ""),
            created=_get(d, "created", str, w, ""),
            tags={str(k): str(v) for k, v in _get(d, "tags", dict, w, {}).items()},
        )


@dataclass
class NodeInfo:
    """A node as sync sees it: parents by UUID, digests once committed."""

    uuid: str
    parents: list[str] = field(default_factory=list)
    branch: str = ""
    locked: bool = False
    note: str = ""
    log: list[str] = field(default_factory=list)
    created: str = ""
    updated: str = ""
    #: Per data UUID, ``"<hex>:<keys>"``; None while open (or for an incoming node).
    digests: dict[str, str] | None = None
    writes_after_commit: int = 0
    #: Being received on that side: not a source until complete.
    incoming: bool = False
    #: An open node that wrote nothing (an empty head may be replaced by a push).
    empty: bool = True
    #: An open node's write stamp on its side: changes whenever it is written.
    stamp: str | None = None
    #: An incoming snapshot: the sender's stamp it was taken at.
    snapshot: str | None = None
    #: An incoming node: the data UUIDs of the instances it holds keys of (None: not
    #: said), so that a sender can span the others into it (``sync/spans.py``).
    holds: list[str] | None = None

    @property
    def complete(self) -> bool:
        """Committed and fully present on its side (a node sync may take from it)."""
        return self.locked and not self.incoming

    @classmethod
    def from_json(cls, d: Any) -> NodeInfo:
        """Check and build one node entry."""
        w = "node"
        digests = _get(d, "digests", (dict, type(None)), w, None)
        if digests is not None:
            digests = {str(k): str(v) for k, v in digests.items()}
        return cls(
            uuid=_uuid(_get(d, "uuid", str, w), w),
            parents=[_uuid(p, w) for p in _strs(_get(d, "parents", list, w, []), "parents")],
            branch=_get(d, "branch", str, w, ""),
            locked=_get(d, "locked", bool, w, False),
            note=_get(d, "note", str, w, ""),
            log=_strs(_get(d, "log", list, w, []), "log"),
            created=_get(d, "created", str, w, ""),
            updated=_get(d, "updated", str, w, ""),
            digests=digests,
            writes_after_commit=_get(d, "writes_after_commit", int, w, 0),
            incoming=_get(d, "incoming", bool, w, False),
            empty=_get(d, "empty", bool, w, True),
            stamp=_get(d, "stamp", (str, type(None)), w, None),
            snapshot=_get(d, "snapshot", (str, type(None)), w, None),
            holds=None
            if (h := _get(d, "holds", (list, type(None)), w, None)) is None
            else _strs(h, "holds"),
        )


@dataclass
class RepoInfo:
    """One side's repository: the document sync plans from."""

    root: str
    alias: str = ""
    description: str = ""
    instances: list[InstanceInfo] = field(default_factory=list)
    #: Parents before children.
    nodes: list[NodeInfo] = field(default_factory=list)
    #: Stored branch name (master is ``""``) -> leaf UUID.
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    protocol: int = PROTOCOL
    #: The sync wire encodings this side speaks besides stored bytes (:mod:`dvidctl.api.wire`).
    wire: list[str] = field(default_factory=list)
    #: What its sync API offers besides listings, values and dumps (``span``).
    features: list[str] = field(default_factory=list)
    #: How far the spans into it that did not end got (``receivespan.SpanMark.to_json``).
    marks: list[dict[str, Any]] = field(default_factory=list)

    def node(self, uuid: str) -> NodeInfo | None:
        """The node with ``uuid``, if this side has it."""
        return self.by_uuid.get(uuid)

    @property
    def by_uuid(self) -> dict[str, NodeInfo]:
        """Nodes by UUID."""
        cached: dict[str, NodeInfo] | None = self.__dict__.get("_by_uuid")
        if cached is None or len(cached) != len(self.nodes):
            cached = self.__dict__["_by_uuid"] = {n.uuid: n for n in self.nodes}
        return cached

    def to_json(self) -> dict[str, Any]:
        """The JSON document."""
        out = asdict(self)
        return out

    @classmethod
    def from_json(cls, d: Any) -> RepoInfo:
        """Check and build the document."""
        w = "sync state"
        protocol = _get(d, "protocol", int, w, PROTOCOL)
        if protocol != PROTOCOL:
            raise BadRequestError(f"sync protocol {protocol} is not supported (this is {PROTOCOL})")
        nodes = [NodeInfo.from_json(n) for n in _get(d, "nodes", list, w, [])]
        return cls(
            root=_uuid(_get(d, "root", str, w), w),
            alias=_get(d, "alias", str, w, ""),
            description=_get(d, "description", str, w, ""),
            instances=[InstanceInfo.from_json(i) for i in _get(d, "instances", list, w, [])],
            nodes=nodes,
            branches={
                str(k): _uuid(str(v), w) for k, v in _get(d, "branches", dict, w, {}).items()
            },
            tags={str(k): _uuid(str(v), w) for k, v in _get(d, "tags", dict, w, {}).items()},
            wire=_strs(_get(d, "wire", list, w, []), "wire"),
            features=_strs(_get(d, "features", list, w, []), "features"),
            marks=[m for m in _get(d, "marks", list, w, []) if isinstance(m, dict)],
        )

    def last_committed(self, uuid: str) -> str | None:
        """``uuid`` if committed, else the nearest committed node back along its branch."""
        cur: NodeInfo | None = self.node(uuid)
        while cur is not None and not cur.locked:
            if not cur.parents:
                return None
            same = [p for p in cur.parents if (n := self.node(p)) and n.branch == cur.branch]
            cur = self.node(same[0] if same else cur.parents[-1])
        return cur.uuid if cur is not None else None

    def ancestors(self, uuid: str) -> set[str]:
        """``uuid`` and every node it descends from."""
        out: set[str] = set()
        todo = [uuid]
        while todo:
            u = todo.pop()
            if u in out:
                continue
            out.add(u)
            n = self.node(u)
            if n is not None:
                todo.extend(n.parents)
        return out
