"""What a data instance sees of its node: a small typed protocol, implemented by ``api.Node``.

Datatypes read and write through the versioned store at one version, take the
per-instance lock for read-modify-write, and save their own instance record
(config edits such as tags or the next label). They never reach the repository
object, its engine or its DAG: everything they need is here.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Protocol

from dvidctl.store.held import Held
from dvidctl.store.metadata import InstanceRecord
from dvidctl.store.versioned import VersionedStore

if TYPE_CHECKING:
    from dvidctl.datatypes.base import Instance


class NodeContext(Protocol):
    """One version of a repository, as its data instances see it."""

    @property
    def vid(self) -> int:
        """The local version id of this node."""
        ...

    @property
    def uuid(self) -> str:
        """The node's UUID."""
        ...

    @property
    def locked(self) -> bool:
        """Whether the node is committed (immutable)."""
        ...

    @property
    def allow_locked_writes(self) -> bool:
        """Whether writes may reach this node even when it is committed.

        True only for a view made for DVID's ``fullwrite`` mode or a request with admin
        privilege; the store then lets the write through and counts it on the node.
        """
        ...

    @property
    def store(self) -> VersionedStore:
        """The versioned store of the repository."""
        ...

    @property
    def root_vid(self) -> int:
        """The version id of the repository's root (unversioned data lives there)."""
        ...

    @property
    def repo_uuid(self) -> str:
        """The repository's root UUID (DVID's ``RepoUUID``)."""
        ...

    @property
    def storage_description(self) -> str:
        """What holds the data, for DVID's ``KVStore`` info field."""
        ...

    def held(self, data_uuid: str) -> Held | None:
        """What a partial clone holds of instance ``data_uuid`` (None: all of it)."""
        ...

    def instance_lock(self, iid: int) -> threading.RLock:
        """The lock serialising read-modify-write on instance ``iid``."""
        ...

    def save_instance(self, record: InstanceRecord) -> None:
        """Persist a changed instance record (tags, voxel size, next label, ...)."""
        ...

    def instance(self, name: str) -> Instance:
        """Another data instance at this node (e.g. an ROI that masks a read)."""
        ...


__all__ = ["NodeContext"]
