"""The base class of every data instance, bound to one node of the DAG.

An :class:`Instance` sees its node through :class:`~dvidctl.datatypes.context.NodeContext`,
reads through the versioned store at that node (payloads or nothing: the store
keeps its value header to itself) and writes through
:class:`~dvidctl.store.versioned.VersionedBatch`, which refuses committed nodes
in one place. Datatypes subclass it and add their operations; every write of an
instance's keys or record goes through one of its methods.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from dvidctl.datatypes import registry
from dvidctl.errors import BadRequestError
from dvidctl.store.versioned import VersionedBatch

if TYPE_CHECKING:
    from dvidctl.datatypes.context import NodeContext
    from dvidctl.datatypes.registry import DatatypeSpec
    from dvidctl.store.held import Held
    from dvidctl.store.mergeplan import KeyMerge
    from dvidctl.store.metadata import InstanceRecord


class Instance:
    """A data instance as seen at one node."""

    typename: ClassVar[str] = ""

    def __init__(self, node: NodeContext, record: InstanceRecord) -> None:
        self.node = node
        self.record = record

    # ---------------------------------------------------------------- identity
    @property
    def name(self) -> str:
        """The instance name."""
        return self.record.name

    @property
    def iid(self) -> int:
        """The local instance id used inside keys."""
        return self.record.iid

    @property
    def config(self) -> dict[str, Any]:
        """The parsed config (see the type's ``parse_config``)."""
        return self.record.config

    @property
    def spec(self) -> DatatypeSpec:
        """This instance's registry entry."""
        return registry.get(self.record.typename)

    @property
    def vid(self) -> int:
        """The version id this view reads and writes.

        Unversioned instances (``versioned=false``) map every node to the repository
        root, as DVID does, so all versions see the same data.
        """
        if not self.record.versioned:
            return self.node.root_vid
        return self.node.vid

    @property
    def writable_anywhere(self) -> bool:
        """Unversioned instances skip the committed-node rule (DVID)."""
        return not self.record.versioned

    @property
    def held_region(self) -> Held | None:
        """What a partial clone holds of this instance (None: all of it)."""
        return self.node.held(self.record.data_uuid)

    @property
    def lock(self) -> threading.RLock:
        """A per-instance lock for read-modify-write sequences."""
        return self.node.instance_lock(self.iid)

    # -------------------------------------------------------------- key access
    def _get(self, tkey: bytes) -> memoryview | None:
        return self.node.store.get(self.vid, self.iid, tkey)

    def _scan(
        self, start: bytes = b"", stop: bytes | None = None
    ) -> Iterator[tuple[bytes, memoryview]]:
        return self.node.store.scan(self.vid, self.iid, start, stop)

    def _batch(self, *, stream: bool = False) -> VersionedBatch:
        """A write batch at this view's version, under the committed-node rule.

        The rule itself is the store's (:meth:`VersionedStore.apply`); this says which
        case applies: unversioned data writes the root whatever its state, and a node
        view made with locked writes allowed may write a committed node.
        ``stream=True``: a streaming batch (:mod:`dvidctl.store.batch`), for writes
        that give large values in key order and never read through the batch; use
        it as a context manager.
        """
        return self.node.store.batch(
            self.vid,
            check_locked=self.record.versioned,
            allow_locked=self.node.allow_locked_writes,
            stream=stream,
        )

    def _check_writable(self) -> None:
        """Fail early, before costly work, where :meth:`_batch`'s commit would fail."""
        self.node.store.check_writable(
            self.vid,
            check_locked=self.record.versioned,
            allow_locked=self.node.allow_locked_writes,
        )

    # ------------------------------------------------------------ derived
    def rebuild_derived(
        self, batch: VersionedBatch, sources: Sequence[bytes], contested: Sequence[bytes]
    ) -> int:
        """Queue into ``batch`` the derived keys that follow from changed source keys.

        A merge calls this at the merge node, after queueing its resolutions:
        ``sources`` are the source type keys any side changed, ``contested`` the
        derived keys (``spec.derived_key``) two sides changed, each of which the
        batch must rewrite (or delete). Returns the number of keys queued; types
        without derived data queue nothing.
        """
        del batch, sources, contested
        return 0

    def merge_values(
        self,
        tkey: bytes,
        base: memoryview | None,
        values: Sequence[memoryview | None],
        sides: Sequence[int],
        strategy: str,
    ) -> KeyMerge | None:
        """Three-way merge of one of this instance's keys that several merge sides changed.

        ``base`` is the payload at the merge base, ``values[i]`` at parent *i* (None:
        absent), ``sides`` the parents that changed it. Returns the merged key with the
        parts (e.g. voxels) changed differently on several sides, resolved by
        ``strategy`` unless it is ``fail``; None when the type merges the key as a
        whole (a conflict unless a merge rule or the strategy resolves it).
        """
        del tkey, base, values, sides, strategy
        return None

    def merge_collisions(
        self, changed: Mapping[bytes, Sequence[int]], parents: Sequence[int]
    ) -> list[dict[str, Any]]:
        """What a merge of ``parents`` must refuse beyond conflicting keys (default: nothing).

        ``changed`` maps each of this instance's type keys changed since the merge
        bases to the parent indices whose side changed it. Each returned dict is one
        conflict (``kind``, ``key``: what to show, ``sides``: parent indices, and the
        type's own fields); a merge refuses them whatever its strategy.
        """
        del changed, parents
        return []

    # ---------------------------------------------------------------- record
    def set_tags(self, tags: dict[str, str], *, replace: bool = False) -> dict[str, str]:
        """Merge (or, with ``replace``, set) the instance's string tags; returns them.

        Tags are instance metadata, not versioned data. Over HTTP, ``POST .../tags`` is a
        mutation like any other POST, refused on a committed node (DVID).
        """
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
            raise BadRequestError("tags must map strings to strings")
        merged: dict[str, str] = {} if replace else dict(self.record.tags)
        merged.update(tags)
        self._save_record(tags=merged)
        return merged

    def _save_record(self, **changes: Any) -> None:
        """Persist a new version of this instance's record (a copy with ``changes``)."""
        with self.lock:
            record = dataclasses.replace(self.record, **changes)
            self.node.save_instance(record)
            self.record = record

    def _save_config(self, **changes: Any) -> None:
        """Persist config entries (e.g. the voxel size or the next label)."""
        config = dict(self.record.config)
        config.update(changes)
        self._save_record(config=config)

    # ------------------------------------------------------------------ info
    def extended(self) -> dict[str, Any]:
        """DVID's ``Extended`` part of the instance info (type-specific)."""
        return {}

    def info(self) -> dict[str, Any]:
        """DVID's instance JSON ``{"Base": ..., "Extended": ...}``."""
        rec, spec = self.record, self.spec
        alias = rec.config.get("alias")  # created under an older DVID type name
        base: dict[str, Any] = {
            "TypeName": alias or spec.name,
            "TypeURL": spec.type_url.rsplit("/", 1)[0] + f"/{alias}" if alias else spec.type_url,
            "TypeVersion": spec.version,
            "DataUUID": rec.data_uuid,
            "Name": rec.name,
            "RepoUUID": self.node.repo_uuid,
            "Compression": compression_label(rec.config.get("compression", "none")),
            "Checksum": "No checksum",
            "Syncs": [],
            "Versioned": rec.versioned,
            "KVStore": self.node.storage_description,
            "LogStore": "no mutation log set",
            "Tags": rec.tags or None,
        }
        return {"Base": base, "Extended": self.extended()}


_COMPRESSION_NAMES = {
    "none": "No compression",
    "snappy": "Go Snappy compression",
    "gzip": "gzip compression",
    "lz4": "LZ4 compression",
    "jpeg": "jpeg compression",
    "zstd": "zstd compression",
}


def compression_label(comp: str) -> str:
    """DVID's ``"<format name>, level <n>"`` string for a config compression value."""
    name, _, level = comp.partition(":")
    return f"{_COMPRESSION_NAMES.get(name, name)}, level {level or -1}"
