"""Label-aware diff: which bodies of a labelmap were merged, split, created or deleted.

``dvidctl diff REF1 REF2 --labels NAME``. The delta index names the scale-0
blocks the two versions hold differently (:func:`dvidctl.store.diff.diff_nodes`,
whose cost grows with what changed); only those blocks are decoded, at both
versions, into an overlap table
(:func:`dvidctl.datatypes.imageblk.labeloverlap.block_overlap_table`):
``flow(p, q)`` voxels labelled ``p`` at REF1 and ``q`` at REF2 (``p != q``), and
the labels whose voxels stayed put. The classification, over non-zero labels
(0 is the background, never a body):

* ``keeps(p)``: some voxel labelled ``p`` at REF1 is still ``p`` at REF2;
* **merged**: a REF2 body ``q`` whose voxels come from two or more REF1 bodies,
  its *sources* ``{p != 0: flow(p, q) > 0}``, plus ``q`` itself if ``keeps(q)``;
* **split**: a REF1 body ``p`` whose voxels went to two or more REF2 bodies, its
  *targets* ``{q != 0: flow(p, q) > 0}``, plus ``p`` itself if ``keeps(p)``;
* **created**: a body with voxels at REF2 and none at REF1;
* **deleted**: a body with voxels at REF1 and none at REF2;
* per body involved: voxels ``gained`` (``sum_p flow(p, q)``) and ``lost``.

A body merged into another is both a source of a merge and deleted; a split-off
body is both a target of a split and created. Painting over the background or
erasing to it changes voxels without merging or splitting.

**Exactness.** Whether a body has voxels *outside* the changed blocks (to tell
"created" from "grew into new blocks", or whether a body kept voxels elsewhere)
needs per-body sizes at both versions: a label index. Without one the diff
looks only at the changed blocks (``exact: false`` in its output): a body is
taken as present at a version when it has voxels in those blocks there. With
one (a labelmap answering :class:`IndexedLabelMap`) it is exact.
The hooks below are where a labelmap's label index and supervoxel-to-body
mapping plug in: the table is made over the labels blocks store (supervoxels)
and mapped to bodies at each version on the reduced table (:func:`to_bodies`);
supervoxels remapped between the versions add their voxels outside the changed
blocks (body merges through the mapping rewrite no block); body sizes make the
classification exact.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from dvidctl.datatypes.imageblk.blockkeys import TKEY_LEN, decode_block_tkeys
from dvidctl.datatypes.imageblk.labeloverlap import (
    OverlapTable,
    block_overlap_table,
    reduce_counts,
)
from dvidctl.errors import BadRequestError
from dvidctl.store.diff import diff_nodes

if TYPE_CHECKING:
    from dvidctl.api.repository import Repository
    from dvidctl.datatypes.base import Instance
    from dvidctl.datatypes.imageblk.instance import VoxelInstance


# ------------------------------------------------------------------ hooks
# Where labelmap's label index and supervoxel -> body mapping plug in. A labelmap
# that keeps them answers :class:`IndexedLabelMap`; any other answers None here, and
# the diff is then over stored labels, judged by the changed blocks (``exact: false``).

#: Stored labels (1-D) -> bodies at one version.
ToBodies = Callable[[np.ndarray], np.ndarray]


@runtime_checkable
class IndexedLabelMap(Protocol):
    """The part of a labelmap's public API (``LabelMapAPI``) that makes the diff exact."""

    @property
    def indexed(self) -> bool:
        """Whether writes keep label indexes."""
        ...

    def sizes(self, labels: Sequence[int], *, supervoxels: bool = False) -> list[int]:
        """Voxel counts of bodies (or supervoxels), 0 for labels without voxels."""
        ...

    def mapping(self, svs: Sequence[int] | np.ndarray, *, lookup: bool = True) -> np.ndarray:
        """The body of each supervoxel (itself when unmapped)."""
        ...

    def mappings(self) -> tuple[np.ndarray, np.ndarray]:
        """Every supervoxel mapped away from itself, and its body."""
        ...


def _indexed(inst: Instance) -> IndexedLabelMap | None:
    return inst if isinstance(inst, IndexedLabelMap) and inst.indexed else None


def body_sizes(inst: Instance, bodies: np.ndarray) -> np.ndarray | None:
    """HOOK (label index): voxels of each body at ``inst``'s version (DVID's ``sizes``)."""
    ix = _indexed(inst)
    return None if ix is None else np.asarray(ix.sizes(bodies.tolist()), np.int64)


def supervoxel_sizes(inst: Instance, svs: np.ndarray) -> np.ndarray | None:
    """HOOK (label index): voxels of each supervoxel at ``inst``'s version."""
    ix = _indexed(inst)
    if ix is None:
        return None
    return np.asarray(ix.sizes(svs.tolist(), supervoxels=True), np.int64)


