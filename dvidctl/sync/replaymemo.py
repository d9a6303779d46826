"""What the fallback read at the node before: each block's digest as DVID sent it, by slab.

DVID cannot say which blocks a node changed, so the fallback reads every block of
every node and compares it with what the node answers here (:mod:`.replay`): two
decodes and a comparison per block and node, ~12 ms of CPU a label block, most of a
clone's time through DVID's endpoints. But where DVID sends a block of a node byte
for byte as it sent the block of the node's only parent, the block is the parent's
(DVID's block encodings are deterministic: same voxels, same bytes; were they not, a
block would only be written again as it is); and the parent here answers exactly as
DVID did (it was replayed, and is complete). So when the node here holds nothing but
its parent's blocks, or blocks that can only be DVID's for this node, such a block is
neither decoded nor compared, and a block sent otherwise is written without reading
the local one. That holds for a node new here in this run (``fresh``), whose only
parent was replayed just before it, or in an earlier run that kept the parent's
digests (:class:`ReplayMemo`'s cache, under ``.dvid/cache``: only a locked node's,
whose content cannot change).

A node that existed here before the run (a snapshot of an open node, refreshed; an
interrupted run's) may hold blocks of its own: an open node's snapshot, what the node
has changed since. Its own digests from its last replay serve instead, where the run
kept them (an open node's, in the cache) and the node here still holds exactly what
that replay left: the digest of the node's own entries for the instance (its stamp)
is unchanged, so nothing else (another remote's fetch, an interrupted run) wrote it
since. Otherwise it takes the full comparison, as do a node with two parents, a slab
the parent did not have (other extents), digests read another way (other query
parameters) and reads through ``raw`` (no block bytes).

Memory: 16 bytes per block of the node read last per instance, up to
:data:`MEMO_BLOCKS` blocks (~100 MB with the slabs' keys); past that, the rest of the
node's slabs are not kept and its child compares them in full. The cache keeps a
file per instance of the last locked node replayed, and one per open node replayed
(about 20 bytes per block each), removed once that node is replayed locked.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Sequence
from pathlib import Path

import xxhash

from dvidctl.geometry import Box

#: Blocks whose digests one instance's memo keeps at most.
MEMO_BLOCKS = 4_000_000
#: The digest of a block DVID did not send (not written there: background).
ABSENT = bytes(16)
#: The cache file's first bytes (its format).
MAGIC = b"dvidctl block digests 1\n"

#: A slab at a scale: ``(scale, start, stop)``.
SlabKey = tuple[int, tuple[int, ...], tuple[int, ...]]
_SLAB = struct.Struct(">B6qI")
_HEAD = struct.Struct(">32sHH")


def block_digest(payload: bytes) -> bytes:
    """The digest of a block's bytes as DVID sent them."""
    return xxhash.xxh3_128_digest(payload)


def slab_key(box: Box, scale: int) -> SlabKey:
    return (scale, tuple(box.start), tuple(box.stop))


