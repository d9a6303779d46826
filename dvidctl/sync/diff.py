"""Which keys a node transfer moves: a pure function of two sorted ``(tkey, digest)`` listings.

Given the sender's and the receiver's listing of one node and one instance, each
a stream of sorted chunks, :func:`diff` yields, chunk by chunk, the keys to
**send** (the receiver lacks them or holds another digest), the keys to
**delete** (the receiver has them, the sender does not: mirror semantics) and
how many are the **same**. It works on numpy arrays of at most two chunks at a
time, so memory stays flat for millions of keys: each step takes the smaller of
the two chunks' last keys as a bound, settles every key up to it with
``searchsorted``, and keeps the rest for the next step.

Type keys are prefix-free within an instance (``store/keys.py``), so fixed-width
``S`` arrays, which pad with NULs, compare exactly as the bytes do; the real
lengths are kept to give the keys back. Each chunk is checked to be strictly
increasing (a listing out of order would make the diff wrong, not just slow).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from dvidctl.errors import CorruptDataError
from dvidctl.httpkit.frames import DIGEST_BYTES, ListingChunk


@dataclass
class Keys:
    """A sorted run of listing entries as arrays."""

    keys: np.ndarray  # S<width>, NUL-padded
    lengths: np.ndarray  # the real key lengths
    digests: np.ndarray  # (n, 2) uint64

    def __len__(self) -> int:
        return len(self.keys)

    @classmethod
    def empty(cls) -> Keys:
        """No entries."""
        return cls(np.zeros(0, "S1"), np.zeros(0, np.int64), np.zeros((0, 2), np.uint64))

    @classmethod
    def from_chunk(cls, chunk: ListingChunk) -> Keys:
        """From a decoded listing chunk (no per-key Python work for fixed-width keys)."""
        lengths = np.frombuffer(chunk.lengths, ">u4").astype(np.int64)
        digests = np.frombuffer(chunk.digests, "<u8").reshape(-1, 2)
        if len(lengths) and (lengths == lengths[0]).all() and lengths[0] > 0:
            keys = np.frombuffer(chunk.blob, f"S{int(lengths[0])}")
        else:
            keys = np.array(chunk.keys(), dtype=f"S{max(1, int(lengths.max(initial=1)))}")
        return cls(keys, lengths, digests)

    @classmethod
    def from_pairs(cls, pairs: Sequence[tuple[bytes, bytes]]) -> Keys:
        """From ``(tkey, digest)`` pairs."""
        if not pairs:
            return cls.empty()
        tks = [p[0] for p in pairs]
        width = max(1, max(len(t) for t in tks))
        digs = b"".join(p[1] for p in pairs)
        if len(digs) != DIGEST_BYTES * len(pairs):
            raise CorruptDataError("a listing digest is not 16 bytes")
        return cls(
            np.array(tks, dtype=f"S{width}"),
            np.array([len(t) for t in tks], np.int64),
            np.frombuffer(digs, "<u8").reshape(-1, 2),
        )

    def widened(self, width: int) -> Keys:
        """The same entries with keys of at least ``width`` bytes."""
        if self.keys.dtype.itemsize >= width:
            return self
        return Keys(self.keys.astype(f"S{width}"), self.lengths, self.digests)

    def real(self, idx: np.ndarray | None = None) -> list[bytes]:
        """The keys (at ``idx``) as the bytes they are (trailing NULs given back)."""
        keys = self.keys if idx is None else self.keys[idx]
        lengths = self.lengths if idx is None else self.lengths[idx]
        return [bytes(k).ljust(int(n), b"\0") for k, n in zip(keys, lengths, strict=True)]

    def last(self) -> bytes:
        """The last key (the run must not be empty)."""
        return bytes(self.keys[-1]).ljust(int(self.lengths[-1]), b"\0")

    def split(self, at: int) -> tuple[Keys, Keys]:
        """The first ``at`` entries and the rest."""
        return (
            Keys(self.keys[:at], self.lengths[:at], self.digests[:at]),
            Keys(self.keys[at:], self.lengths[at:], self.digests[at:]),
        )

    def check_sorted(self, after: bytes | None) -> None:
        """Raise unless strictly increasing (and above ``after``, the previous chunk's last)."""
        k = self.keys
        bad = len(k) > 1 and not bool((k[1:] > k[:-1]).all())
        if not bad and after is not None and len(k):
            first = bytes(self.keys[0]).ljust(int(self.lengths[0]), b"\0")
            bad = first <= after
        if bad:
            raise CorruptDataError("a key listing is not in strictly increasing order")


@dataclass
class DiffChunk:
    """What one step of :func:`diff` settled."""

    send: list[bytes] = field(default_factory=list)
    delete: list[bytes] = field(default_factory=list)
    same: int = 0


class _Side:
    """One listing: the chunk in hand, pulled from the stream when empty."""

    def __init__(self, chunks: Iterable[Keys]) -> None:
        self._it = iter(chunks)
        self.buf = Keys.empty()
        self.done = False
        self._last: bytes | None = None

    def fill(self) -> None:
        while not len(self.buf) and not self.done:
            got = next(self._it, None)
            if got is None:
                self.done = True
                return
            got.check_sorted(self._last)
            if len(got):
                self._last = got.last()
            self.buf = got

    @property
    def empty(self) -> bool:
        return not len(self.buf)

    def take_all(self) -> Keys:
        out, self.buf = self.buf, Keys.empty()
        return out


def _merge(a: Keys, b: Keys) -> DiffChunk:
    """Settle two sorted runs of the same key width."""
    if not len(b):
        return DiffChunk(send=a.real())
    pos = np.searchsorted(b.keys, a.keys)
    posc = np.minimum(pos, len(b) - 1)
    found = (pos < len(b)) & (b.keys[posc] == a.keys)
    same = found & (b.digests[posc] == a.digests).all(axis=1)
    matched = np.zeros(len(b), bool)
    matched[posc[found]] = True
    return DiffChunk(
        send=a.real(np.flatnonzero(~same)),
        delete=b.real(np.flatnonzero(~matched)),
        same=int(same.sum()),
    )


def diff(sender: Iterable[Keys], receiver: Iterable[Keys]) -> Iterator[DiffChunk]:
    """Compare two sorted listings chunk by chunk (see the module doc)."""
    a, b = _Side(sender), _Side(receiver)
    while True:
        a.fill()
        b.fill()
        if a.empty and b.empty:
            return
        if b.empty:
            yield DiffChunk(send=a.take_all().real())
            continue
        if a.empty:
            yield DiffChunk(delete=b.take_all().real())
            continue
        width = max(a.buf.keys.dtype.itemsize, b.buf.keys.dtype.itemsize)
        ka, kb = a.buf.widened(width), b.buf.widened(width)
        bound = min(ka.keys[-1], kb.keys[-1])
        sa, a.buf = ka.split(int(np.searchsorted(ka.keys, bound, side="right")))
        sb, b.buf = kb.split(int(np.searchsorted(kb.keys, bound, side="right")))
        yield _merge(sa, sb)


def chunked(pairs: Iterable[tuple[bytes, bytes]], size: int = 8192) -> Iterator[Keys]:
    """Group ``(tkey, digest)`` pairs into :class:`Keys` runs of ``size``."""
    run: list[tuple[bytes, bytes]] = []
    for p in pairs:
        run.append(p)
        if len(run) >= size:
            yield Keys.from_pairs(run)
            run = []
    if run:
        yield Keys.from_pairs(run)