def body_mapping(inst: Instance) -> ToBodies | None:
    """HOOK (mapping): supervoxels -> bodies at ``inst``'s version; None: the identity."""
    ix = _indexed(inst)
    if ix is None:
        return None
    return lambda svs: np.asarray(ix.mapping(svs, lookup=False), np.uint64)


def remapped_supervoxels(inst_a: Instance, inst_b: Instance) -> np.ndarray | None:
    """HOOK (mapping): the supervoxels whose body differs between the two versions.

    A body merge through the mapping rewrites no block: these supervoxels' voxels
    outside the changed blocks move between bodies all the same. Found by
    comparing the two versions' whole mappings (the cost grows with the mapping,
    not with the volume); reading the mapping keys the delta index names would
    make it follow the change, and needs the labelmap to name its mapping keys.
    """
    ia, ib = _indexed(inst_a), _indexed(inst_b)
    if ia is None or ib is None:
        return None
    sa, ba = (np.asarray(v, np.uint64) for v in ia.mappings())
    sb, bb = (np.asarray(v, np.uint64) for v in ib.mappings())
    svs = np.union1d(sa, sb)
    if not len(svs):
        return svs
    body_a, body_b = svs.copy(), svs.copy()  # unmapped: the supervoxel itself
    body_a[np.searchsorted(svs, sa)] = ba
    body_b[np.searchsorted(svs, sb)] = bb
    return svs[body_a != body_b]