class Recorded:
    """One node's block digests of one instance, by slab (see the module doc).

    ``signature``: how the blocks were asked for (endpoint and parameters): digests
    of blocks asked for otherwise do not compare.
    """

    def __init__(self, budget: int = MEMO_BLOCKS, signature: str = "") -> None:
        self._slabs: dict[SlabKey, bytes] = {}
        self._left = budget
        self.signature = signature
        #: The digest of the node's own entries for the instance when its replay ended
        #: (an open node's: see the module doc).
        self.stamp = ""

    def get(self, key: SlabKey) -> bytes | None:
        """The digests of the slab's blocks in ZYX order (:data:`ABSENT` for a block not
        sent), or None if the node's read did not keep them."""
        return self._slabs.get(key)

    def put(self, key: SlabKey, digests: bytes) -> None:
        n = len(digests) // 16
        if n <= self._left:
            self._slabs[key] = digests
            self._left -= n

    def to_bytes(self, uuid: str) -> bytes:
        sig, stamp = self.signature.encode(), self.stamp.encode()
        parts = [MAGIC, _HEAD.pack(uuid.encode("ascii")[:32], len(sig), len(stamp)), sig, stamp]
        for (scale, start, stop), digests in self._slabs.items():
            parts.append(_SLAB.pack(scale, *start, *stop, len(digests) // 16))
            parts.append(digests)
        body = b"".join(parts)
        return body + xxhash.xxh3_64_digest(body)

    @classmethod
    def from_bytes(cls, data: bytes) -> tuple[str, Recorded] | None:
        """``(node uuid, record)`` of :meth:`to_bytes`' bytes; None if they are not whole."""
        body, check = data[:-8], data[-8:]
        if not body.startswith(MAGIC) or xxhash.xxh3_64_digest(body) != check:
            return None
        pos = len(MAGIC)
        uuid_b, nsig, nstamp = _HEAD.unpack_from(body, pos)
        pos += _HEAD.size
        out = cls(signature=body[pos : pos + nsig].decode())
        pos += nsig
        out.stamp = body[pos : pos + nstamp].decode()
        pos += nstamp
        while pos < len(body):
            scale, z0, y0, x0, z1, y1, x1, n = _SLAB.unpack_from(body, pos)
            pos += _SLAB.size
            out.put((scale, (z0, y0, x0), (z1, y1, x1)), body[pos : pos + 16 * n])
            pos += 16 * n
        return uuid_b.decode("ascii"), out


class ReplayMemo:
    """Per instance name, the node replayed last in this run and its :class:`Recorded`;
    with a ``cache`` directory, the last locked node's too, across runs."""

    def __init__(self, cache: Path | None = None) -> None:
        self.cache = cache
        self._last: dict[str, tuple[str, Recorded]] = {}

    def begin(
        self,
        name: str,
        uuid: str,
        parents: Sequence[str],
        *,
        fresh: bool,
        stamp: Callable[[], str] | None = None,
    ) -> tuple[Recorded | None, Recorded]:
        """Start replaying instance ``name`` at node ``uuid`` (``fresh``: new here in
        this run; ``stamp``: the digest of what the node holds of its own for the
        instance now): the digests that tell what the node changed (see the module doc),
        and the record this node's reads go into."""
        before = None
        if fresh and len(parents) == 1:
            last = self._last.get(name)
            if last is not None and last[0] == parents[0]:
                before = last[1]
            else:
                before = self._load(name, parents[0], own=False)
        elif not fresh and stamp is not None:
            own = self._load(name, uuid, own=True)
            if own is not None and own.stamp and own.stamp == stamp():
                before = own
        now = Recorded()
        self._last[name] = (uuid, now)
        return before, now

    def end(self, name: str, uuid: str, *, locked: bool, stamp: str = "") -> None:
        """The replay of instance ``name`` at node ``uuid`` is done: its digests go to
        the cache, a locked node's for the next run's child of it, an open node's with
        ``stamp`` (the digest of what it holds of its own for the instance now) for the
        next run's refresh of it."""
        last = self._last.get(name)
        if self.cache is None or last is None or last[0] != uuid or not (locked or stamp):
            return
        last[1].stamp = "" if locked else stamp
        if locked:  # its snapshot's digests, if it had one, are of no more use
            self._file(name, uuid).unlink(missing_ok=True)
        path = self._file(name, None if locked else uuid)
        tmp = path.with_suffix(".tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(last[1].to_bytes(uuid))
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)  # a cache: the next run compares in full

    def _load(self, name: str, uuid: str, *, own: bool) -> Recorded | None:
        """The digests kept of node ``uuid``: of its last replay while open (``own``), or
        as the last locked node."""
        if self.cache is None:
            return None
        try:
            data = self._file(name, uuid if own else None).read_bytes()
            got = Recorded.from_bytes(data)
        except (OSError, struct.error, UnicodeDecodeError):
            return None
        return got[1] if got is not None and got[0] == uuid else None

    def _file(self, name: str, open_node: str | None) -> Path:
        """Instance ``name``'s file of the last locked node, or of open node ``open_node``."""
        assert self.cache is not None
        kind = "locked" if open_node is None else f"{open_node}.open"
        return self.cache / f"{xxhash.xxh3_64_hexdigest(name.encode())}.{kind}.digests"


__all__ = ["ABSENT", "MEMO_BLOCKS", "Recorded", "ReplayMemo", "block_digest", "slab_key"]
