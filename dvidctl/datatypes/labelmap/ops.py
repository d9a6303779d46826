"""labelmap operations: uint64 label volumes (DVID_API.md §6), on the shared voxel base.

Blocks hold supervoxel ids. On top of the voxel base this adds:

* the **supervoxel -> body mapping** and per-body **label indexes**, versioned keys
  (:mod:`.labelstore`); every scale-0 block write keeps the indexes exact in its
  own batch (:mod:`.indexing`). Reads go through the mapping (bodies) unless
  ``supervoxels=True`` or on :meth:`LabelMap.supervoxel_view`;
* sparse volumes, sizes and supervoxel queries from the indexes (:mod:`.sparsevol`);
* mutations (:mod:`.mutate`) with mutation ids and a versioned log (:mod:`.mutlog`);
* label counters as DVID: ``MaxLabel`` (versioned; writes and reservations raise it),
  ``NextLabel`` (repo-wide, in the instance record: the last label handed out, 0 =
  unset) and an optional allocation ceiling.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from dvidctl.datatypes.imageblk.blockkeys import TKEY_LEN
from dvidctl.datatypes.imageblk.blockvolume import BlockObserver
from dvidctl.datatypes.imageblk.downsample import downsample_labels
from dvidctl.datatypes.imageblk.instance import VoxelInstance
from dvidctl.datatypes.imageblk.multiscale import Downsample
from dvidctl.datatypes.labelmap import mutate, splits
from dvidctl.datatypes.labelmap.collisions import KIND as COLLISION
from dvidctl.datatypes.labelmap.collisions import fold_ranges, label_collisions
from dvidctl.datatypes.labelmap.counters import LabelCounters
from dvidctl.datatypes.labelmap.counting import relabel, unique, unique_labels
from dvidctl.datatypes.labelmap.indexing import BlockCounts, queue_index_updates, reindex
from dvidctl.datatypes.labelmap.keys import CLASS_BLOCK
from dvidctl.datatypes.labelmap.labelindex import LabelIndex
from dvidctl.datatypes.labelmap.labelstore import LabelStore
from dvidctl.datatypes.labelmap.mutlog import (
    ModInfo,
    dvid_history_entry,
    mentions,
    mutation_records,
    put_records,
)
from dvidctl.datatypes.labelmap.rewrite import scale0_encoder
from dvidctl.datatypes.labelmap.sparsevol import (
    Runs,
    block_bounds_filter,
    block_runs,
    index_targets,
    sparse_runs,
)
from dvidctl.errors import BadRequestError, KeyNotFoundError
from dvidctl.geometry import Box, parse_points
from dvidctl.store import gcpause
from dvidctl.store.versioned import VersionedBatch

_LABEL_MAX = 2**64 - 1


class LabelMap(LabelCounters, VoxelInstance):
    """A labelmap instance at one node.

    Pyramid levels take the most frequent non-zero supervoxel of each 2x2x2 cube
    (ties to the smaller label); ``arb`` planes are sampled nearest.
    """

    typename = "labelmap"
    dtype: ClassVar[np.dtype] = np.dtype(np.uint64)
    key_class: ClassVar[int] = CLASS_BLOCK
    interpolable: ClassVar[bool] = False
    value_label: ClassVar[str] = "labelmap"
    tracks_max: ClassVar[bool] = True
    #: True on :meth:`supervoxel_view`: reads give supervoxel ids.
    read_supervoxels: bool = False

    def downsampler(self) -> Downsample:
        """Label mode ignoring 0 (DVID's downres rule)."""
        return downsample_labels

    @property
    def labelstore(self) -> LabelStore:
        """Mapping and index keys at this node."""
        return LabelStore(self)

    @property
    def indexed(self) -> bool:
        """Whether writes keep label indexes (DVID's ``IndexedLabels``, default true)."""
        return bool(self.config.get("indexed_labels", True))

    def merged_block_encoder(self) -> Callable[[np.ndarray], bytes]:
        """A voxel merge stores its merged blocks as an indexed write stores those voxels
        (tile label sets), like the blocks a split rewrites."""
        return scale0_encoder(self)

    def supervoxel_view(self) -> LabelMap:
        """The same instance whose reads give supervoxel ids (DVID's ``supervoxels=true``)."""
        view = copy.copy(self)
        view.read_supervoxels = True
        return view

    # ----------------------------------------------------------------- reads
    def get_subvolume(self, box: Box, scale: int = 0, out: np.ndarray | None = None) -> np.ndarray:
        """Voxels of ``box`` at ``scale``: bodies, or supervoxels on a supervoxel view."""
        vol = super().get_subvolume(box, scale, out)
        if not self.read_supervoxels:
            self.map_to_bodies(vol)
        return vol

    def get_arb(
        self,
        tl: Sequence[float],
        tr: Sequence[float],
        bl: Sequence[float],
        res: float,
        scale: int = 0,
        *,
        limit_bytes: int | None = None,
    ) -> np.ndarray:
        """An arbitrary plane (see VoxelInstance.get_arb), through the mapping."""
        img = VoxelInstance.get_arb(
            self.supervoxel_view(), tl, tr, bl, res, scale, limit_bytes=limit_bytes
        )
        if not self.read_supervoxels:
            self.map_to_bodies(img)
        return img

    def map_to_bodies(self, arr: np.ndarray) -> np.ndarray:
        """Replace supervoxel ids in ``arr`` (C-contiguous) by their bodies, in place."""
        store = self.labelstore
        if not arr.size or not store.has_mapping():
            return arr
        svs = unique_labels(arr)
        bodies = store.bodies_of(svs)
        diff = bodies != svs
        return relabel(arr, svs[diff], bodies[diff])

    def labels_at(
        self, points_xyz: Sequence[Sequence[int]] | np.ndarray, scale: int = 0
    ) -> np.ndarray:
        """Labels at integer voxel points ``(n, 3)`` XYZ (DVID's ``labels``), mapped to bodies."""
        self.check_scale(scale)
        pts = parse_points(points_xyz)
        if len(pts) == 0:
            return np.zeros(0, np.uint64)
        got = self.blocks.values_at(scale, pts[:, ::-1])
        return got if self.read_supervoxels else self.labelstore.bodies_of(got)

    def label_at(self, point_xyz: Sequence[int], scale: int = 0) -> int:
        """The label at one voxel (DVID's ``label/{x_y_z}``)."""
        return int(self.labels_at([point_xyz], scale)[0])

    # ----------------------------------------------------------- label index
    def index(self, label: int, *, supervoxels: bool = False) -> LabelIndex | None:
        """The label index of body ``label`` (with ``supervoxels``: that supervoxel's rows)."""
        store = self.labelstore
        if not supervoxels:
            return store.get_index(label) if label else None
        body = int(store.bodies_of([label])[0]) if label else 0
        idx = store.get_index(body) if body else None
        if idx is None or not np.isin(np.uint64(label), idx.svs):
            return None
        return idx.limited_to(label)

    def _index_or_404(self, label: int, supervoxels: bool) -> LabelIndex:
        idx = self.index(label, supervoxels=supervoxels)
        if idx is None or not len(idx):
            what = "supervoxel" if supervoxels else "label"
            raise KeyNotFoundError(f"{what} {label} has no voxels in {self.name!r}")
        return idx

    def indices(self, labels: Sequence[int]) -> list[LabelIndex | None]:
        """The index of each body, in order (None where it has none)."""
        return self.labelstore.get_indexes(np.asarray(labels, np.uint64))

    def put_indexes(self, indexes: Sequence[LabelIndex]) -> None:
        """Store label indexes as given, in one write (DVID's ``POST index``/``indices``;
        an index without rows deletes the key). For repairs: writes keep them up to date."""
        if any(i.label == 0 for i in indexes):
            raise BadRequestError("label 0 has no index")
        self._check_writable()
        with self.lock:
            batch = self._batch()
            for idx in indexes:
                self.labelstore.put_index(batch, idx)
            batch.commit()

    def size(self, label: int, *, supervoxels: bool = False) -> int:
        """Voxels of body (or supervoxel) ``label``; NotFoundError when it has none."""
        return self._index_or_404(label, supervoxels).num_voxels

    def sizes(self, labels: Sequence[int], *, supervoxels: bool = False) -> list[int]:
        """Voxel counts, 0 for labels without voxels."""
        arr = np.asarray([int(v) for v in labels], np.uint64)
        store = self.labelstore
        if not supervoxels:
            return [0 if i is None else i.num_voxels for i in store.get_indexes(arr)]
        bodies = store.bodies_of(arr)
        found = {
            int(b): i
            for b, i in zip(unique(bodies).tolist(), store.get_indexes(unique(bodies)), strict=True)
        }
        out = []
        for sv, body in zip(arr.tolist(), bodies.tolist(), strict=True):
            idx = found.get(body) if body else None
            out.append(0 if idx is None else int(idx.counts[idx.svs == np.uint64(sv)].sum()))
        return out

    def supervoxels(self, label: int) -> np.ndarray:
        """The supervoxels of body ``label`` (NotFoundError when it has none)."""
        return self._index_or_404(label, False).supervoxels()

    def supervoxel_sizes(self, label: int) -> tuple[np.ndarray, np.ndarray]:
        """``(supervoxels, voxel counts)`` of body ``label``."""
        return self._index_or_404(label, False).supervoxel_sizes()

    def mapping(self, svs: Sequence[int] | np.ndarray, *, lookup: bool = True) -> np.ndarray:
        """The body of each supervoxel; 0 for retired ones and, with ``lookup``, missing ones."""
        arr = np.asarray(svs, np.uint64).reshape(-1)
        store = self.labelstore
        bodies = store.bodies_of(arr)
        if lookup and len(arr):
            u = unique(bodies[bodies != 0])
            for body, idx in zip(u.tolist(), store.get_indexes(u), strict=True):
                mine = bodies == np.uint64(body)
                have = idx.svs if idx is not None else np.zeros(0, np.uint64)
                bodies[mine & ~np.isin(arr, have)] = 0
        return bodies

    def mappings(self) -> tuple[np.ndarray, np.ndarray]:
        """Every supervoxel mapped away from itself and its body (0: retired)."""
        return self.labelstore.mapping_arrays()

    def put_mappings(
        self, svs: Sequence[int] | np.ndarray, bodies: Sequence[int] | np.ndarray
    ) -> int:
        """Store ``sv -> body`` pairs as given (DVID's ``POST mappings``), indexes regrouped."""
        from dvidctl.datatypes.labelmap.mappingops import put_mappings

        return put_mappings(self, np.asarray(svs, np.uint64), np.asarray(bodies, np.uint64))

    def list_labels(
        self, start: int = 0, number: int = 10_000_000
    ) -> tuple[np.ndarray, np.ndarray]:
        """Bodies with voxels from ``start`` on (at most ``number``) and their sizes."""
        rows = self.labelstore.indexed_labels(start)[:number]
        labels = np.array([b for b, _ in rows], np.uint64)
        sizes = np.array([LabelIndex.decode(v).num_voxels for _, v in rows], np.uint64)
        return labels, sizes

    def last_mod(self, label: int) -> dict[str, Any]:
        """DVID's ``lastmod/{label}`` fields of body ``label``."""
        idx = self._index_or_404(label, False)
        return {
            "mutation id": idx.last_mutid,
            "last mod user": idx.last_mod_user,
            "last mod time": idx.last_mod_time,
            "last mod app": idx.last_mod_app,
        }

    # ---------------------------------------------------------- sparse vols
    def _sparse_target(self, label: int, supervoxels: bool) -> tuple[np.ndarray, np.ndarray]:
        """``(scale-0 block coords, supervoxels)`` of a body or supervoxel (404 if none)."""
        idx = self._index_or_404(label, supervoxels)
        return idx.block_coords(), idx.supervoxels()

    def sparsevol(
        self, label: int, *, scale: int = 0, supervoxels: bool = False, bounds: Box | None = None
    ) -> Runs:
        """Runs along x of body (or supervoxel) ``label``'s voxels at ``scale``, ZYX ordered.

        ``bounds`` (voxel space of ``scale``) cuts the runs. NotFoundError when the
        label has no voxels.
        """
        self.check_scale(scale)
        idx = self._index_or_404(label, supervoxels)
        targets = index_targets(idx.blocks, idx.svs, idx.counts, scale, self.block_shape, bounds)
        return sparse_runs(self.blocks, targets, scale, bounds)

    def sparsevol_coarse(
        self, label: int, *, supervoxels: bool = False, bounds: Box | None = None
    ) -> Runs:
        """Runs along x of the scale-0 block coordinates holding ``label``."""
        coords, _ = self._sparse_target(label, supervoxels)
        if bounds is not None:
            coords = block_bounds_filter(coords, self.block_shape, bounds)
        return block_runs(coords)

    def sparsevol_size(self, label: int, *, supervoxels: bool = False) -> dict[str, Any]:
        """DVID's ``sparsevol-size``: voxels, blocks, block-accurate min/max voxel (XYZ)."""
        idx = self._index_or_404(label, supervoxels)
        coords = idx.block_coords()
        bs = np.asarray(self.block_shape)
        lo = (coords.min(axis=0) * bs)[::-1]
        hi = ((coords.max(axis=0) + 1) * bs - 1)[::-1]
        return {
            "voxels": idx.num_voxels,
            "numblocks": len(coords),
            "minvoxel": [int(v) for v in lo],
            "maxvoxel": [int(v) for v in hi],
        }

    # ------------------------------------------------------------ mutations
    def merge(self, target: int, others: Sequence[int], info: ModInfo | None = None) -> int:
        """Merge bodies ``others`` into ``target`` (mapping and indexes only); the mutation id."""
        return mutate.merge(self, target, others, info or ModInfo())

    def cleave(
        self, label: int, svs: Sequence[int], info: ModInfo | None = None
    ) -> tuple[int, int]:
        """Move supervoxels of body ``label`` to a new body; ``(new label, mutation id)``."""
        return mutate.cleave(self, label, svs, info or ModInfo())

    def split(self, label: int, runs: Runs, info: ModInfo | None = None) -> tuple[int, int]:
        """Split scale-0 voxels ``runs`` off body ``label``; ``(new label, mutation id)``."""
        return splits.split(self, label, runs, info or ModInfo())

    def split_supervoxel(
        self,
        sv: int,
        runs: Runs,
        info: ModInfo | None = None,
        *,
        split_id: int = 0,
        remain_id: int = 0,
        downres: bool = True,
    ) -> tuple[int, int, int]:
        """Split supervoxel ``sv``; ``(split id, remain id, mutation id)``."""
        return splits.split_supervoxel(
            self,
            sv,
            runs,
            info or ModInfo(),
            split_id=split_id,
            remain_id=remain_id,
            downres=downres,
        )

    def renumber(self, pairs: Sequence[int], info: ModInfo | None = None) -> list[int]:
        """``[new1, old1, ...]``: relabel bodies onto unused labels; the mutation ids."""
        return mutate.renumber(self, pairs, info or ModInfo())

    def put_mutations(self, records: list[dict[str, Any]]) -> int:
        """Store another server's mutation records of this node as they are (sync)."""
        return put_records(self, records)

    def mutations(self) -> list[dict[str, Any]]:
        """The mutation records written at this node."""
        uuid = self.node.uuid
        return [r for r in mutation_records(self) if r.get("UUID") == uuid]

    def history(self, label: int, since: LabelMap | None = None) -> list[dict[str, Any]]:
        """Records visible here that name ``label``; with ``since``, only those made at
        ``since``'s node or after it (DVID's ``history/{label}/{from}/{to}``)."""
        records = [r for r in mutation_records(self) if mentions(r, label)]
        if since is None:
            return records
        dag = self.node.store.dag
        uuids = {
            dag.nodes[v].uuid for v in dag.ancestors(self.vid) if since.vid in dag.ancestors(v)
        }
        return [r for r in records if r.get("UUID") in uuids]

    def dvid_history(self, label: int, since: LabelMap) -> list[dict[str, Any]]:
        """DVID's ``history/{label}/{from}/{to}`` entries, this node being "to".

        As DVID (mutation_log.go ``GetLabelMutationHistory``): the supervoxels of ``label``
        here, their bodies at ``since`` ("from"); then, version by version from ``since``
        down to this node (nodes on this node's ancestry that descend from ``since``), each
        mutation record in order, written as DVID writes it when it merged, cleaved or split
        one of those bodies or split one of those supervoxels. ``since`` not an ancestor:
        nothing. (DVID's loop fills only the first slot of its supervoxel list, so it looks
        up one supervoxel's body, chosen by Go's map order; all of them are looked up here.)
        """
        try:
            svs = np.asarray(self.supervoxels(label), np.uint64)
        except KeyNotFoundError:
            svs = np.zeros(0, np.uint64)
        bodies = {int(b) for b in since.labelstore.bodies_of(svs)} if len(svs) else set()
        sv_set = {int(v) for v in svs}
        dag = self.node.store.dag
        order = {
            dag.nodes[v].uuid: v for v in dag.ancestors(self.vid) if since.vid in dag.ancestors(v)
        }
        records = [r for r in mutation_records(self) if r.get("UUID") in order]
        records.sort(key=lambda r: (order[r["UUID"]], int(r.get("MutationID", 0))))
        out = []
        for r in records:
            entry = dvid_history_entry(r, bodies, sv_set)
            if entry is not None:
                out.append(entry)
        return out

    # ---------------------------------------------------------- index upkeep
    def _observer(self, scale: int) -> BlockObserver | None:
        return BlockCounts(self.block_shape) if scale == 0 and self.indexed else None

    def _after_blocks(self, batch: VersionedBatch, observer: BlockObserver | None) -> None:
        if isinstance(observer, BlockCounts):
            with gcpause.paused():  # up to millions of index keys' objects, all kept
                queue_index_updates(self, batch, observer)

    def reindex(self) -> int:
        """Recompute every label index from the scale-0 blocks (one atomic write); keys written."""
        self._check_writable()
        with self.lock:
            batch = self._batch()
            n = reindex(self, batch)
            batch.commit()
        return n

    def merge_collisions(
        self, changed: Mapping[bytes, Sequence[int]], parents: Sequence[int]
    ) -> list[dict[str, Any]]:
        """Labels allocated independently on two merge sides (two clones): see
        :mod:`.collisions`. One ``label-collision`` per pair of sides."""
        out = []
        for labels, sides in label_collisions(self.node.store, self.iid, changed, parents):
            folded = fold_ranges(labels)
            out.append(
                {
                    "kind": COLLISION,
                    "key": f"labels {folded} allocated on both sides",
                    "labels": folded,
                    "count": len(labels),
                    "sides": sides,
                }
            )
        return out

    def rebuild_derived(
        self, batch: VersionedBatch, sources: Sequence[bytes], contested: Sequence[bytes]
    ) -> int:
        """Pyramid as the voxel base; label indexes two sides changed: rebuilt from the blocks.

        An index changed on one side only is exact as that side left it (a body
        both sides touched has its index changed on both), so only a contested
        index calls for a rebuild, which recomputes every index from the merged
        scale-0 blocks and mapping.
        """
        from dvidctl.datatypes.labelmap.keys import CLASS_INDEX

        idx_keys = [tk for tk in contested if tk[:1] == bytes([CLASS_INDEX])]
        pyramid = [tk for tk in contested if tk[:1] != bytes([CLASS_INDEX])]
        n = super().rebuild_derived(batch, sources, pyramid)
        # A block or mapping key the merge resolves (sides that disagreed: a strategy's
        # pick, or a voxel merge) can leave a one-sided index stale as well.
        resolved = any(
            i == self.iid and _is_label_source(tk) for (i, tk), _ in batch.held().items()
        )
        if (idx_keys or resolved) and self.indexed:
            for tk in idx_keys:
                batch.delete(self.iid, tk)
            n += reindex(self, batch)
        return n

    # ------------------------------------------------------------------ info
    def extended(self) -> dict[str, Any]:
        """imageblk fields plus DVID's labelmap counters."""
        ext = super().extended()
        by_version = self.max_labels_by_version()
        ext.update(
            MaxLabel={str(v): m for v, m in sorted(by_version.items())},
            MaxRepoLabel=max(by_version.values(), default=0),
            NextLabel=self._next_label_issued,
            IndexedLabels=self.indexed,
        )
        return ext


def _is_label_source(tk: bytes) -> bool:
    """A key label indexes derive from: a scale-0 block or a mapping key."""
    from dvidctl.datatypes.labelmap.keys import CLASS_MAPPING, LABEL_TKEY_LEN

    if len(tk) == TKEY_LEN and tk[0] == CLASS_BLOCK and tk[1] == 0:
        return True
    return len(tk) == LABEL_TKEY_LEN and tk[0] == CLASS_MAPPING


if TYPE_CHECKING:  # mypy checks that the class satisfies the shared labelmap interface
    from dvidctl.datatypes.labelmap.protocol import LabelMapAPI

    _: type[LabelMapAPI] = LabelMap
