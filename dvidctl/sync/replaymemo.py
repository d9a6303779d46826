"""What the fallback read at the node before: each block's digest as DVID sent it, by slab.

DVID cannot say which blocks a node changed, so the fallback reads every block of
every node and compares it with what the node answers here (:mod:`.replay`): two
decodes and a comparison per block and node, ~12 ms of CPU a label block, most of a
clone's time through DVID's endpoints. But a fetch replays nodes parents first, and a
node whose only parent was replayed just before it, in the same run, holds nothing of
its own here yet: it answers as its parent does, which is as DVID answered for the
parent (replayed, and compared, block by block). So where DVID sends a block of that
node byte for byte as it sent the parent's, the block is the parent's and nothing is
to be done: it is neither decoded nor compared. A block it sends otherwise differs
from the parent's (DVID's block encodings are deterministic: same voxels, same bytes;
were they not, a block would only be written again as it is) and is written without
reading the local one.

The parent must have been replayed in this run: a node completed in an earlier run
may have a child that an interrupted run left half written, whose blocks are its own.
Such a node, a node with two parents, a slab the parent did not have (other extents),
and reads through ``raw`` (no block bytes) take the full comparison.

Memory: 16 bytes per block of the node read last per instance, up to
:data:`MEMO_BLOCKS` blocks (~100 MB with the slabs' keys); past that, the rest of the
node's slabs are not kept and its child compares them in full.
"""

from __future__ import annotations

from collections.abc import Sequence

import xxhash

from dvidctl.geometry import Box

#: Blocks whose digests one instance's memo keeps at most.
MEMO_BLOCKS = 4_000_000
#: The digest of a block DVID did not send (not written there: background).
ABSENT = bytes(16)

#: A slab at a scale: ``(scale, start, stop)``.
SlabKey = tuple[int, tuple[int, ...], tuple[int, ...]]


def block_digest(payload: bytes) -> bytes:
    """The digest of a block's bytes as DVID sent them."""
    return xxhash.xxh3_128_digest(payload)


def slab_key(box: Box, scale: int) -> SlabKey:
    return (scale, tuple(box.start), tuple(box.stop))


class Recorded:
    """One node's block digests of one instance, by slab (see the module doc)."""

    def __init__(self, budget: int = MEMO_BLOCKS) -> None:
        self._slabs: dict[SlabKey, bytes] = {}
        self._left = budget

    def get(self, key: SlabKey) -> bytes | None:
        """The digests of the slab's blocks in x order (:data:`ABSENT` for a block not
        sent), or None if the node's read did not keep them."""
        return self._slabs.get(key)

    def put(self, key: SlabKey, digests: bytes) -> None:
        n = len(digests) // 16
        if n <= self._left:
            self._slabs[key] = digests
            self._left -= n


class ReplayMemo:
    """Per instance name, the node replayed last in this run and its :class:`Recorded`."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[str, Recorded]] = {}

    def begin(
        self, name: str, uuid: str, parents: Sequence[str]
    ) -> tuple[Recorded | None, Recorded]:
        """Start replaying instance ``name`` at node ``uuid``: the parent's digests where
        they tell what the node changed (its only parent, replayed just before it), and
        the record this node's reads go into."""
        last = self._last.get(name)
        before = last[1] if last is not None and list(parents) == [last[0]] else None
        now = Recorded()
        self._last[name] = (uuid, now)
        return before, now


__all__ = ["ABSENT", "MEMO_BLOCKS", "Recorded", "ReplayMemo", "block_digest", "slab_key"]
