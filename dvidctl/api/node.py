"""A node (version) of a repository, and the door to its data instances.

:class:`Node` is also the :class:`~dvidctl.datatypes.context.NodeContext` its
instances see: the versioned store, the root version, the per-instance locks and
the one way to save an instance record.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from dvidctl.api.instances import update_instance
from dvidctl.datatypes import registry
from dvidctl.store.dag import NodeRecord, branch_label
from dvidctl.store.held import Held
from dvidctl.store.metadata import InstanceRecord
from dvidctl.store.versioned import VersionedStore

if TYPE_CHECKING:
    from dvidctl.api.repository import Repository
    from dvidctl.datatypes.base import Instance


class Node:
    """One version of a repository; reads and writes of its instances happen here.

    Args:
        repo: The repository.
        vid: The node's version id.
        allow_locked_writes: Let this view's instances write the node even when it is
            committed (DVID's ``fullwrite``, an admin request); see
            :meth:`with_locked_writes`.
    """

    def __init__(self, repo: Repository, vid: int, *, allow_locked_writes: bool = False) -> None:
        self.repo = repo
        self.vid = vid
        self._allow_locked_writes = allow_locked_writes

    def __repr__(self) -> str:
        state = "locked" if self.locked else "open"
        return f"<Node {self.uuid[:10]} v{self.vid} {self.branch} {state}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Node) and other.repo is self.repo and other.vid == self.vid

    def __hash__(self) -> int:
        return hash((id(self.repo), self.vid))

    @property
    def record(self) -> NodeRecord:
        """The stored node record."""
        return self.repo.dag.node(self.vid)

    @property
    def uuid(self) -> str:
        """The node's 32-hex UUID."""
        return self.record.uuid

    @property
    def locked(self) -> bool:
        """Whether the node is committed (immutable)."""
        return self.record.locked

    @property
    def allow_locked_writes(self) -> bool:
        """Whether this view's instances may write the node even when it is committed."""
        return self._allow_locked_writes

    def with_locked_writes(self) -> Node:
        """This node, seen by a writer allowed to change it even once committed.

        DVID's ``-fullwrite`` and ``admintoken`` ("expert use"): the write goes through
        the normal versioned path, so the node's delta index shows it, and the node
        record counts it (``writes_after_commit``), so sync and log can tell.
        """
        return Node(self.repo, self.vid, allow_locked_writes=True)

    @property
    def branch(self) -> str:
        """User-facing branch name (``master`` for DVID's empty branch)."""
        return branch_label(self.record.branch)

    @property
    def note(self) -> str:
        """The node note (commit message)."""
        return self.record.note

    @property
    def log(self) -> list[str]:
        """The node's log lines."""
        return list(self.record.log)

    @property
    def parents(self) -> list[Node]:
        """Parent nodes (first is the branch's own line for merge nodes)."""
        return [Node(self.repo, p) for p in self.record.parents]

    @property
    def children(self) -> list[Node]:
        """Child nodes."""
        return [Node(self.repo, c) for c in self.record.children]

    @property
    def has_changes(self) -> bool:
        """Whether this node wrote anything."""
        return self.repo.store.has_changes(self.vid)

    def changes_by_instance(self) -> dict[str, int]:
        """Number of keys this node wrote, per instance name."""
        names = {rec.iid: rec.name for rec in self.repo.state.instances.values()}
        counts: dict[str, int] = {}
        for iid, _, _ in self.repo.store.changes(self.vid):
            name = names.get(iid)
            if name is not None:  # None: a deleted instance, whose keys await gc
                counts[name] = counts.get(name, 0) + 1
        return counts

    # ------------------------------------------------- NodeContext (datatypes)
    @property
    def store(self) -> VersionedStore:
        """The repository's versioned store."""
        return self.repo.store

    @property
    def root_vid(self) -> int:
        """The root node's version id."""
        return self.repo.dag.root.vid

    @property
    def repo_uuid(self) -> str:
        """The repository's root UUID."""
        return self.repo.root_uuid

    @property
    def storage_description(self) -> str:
        """The engine's description (DVID's ``KVStore``)."""
        return self.repo.engine.description

    def held(self, data_uuid: str) -> Held | None:
        """The partial clone's selection if it limits instance ``data_uuid`` (else None)."""
        held = self.repo.state.held
        return held if held is not None and data_uuid in held.instances else None

    def instance_lock(self, iid: int) -> threading.RLock:
        """The repository's lock for instance ``iid``."""
        return self.repo.instance_lock(iid)

    def save_instance(self, record: InstanceRecord) -> None:
        """Persist an instance record."""
        update_instance(self.repo, record)

    def instance(self, name: str) -> Instance:
        """The data instance ``name`` as seen at this node."""
        rec = self.repo.instance_record(name)
        return registry.get(rec.typename).instance_class(self, rec)

    def to_dict(self) -> dict[str, Any]:
        """Stable JSON form used by ``--json`` output."""
        r = self.record
        tags = sorted(t for t, v in self.repo.state.tags.items() if v == self.vid)
        return {
            "uuid": r.uuid,
            "version_id": r.vid,
            "branch": self.branch,
            "locked": r.locked,
            "note": r.note,
            "log": list(r.log),
            "parents": [self.repo.dag.node(p).uuid for p in r.parents],
            "children": [self.repo.dag.node(c).uuid for c in r.children],
            "tags": tags,
            "created": r.created,
            "updated": r.updated,
            "writes_after_commit": r.writes_after_commit,
            "incoming": r.incoming,
        }


if TYPE_CHECKING:  # mypy checks that Node satisfies the node interface shared with RemoteNode
    from dvidctl.api.protocol import NodeAPI

    _: type[NodeAPI] = Node
