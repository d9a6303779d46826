"""An ROI from a labelmap body: the ROI blocks that hold any voxel of the body.

``roi_from_body(node, "segmentation", 17, "body17")`` replaces the ROI ``body17``
at ``node`` with every block of its grid (the ROI's own block size, DVID's 32³ by
default) that holds a voxel of label 17 in ``segmentation`` at the same node: one
atomic write, so a failure leaves the ROI as it was. The CLI (``dvidctl roi
from-body``) calls it.

Which labelmap blocks may hold the body is one function, :func:`candidate_blocks`:
the blocks the body's label index names (the scale-0 blocks holding any of its
supervoxels, ``>> scale`` at a coarser level), so the cost follows the body's size,
not the volume's; only a labelmap created with ``IndexedLabels=false`` has every
stored block scanned. The candidates are read through
the labelmap's public reads (``get_subvolume``: the labels any reader sees, decoded
on the block thread pool), a run of blocks along x at a time, compared with the
label as whole arrays and reduced to the ROI blocks they overlap
(:func:`~dvidctl.datatypes.roi.blockmap.blocks_hit`), so labelmap and ROI block
sizes need not match. Each run is its own read: a write between two runs (only
possible from another process on a served repository) could be half seen.

``scale`` reads a coarser pyramid level: fewer voxels to decode, but a level is made
by taking the most frequent label of each 2x2x2 cube, so small parts of a body can
be missing there. Scale 0 (the default) is exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dvidctl.datatypes.labelmap.ops import LabelMap
from dvidctl.datatypes.roi import blockmap
from dvidctl.datatypes.roi import spans as sp
from dvidctl.datatypes.roi.ops import ROI
from dvidctl.errors import BadRequestError, NotFoundError
from dvidctl.geometry import Box

if TYPE_CHECKING:
    from dvidctl.api.node import Node

#: Blocks along x read at once: enough for the read to decode them in parallel, and a
#: bounded buffer (8 uint64 blocks of 64³ are 16 MiB).
_RUN_BLOCKS = 8

#: ``progress(blocks_read_since_last_call, blocks_to_read)``
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class FromBody:
    """What :func:`roi_from_body` wrote."""

    roi: str
    labelmap: str
    label: int
    node: str
    scale: int
    #: ROI blocks now in the ROI, and the spans they were stored as
    blocks: int
    spans: int
    #: labelmap blocks read, and how many of them hold the body
    scanned: int
    body_blocks: int

    def to_dict(self) -> dict[str, Any]:
        """JSON form for ``--json``."""
        return {
            "roi": self.roi,
            "labelmap": self.labelmap,
            "label": self.label,
            "node": self.node,
            "scale": self.scale,
            "blocks": self.blocks,
            "spans": self.spans,
            "scanned": self.scanned,
            "body_blocks": self.body_blocks,
        }


def _typed(node: Node, name: str, cls: type, kind: str) -> Any:
    inst = node.instance(name)
    if not isinstance(inst, cls):
        raise BadRequestError(f"instance {name!r} is a {inst.typename}, not {kind}")
    return inst


def check_label(label: int) -> int:
    """``label`` as a body id: 1 .. 2^64-1 (0 is the background, as DVID refuses it)."""
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)):
        raise BadRequestError(f"a label is an integer, not {label!r}")
    if not 0 < int(label) < 2**64:
        raise BadRequestError(f"a body label is 1 .. 2^64-1, got {label}")
    return int(label)


def candidate_blocks(seg: LabelMap, label: int, scale: int) -> np.ndarray:
    """The labelmap blocks at ``scale`` that may hold body ``label``: ``(n, 3)`` ZYX, sorted.

    The one place that decides which blocks are read: the blocks of the body's label
    index (scale 0; a pyramid block at ``scale`` covers the scale-0 blocks ``>> scale``
    of it), none when the body has no index. A labelmap that keeps no label indexes
    (``IndexedLabels=false``) has every stored block at ``scale`` scanned.
    """
    if not seg.indexed:
        coords: np.ndarray = seg.blocks.block_coords(scale).astype(np.int64)
        return coords
    idx = seg.index(label)
    if idx is None:
        return np.empty((0, 3), dtype=np.int64)
    scale0 = idx.block_coords().astype(np.int64)
    return np.unique(scale0 >> scale, axis=0) if scale else scale0


def body_roi_blocks(
    seg: LabelMap,
    label: int,
    block_zyx: tuple[int, int, int],
    *,
    scale: int = 0,
    progress: Progress | None = None,
) -> tuple[np.ndarray, int, int]:
    """ROI blocks (grid ``block_zyx``, scale-0 voxels) holding a voxel of ``label`` at ``scale``.

    The candidate blocks are read through the labelmap's own reads (``get_subvolume``,
    so labels are what any reader sees), a run of up to :data:`_RUN_BLOCKS` blocks
    along x at a time into one reused buffer; each run is compared with the label and
    reduced to the ROI's blocks.

    Returns:
        ``(blocks, scanned, holding)``: the ROI block coordinates (``(n, 3)`` int64 ZYX,
        sorted), the labelmap blocks read, and how many of them hold the label.
    """
    seg.check_scale(scale)
    cell = blockmap.scale_cell(block_zyx, scale)
    coords = candidate_blocks(seg, label, scale)
    bz, by, bx = seg.block_shape
    want = np.uint64(label)
    buffers: dict[int, np.ndarray] = {}
    found: list[np.ndarray] = []
    holding = 0
    for z, y, x0, x1 in runs(coords, _RUN_BLOCKS):
        n = x1 - x0
        out = buffers.get(n)
        if out is None:
            out = buffers[n] = np.empty((bz, by, n * bx), dtype=np.uint64)
        start = (z * bz, y * by, x0 * bx)
        box = Box(start, (start[0] + bz, start[1] + by, start[2] + n * bx))
        hit = seg.get_subvolume(box, scale, out=out) == want
        per_block = hit.reshape(bz * by, n, bx).any(axis=(0, 2))
        if per_block.any():
            holding += int(per_block.sum())
            found.append(blockmap.blocks_hit(hit, start, cell))
        if progress is not None:
            progress(n, len(coords))
    if not found:
        return np.empty((0, 3), dtype=np.int64), len(coords), 0
    return np.unique(np.concatenate(found), axis=0), len(coords), holding


def runs(coords: np.ndarray, most: int) -> list[tuple[int, int, int, int]]:
    """``(z, y, x0, x1)``: runs of consecutive x in sorted block coordinates, x1 exclusive.

    A run holds at most ``most`` blocks.
    """
    c = np.asarray(coords, dtype=np.int64).reshape(-1, 3)
    if not len(c):
        return []
    c = c[np.lexsort((c[:, 2], c[:, 1], c[:, 0]))]
    new = np.ones(len(c), dtype=bool)
    new[1:] = (c[1:, 0] != c[:-1, 0]) | (c[1:, 1] != c[:-1, 1]) | (c[1:, 2] != c[:-1, 2] + 1)
    first = np.nonzero(new)[0]
    last = np.append(first[1:], len(c))
    out = []
    for a, b in zip(first.tolist(), last.tolist(), strict=True):
        z, y, x = (int(v) for v in c[a])
        for x0 in range(x, x + b - a, most):
            out.append((z, y, x0, min(x0 + most, x + b - a)))
    return out


def roi_from_body(
    node: Node,
    labelmap: str,
    label: int,
    roi: str,
    *,
    scale: int = 0,
    progress: Progress | None = None,
) -> FromBody:
    """Replace ROI ``roi`` at ``node`` with the blocks holding body ``label`` of ``labelmap``.

    Raises:
        NotFoundError: An unknown instance, or a label with no voxel at ``scale``
            (nothing is written).
        BadRequestError: Instances of the wrong types, label 0, a scale the labelmap
            does not have or too coarse for the ROI's blocks.
        LockedNodeError: If ``node`` is committed.
    """
    label = check_label(label)
    seg: LabelMap = _typed(node, labelmap, LabelMap, "a labelmap")
    target: ROI = _typed(node, roi, ROI, "an roi")
    target.check_writable()
    blocks, scanned, holding = body_roi_blocks(
        seg, label, target.block_zyx, scale=scale, progress=progress
    )
    if not len(blocks):
        raise NotFoundError(
            f"label {label} has no voxels in {labelmap!r} at scale {scale} at node {node.uuid[:10]}"
        )
    spans = sp.from_blocks(blocks)
    stored = target.put_spans(spans)
    return FromBody(
        roi=roi,
        labelmap=labelmap,
        label=label,
        node=node.uuid,
        scale=scale,
        blocks=sp.count_blocks(spans),
        spans=stored,
        scanned=scanned,
        body_blocks=holding,
    )
