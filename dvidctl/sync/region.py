"""Partial clones by region: ``--bbox``, ``--roi``, ``--scales`` of the voxel instances.

The selection is a :class:`~dvidctl.store.held.Held` recorded in the clone's
metadata when the clone starts (an ROI's spans are read from the remote then, at
the chosen node or the remote's master, and kept: later fetches keep the same
blocks even if the ROI changes there). Through the sync API only the selected
blocks travel:

* the listing request names the selection's bounding box and scales
  (``bbox=``, ``scales=``), so the server lists only those blocks; the client
  filters each listing chunk again, exactly (an ROI's own blocks; a server that
  ignores the parameters);
* the values asked for are then exactly the held blocks plus the instance's
  metadata keys (extents, max label).

A node completed this way keeps the sender's digest for the limited instances
(``receive.complete_node``), so later fetches and pushes compare nodes as usual.
Through DVID's endpoints the replay reads only the held blocks
(:mod:`dvidctl.sync.replay`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from dvidctl.api.syncstate import InstanceInfo, RepoInfo
from dvidctl.datatypes.imageblk.heldkeys import block_layout, keep_array
from dvidctl.errors import BadRequestError, NotFoundError
from dvidctl.geometry import Box
from dvidctl.store.held import Held, Triple
from dvidctl.sync.diff import Keys
from dvidctl.sync.endpoint import Endpoint, Value

VOXEL_TYPES = ("uint8blk", "labelmap")


def voxel_instances(instances: Sequence[InstanceInfo]) -> list[str]:
    """The data UUIDs of the voxel instances among ``instances``."""
    return [i.data_uuid for i in instances if i.typename in VOXEL_TYPES]


def build_held(
    their: RepoInfo,
    *,
    box: Box | None,
    roi: str | None,
    scales: tuple[int, ...] | None,
    node: str | None,
    base: str,
    token: str | None,
) -> Held:
    """The selection asked for; an ROI's spans are read from the remote now."""
    spans: tuple[tuple[int, int, int, int], ...] = ()
    roi_block: Triple | None = None
    if roi is not None:
        info = next((i for i in their.instances if i.name == roi), None)
        if info is None or info.typename != "roi":
            kinds = sorted(i.name for i in their.instances if i.typename == "roi")
            raise NotFoundError(
                f"--roi {roi!r}: the remote has no roi instance of that name",
                hint="roi instances there: " + (", ".join(kinds) or "none"),
            )
        at = node or their.branches.get("") or their.root
        from dvidctl.api.remote import RemoteRepository  # only for --roi: a client of all types

        with RemoteRepository(base, token=token) as remote:
            inst: Any = remote.node(at).instance(roi)
            got = inst.get_spans()
            bx, by, bz = inst.block_size
        spans = tuple(sorted({(int(z), int(y), int(a), int(b)) for z, y, a, b in got}))
        roi_block = (int(bz), int(by), int(bx))
        if not spans:
            raise BadRequestError(f"--roi {roi!r} is empty at node {at[:10]} on the remote")
    return Held(
        box=box,
        roi=roi,
        spans=spans,
        roi_block=roi_block,
        scales=scales,
        instances=tuple(voxel_instances(their.instances)),
    )


def bounds(held: Held) -> Box | None:
    """The scale-0 voxel box around the selection (None: unbounded)."""
    box = held.box
    if held.roi_block is not None and held.spans:
        a = np.asarray(held.spans, dtype=np.int64)
        rb = held.roi_block
        lo = (int(a[:, 0].min()) * rb[0], int(a[:, 1].min()) * rb[1], int(a[:, 2].min()) * rb[2])
        hi = (
            (int(a[:, 0].max()) + 1) * rb[0],
            (int(a[:, 1].max()) + 1) * rb[1],
            (int(a[:, 3].max()) + 1) * rb[2],
        )
        roi_box = Box(lo, hi)
        box = roi_box if box is None else box.intersect(roi_box) or Box(box.start, box.start)
    return box


def select_params(held: Held) -> dict[str, str]:
    """The listing request's coarse selection: bounding box and scales (the server's filter)."""
    out = {}
    box = bounds(held)
    if box is not None:
        (z0, y0, x0), (z1, y1, x1) = box.start, box.stop
        out["bbox"] = f"{x0},{y0},{z0}:{x1},{y1},{z1}"
    if held.scales is not None:
        out["scales"] = ",".join(map(str, held.scales))
    return out


def filter_keys(held: Held, layout: tuple[int, Triple], chunk: Keys) -> Keys:
    """The entries of ``chunk`` that ``held`` keeps."""
    if not len(chunk):
        return chunk
    mask = keep_array(held, layout[0], layout[1], chunk.keys, chunk.lengths)
    if mask.all():
        return chunk
    return Keys(chunk.keys[mask], chunk.lengths[mask], chunk.digests[mask])


class HeldSender:
    """A sending endpoint whose listings of limited instances keep only the held blocks."""

    def __init__(self, ep: Endpoint, held: Held, instances: Sequence[InstanceInfo]) -> None:
        self.ep = ep
        self.name = ep.name
        self.stats = ep.stats
        self.held = held
        self.layouts: dict[str, tuple[int, Triple]] = {}
        for i in instances:
            lay = block_layout(i.typename, i.config) if i.data_uuid in held.instances else None
            if lay is not None:
                self.layouts[i.data_uuid] = lay
        self.params = select_params(held)
        self.instances = instances

    def fork(self) -> HeldSender:
        """The same selection over a fork of the wrapped endpoint (another stream)."""
        return HeldSender(self.ep.fork(), self.held, self.instances)

    def listing(self, node: str, data_uuid: str) -> Iterator[Keys]:
        lay = self.layouts.get(data_uuid)
        if lay is None:
            return self.ep.listing(node, data_uuid)
        select = getattr(self.ep, "selected_listing", None)
        src = select(node, data_uuid, self.params) if select else self.ep.listing(node, data_uuid)
        return (filter_keys(self.held, lay, chunk) for chunk in src)

    def values(
        self, node: str, data_uuid: str, tkeys: Sequence[bytes], max_bytes: int | None = None
    ) -> Iterator[Value]:
        return self.ep.values(node, data_uuid, tkeys, max_bytes)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.ep, attr)


__all__ = ["HeldSender", "build_held", "select_params", "voxel_instances"]