# ---------------------------------------------------------------- result
@dataclass
class LabelDiff:
    """What :func:`label_diff` found (see the module docstring for the definitions)."""

    instance: str
    ref_a: str
    ref_b: str
    blocks: int = 0
    voxels_changed: int = 0
    exact: bool = False
    merged: list[dict[str, Any]] = field(default_factory=list)
    split: list[dict[str, Any]] = field(default_factory=list)
    created: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[dict[str, Any]] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    flows: list[list[int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Stable JSON form (``--json``)."""
        return {
            "instance": self.instance,
            "from": self.ref_a,
            "to": self.ref_b,
            "blocks_compared": self.blocks,
            "voxels_changed": self.voxels_changed,
            "exact": self.exact,
            "merged": self.merged,
            "split": self.split,
            "created": self.created,
            "deleted": self.deleted,
            "bodies": self.bodies,
            "flows": self.flows,
        }


def label_diff(repo: Repository, ref_a: str, ref_b: str, name: str) -> LabelDiff:
    """The label-aware diff of labelmap ``name`` going from ``ref_a`` to ``ref_b``."""
    return label_diff_versions(repo, repo.resolve(ref_a), repo.resolve(ref_b), name)


def label_diff_versions(repo: Repository, a: int, b: int, name: str) -> LabelDiff:
    """:func:`label_diff` between two version ids."""
    rec = repo.instance_record(name)
    if rec.typename != "labelmap":
        raise BadRequestError(
            f"--labels needs a labelmap instance; {name!r} is a {rec.typename}",
            hint="name a labelmap instance, or diff without --labels",
        )
    inst_a: VoxelInstance = repo.node_by_vid(a).instance(name)  # type: ignore[assignment]
    inst_b: VoxelInstance = repo.node_by_vid(b).instance(name)  # type: ignore[assignment]
    coords = changed_blocks(repo, a, b, inst_a)
    table = block_overlap_table(inst_a, inst_b, coords)
    remapped = remapped_supervoxels(inst_a, inst_b)
    if remapped is not None and len(remapped):
        remapped = np.unique(np.asarray(remapped, np.uint64))
        outside = voxels_outside(table, remapped, supervoxel_sizes(inst_a, remapped))
        table.kept_labels, table.kept_counts = reduce_counts(
            np.concatenate([table.kept_labels, remapped]),
            np.concatenate([table.kept_counts, outside]),
        )
    table = to_bodies(table, body_mapping(inst_a), body_mapping(inst_b))
    out = LabelDiff(
        name, repo.dag.node(a).uuid, repo.dag.node(b).uuid, table.blocks, table.voxels_changed
    )
    labels = involved_labels(table)
    sizes_a, sizes_b = body_sizes(inst_a, labels), body_sizes(inst_b, labels)
    classify(out, table, sizes_a, sizes_b)
    return out


def voxels_outside(table: OverlapTable, svs: np.ndarray, sizes: np.ndarray | None) -> np.ndarray:
    """Voxels of each supervoxel outside the compared blocks (at the first version)."""
    if sizes is None:
        return np.zeros(len(svs), np.int64)
    inside = np.zeros(len(svs), np.int64)
    for labels, counts in (
        (table.kept_labels, table.kept_counts),
        (table.pairs[:, 0], table.counts),
    ):
        pos = np.searchsorted(svs, labels)
        hit = (pos < len(svs)) & (svs[np.minimum(pos, len(svs) - 1)] == labels)
        np.add.at(inside, pos[hit], counts[hit])
    return np.maximum(np.asarray(sizes, np.int64) - inside, 0)


def to_bodies(table: OverlapTable, map_a: ToBodies | None, map_b: ToBodies | None) -> OverlapTable:
    """The table in body space: stored labels mapped at each version, pairs and kept
    supervoxels whose bodies differ becoming flows, equal ones kept voxels."""
    if map_a is None and map_b is None:
        return table

    def bodies(fn: ToBodies | None, labels: np.ndarray) -> np.ndarray:
        return labels if fn is None else np.asarray(fn(labels), np.uint64)

    pa = bodies(map_a, np.concatenate([table.pairs[:, 0], table.kept_labels]))
    pb = bodies(map_b, np.concatenate([table.pairs[:, 1], table.kept_labels]))
    n = np.concatenate([table.counts, table.kept_counts])
    moved = pa != pb
    out = OverlapTable(blocks=table.blocks)
    out.pairs, out.counts = reduce_counts(np.stack([pa[moved], pb[moved]], axis=1), n[moved])
    out.kept_labels, out.kept_counts = reduce_counts(pa[~moved], n[~moved])
    return out


def involved_labels(table: OverlapTable) -> np.ndarray:
    """The non-zero labels some voxel changed to or from, sorted."""
    labels = np.unique(table.pairs.reshape(-1))
    return labels[labels != 0]


def changed_blocks(repo: Repository, a: int, b: int, inst: VoxelInstance) -> np.ndarray:
    """The scale-0 block coordinates (``(n, 3)`` ZYX) that ``a`` and ``b`` hold differently."""
    d = diff_nodes(repo.store, a, b, {inst.iid}).get(inst.iid)
    if d is None:
        return np.zeros((0, 3), np.int64)
    cls = inst.key_class
    tkeys = [
        tk
        for tk in (*d.added, *d.changed, *d.deleted)
        if len(tk) == TKEY_LEN and tk[0] == cls and tk[1] == 0
    ]
    if not tkeys:
        return np.zeros((0, 3), np.int64)
    return decode_block_tkeys(tkeys)[1].astype(np.int64)


def classify(
    out: LabelDiff,
    table: OverlapTable,
    sizes_a: np.ndarray | None = None,
    sizes_b: np.ndarray | None = None,
) -> None:
    """Fill ``out``'s merged, split, created, deleted and per-body lists from ``table``.

    ``sizes_a``/``sizes_b``: each involved body's voxels at the two versions, in
    the order of :func:`involved_labels` (from a label index), or None: judged by
    the compared blocks only.
    """
    flows: dict[tuple[int, int], int] = {}
    for (p, q), n in zip(table.pairs.tolist(), table.counts.tolist(), strict=True):
        if p != q:
            flows[(p, q)] = flows.get((p, q), 0) + n
    gained: dict[int, int] = defaultdict(int)
    lost: dict[int, int] = defaultdict(int)
    sources: dict[int, set[int]] = defaultdict(set)
    targets: dict[int, set[int]] = defaultdict(set)
    for (p, q), n in flows.items():
        lost[p] += n
        gained[q] += n
        if p and q:
            sources[q].add(p)
            targets[p].add(q)
    kept = dict(zip(table.kept_labels.tolist(), table.kept_counts.tolist(), strict=True))
    involved = involved_labels(table).tolist()
    out.exact = sizes_a is not None and sizes_b is not None
    for i, body in enumerate(involved):
        if sizes_a is not None and sizes_b is not None:
            before, after = int(sizes_a[i]), int(sizes_b[i])
            keeps = before - lost[body] > 0
        else:  # only what the changed blocks show
            keeps = kept.get(body, 0) > 0
            before = kept.get(body, 0) + lost[body]
            after = kept.get(body, 0) + gained[body]
        src = sorted(sources[body] | ({body} if keeps else set()))
        tgt = sorted(targets[body] | ({body} if keeps else set()))
        if len(src) >= 2:
            out.merged.append({"body": body, "from": src, "voxels": gained[body]})
        if len(tgt) >= 2:
            out.split.append({"body": body, "into": tgt, "voxels": lost[body]})
        if after > 0 and before == 0:
            out.created.append({"body": body, "voxels": after})
        if before > 0 and after == 0:
            out.deleted.append({"body": body, "voxels": before})
        out.bodies.append(
            {
                "body": body,
                "gained": gained[body],
                "lost": lost[body],
                "before": before if out.exact else None,
                "after": after if out.exact else None,
            }
        )
    out.flows = [[p, q, n] for (p, q), n in sorted(flows.items())]
