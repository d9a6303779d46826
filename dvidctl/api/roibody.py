"""An ROI from a labelmap body: the ROI blocks that hold any voxel of the body.

``roi_from_body(node, "segmentation", 17, "body17")`` replaces the ROI ``body17``
at ``node`` with every block of its grid (the ROI's own block size, DVID's 32³ by
default) that holds a voxel of label 17 in ``segmentation`` at the same node: one
atomic write, so a failure leaves the ROI as it was. The CLI (``dvidctl roi
from-body``) calls it.

Which labelmap blocks may hold the body is one function, :func:`candidate_blocks`.
Until labelmap keeps a label index, it names every stored block at the scale read,
and each is decoded and compared with the label (numpy, whole blocks, on the block
thread pool); with an index it will name only the body's blocks. A candidate block
is reduced to the ROI blocks it overlaps (:func:`~dvidctl.datatypes.roi.blockmap.
blocks_hit`), so labelmap and ROI block sizes need not match.

``scale`` reads a coarser pyramid level: fewer voxels to decode, but a level is made
by taking the most frequent label of each 2x2x2 cube, so small parts of a body can
be missing there. Scale 0 (the default) is exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dvidctl.datatypes.imageblk.codec import decode_into
from dvidctl.datatypes.imageblk.parallel import parallel_map
from dvidctl.datatypes.imageblk.scratch import scratch
from dvidctl.datatypes.labelmap.ops import LabelMap
from dvidctl.datatypes.roi import blockmap
from dvidctl.datatypes.roi import spans as sp
from dvidctl.datatypes.roi.ops import ROI
from dvidctl.errors import BadRequestError, NotFoundError

if TYPE_CHECKING:
    from dvidctl.api.node import Node

#: Stored bytes (or blocks) fetched before they are decoded together.
_SLAB_BYTES = 16 << 20
_SLAB_BLOCKS = 256

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


def candidate_blocks(seg: LabelMap, label: int, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """The blocks at ``scale`` that may hold body ``label``, and the stored ids that are it.

    The one place that decides which blocks are read: ``(coords, ids)``, the block
    coordinates (``(n, 3)`` ZYX, key order) and the uint64 values that count as the
    body in them. Without a label index the blocks are every stored block and the id
    is the label itself; with an index (which scale-0 blocks hold a body, and its
    supervoxels once bodies are mapped) they are the body's blocks (``>> scale``) and
    supervoxels, and only this function changes.
    """
    coords: np.ndarray = seg.blocks.block_coords(scale).astype(np.int64)
    return coords, np.asarray([label], dtype=np.uint64)


def body_roi_blocks(
    seg: LabelMap,
    label: int,
    block_zyx: tuple[int, int, int],
    *,
    scale: int = 0,
    progress: Progress | None = None,
) -> tuple[np.ndarray, int, int]:
    """ROI blocks (grid ``block_zyx``, scale-0 voxels) holding a voxel of ``label`` at ``scale``.

    Returns:
        ``(blocks, scanned, holding)``: the ROI block coordinates (``(n, 3)`` int64 ZYX,
        unsorted, possibly repeated), the labelmap blocks read, and how many held it.
    """
    seg.check_scale(scale)
    cell = blockmap.scale_cell(block_zyx, scale)
    coords, ids = candidate_blocks(seg, label, scale)
    bs = seg.blocks.spec.block_shape
    dtype = seg.blocks.spec.dtype
    one = ids[0] if len(ids) == 1 else None

    def work(item: tuple[tuple[int, int, int], memoryview]) -> np.ndarray | None:
        (z, y, x), payload = item
        block = decode_into(payload, scratch(bs, dtype))
        hit = block == one if one is not None else np.isin(block, ids)
        if not hit.any():
            return None
        return blockmap.blocks_hit(hit, (z * bs[0], y * bs[1], x * bs[2]), cell)

    found: list[np.ndarray] = []
    scanned = 0

    def flush(items: list[tuple[tuple[int, int, int], memoryview]]) -> None:
        nonlocal scanned
        found.extend(r for r in parallel_map(work, items) if r is not None)
        scanned += len(items)
        if progress is not None:
            progress(len(items), len(coords))

    rows = _rows(coords)
    items: list[tuple[tuple[int, int, int], memoryview]] = []
    held = 0
    for (z, y, x0, x1), got in zip(rows, seg.blocks.iter_rows(scale, rows), strict=True):
        wanted = coords_in_row(coords, z, y) if x1 - x0 > 1 else None
        for x, payload in got:
            if wanted is None or x in wanted:
                items.append(((z, y, x), payload))
                held += len(payload)
        if held >= _SLAB_BYTES or len(items) >= _SLAB_BLOCKS:
            flush(items)
            items, held = [], 0
    flush(items)
    blocks = np.concatenate(found) if found else np.empty((0, 3), dtype=np.int64)
    return blocks, scanned, len(found)


def _rows(coords: np.ndarray) -> list[tuple[int, int, int, int]]:
    """``(z, y, x0, x1)`` per (z, y) row of key-ordered block coordinates, x1 exclusive."""
    if not len(coords):
        return []
    new = np.ones(len(coords), dtype=bool)
    new[1:] = (coords[1:, 0] != coords[:-1, 0]) | (coords[1:, 1] != coords[:-1, 1])
    first = np.nonzero(new)[0]
    last = np.append(first[1:], len(coords)) - 1
    return [
        (int(coords[a, 0]), int(coords[a, 1]), int(coords[a, 2]), int(coords[b, 2]) + 1)
        for a, b in zip(first.tolist(), last.tolist(), strict=True)
    ]


def coords_in_row(coords: np.ndarray, z: int, y: int) -> set[int]:
    """The x of the blocks of row (z, y) among key-ordered ``coords``."""
    zy = coords[:, 0] * (1 << 32) + coords[:, 1]
    key = z * (1 << 32) + y
    lo, hi = np.searchsorted(zy, key, "left"), np.searchsorted(zy, key, "right")
    return {int(v) for v in coords[lo:hi, 2]}


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
