"""Sparse volumes of a body or supervoxel, from its label index (DVID's ``sparsevol`` family).

A body's sparse volume is found from its index alone: the scale-0 blocks it
names (halved per scale), only those decoded, on the block thread pool, each
into bit rows of the voxels whose supervoxel belongs to the body, in its place
in a row of blocks along x (:func:`~.blockruns.block_bits`); runs are found on
those rows' 64-bit words, joined across block borders in x as they come.

Formats (DVID_API.md §6.5, all little-endian):

* legacy RLE: ``u8 0 | u8 3 | u8 0 | u8 0 | u32 0 | u32 #spans`` then
  ``int32 x, y, z, length`` per span (:func:`encode_rles`, :func:`decode_rles`);
* coarse: the same with block coordinates;
* ``format=blocks``: ``3 x u32 gx gy gz | u64 label``, then per block its voxel
  offset, a flag and 8^3 sub-block masks (:func:`encode_binary_blocks`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from dvidctl.datatypes.imageblk.blockvolume import BlockVolume
from dvidctl.datatypes.imageblk.codec import decode_into
from dvidctl.datatypes.labelmap.counting import merge_runs
from dvidctl.datatypes.labelmap.labelindex import decode_block_ids, encode_block_ids
from dvidctl.datatypes.labelmap.segmentruns import target_runs
from dvidctl.errors import BadRequestError
from dvidctl.geometry import Box

_HEADER = struct.Struct("<BBBBII")
_CHUNK = 256  # blocks fetched per store call


@dataclass(frozen=True)
class Runs:
    """Runs along +x: ``starts`` ``(n, 3)`` ZYX int64 and ``lengths`` ``(n,)``."""

    starts: np.ndarray
    lengths: np.ndarray

    @property
    def num_voxels(self) -> int:
        """Voxels covered."""
        return int(self.lengths.sum())

    def voxels_zyx(self) -> np.ndarray:
        """Every voxel as ``(n, 3)`` ZYX (for tests and small bodies)."""
        rep = np.repeat(self.starts, self.lengths, axis=0)
        first = np.repeat(np.cumsum(self.lengths) - self.lengths, self.lengths)
        rep[:, 2] += np.arange(len(rep)) - first
        return rep


def block_bounds_filter(
    coords: np.ndarray, bs: tuple[int, int, int], bounds: Box | None
) -> np.ndarray:
    """The block coordinates whose blocks meet ``bounds`` (all when None)."""
    if bounds is None or not len(coords):
        return coords
    lo = coords * np.asarray(bs)
    hi = lo + np.asarray(bs)
    keep = np.all((hi > np.asarray(bounds.start)) & (lo < np.asarray(bounds.stop)), axis=1)
    return coords[keep]


def scaled_blocks(coords0: np.ndarray, scale: int) -> np.ndarray:
    """Scale-0 block coordinates -> the blocks covering them at ``scale`` (sorted, unique)."""
    c = np.asarray(coords0, np.int64).reshape(-1, 3)
    if scale:
        c = c >> scale  # floor division by 2**scale, negatives included
    return np.unique(c, axis=0) if len(c) else c


@dataclass(frozen=True)
class BlockTargets:
    """The blocks of a label at one scale and, per block, the supervoxels to look for.

    ``coords`` ``(n, 3)`` ZYX block coordinates; block ``i``'s supervoxels are
    ``svs[offsets[i]:offsets[i + 1]]`` (ascending); ``full[i]`` when the label fills
    the block (known from the index counts at scale 0: the block need not be read).
    """

    coords: np.ndarray
    offsets: np.ndarray
    svs: np.ndarray
    full: np.ndarray

    def labels(self, i: int) -> np.ndarray:
        """The supervoxels of block ``i``."""
        return self.svs[self.offsets[i] : self.offsets[i + 1]]


def index_targets(
    blocks: np.ndarray,
    svs: np.ndarray,
    counts: np.ndarray,
    scale: int,
    bs: tuple[int, int, int],
    bounds: Box | None = None,
) -> BlockTargets:
    """The blocks at ``scale`` that index rows ``(block id, sv, count)`` name, and their svs.

    A block at scale s holds the downsampled voxels of the scale-0 blocks under it,
    so its supervoxels are those of its children (a downsampled label is one of the
    labels it summarises). ``bounds`` (voxel space of ``scale``) drops blocks outside.
    """
    b = np.asarray(blocks, np.uint64)
    if not len(b):
        z = np.zeros(0, np.int64)
        return BlockTargets(z.reshape(0, 3), np.zeros(1, np.int64), z.astype(np.uint64), z > 0)
    if scale:
        b = encode_block_ids(decode_block_ids(b) >> scale)  # floor division by 2**scale
    uniq, inv = np.unique(b, return_inverse=True)
    coords = decode_block_ids(uniq)
    zyx = np.lexsort((coords[:, 2], coords[:, 1], coords[:, 0]))  # blocks in ZYX order
    rank = np.empty(len(zyx), np.int64)
    rank[zyx] = np.arange(len(zyx))
    coords, inv = coords[zyx], rank[inv.reshape(-1)]
    sv = np.asarray(svs, np.uint64)
    order = np.lexsort((sv, inv))
    g, s = inv[order], sv[order]
    keep = np.ones(len(g), bool)
    keep[1:] = (g[1:] != g[:-1]) | (s[1:] != s[:-1])
    g, s = g[keep], s[keep]
    offsets = np.searchsorted(g, np.arange(len(uniq) + 1))
    if scale == 0:
        per_block = np.bincount(inv, np.asarray(counts, np.float64), len(uniq))
        full = per_block == float(bs[0] * bs[1] * bs[2])
    else:
        full = np.zeros(len(uniq), bool)
    if bounds is not None:
        lo = coords * np.asarray(bs)
        hi = lo + np.asarray(bs)
        inside = np.all((hi > np.asarray(bounds.start)) & (lo < np.asarray(bounds.stop)), axis=1)
        if not inside.all():
            idx = np.flatnonzero(inside)
            parts = [s[offsets[i] : offsets[i + 1]] for i in idx.tolist()]
            lens = offsets[idx + 1] - offsets[idx]
            offsets = np.r_[0, np.cumsum(lens)]
            s = np.concatenate(parts) if parts else s[:0]
            coords, full = coords[idx], full[idx]
    return BlockTargets(coords, offsets, s, full)


def sparse_runs(vol: BlockVolume, targets: BlockTargets, scale: int, bounds: Box | None) -> Runs:
    """Runs of the voxels of ``vol`` at ``scale`` in the target blocks, of their supervoxels.

    Blocks the label fills are not read; the others are decoded on the block pool
    into bit rows of rows of blocks along x, whose runs come out joined across block
    borders (:func:`~.segmentruns.target_runs`).
    """
    if not len(targets.coords):
        return Runs(np.zeros((0, 3), np.int64), np.zeros(0, np.int64))
    starts, lens = target_runs(vol, targets, scale)
    if bounds is not None and len(lens):
        starts, lens = clip_runs(starts, lens, bounds)
    return Runs(starts, lens)


def clip_runs(starts: np.ndarray, lens: np.ndarray, bounds: Box) -> tuple[np.ndarray, np.ndarray]:
    """Cut runs to ``bounds`` (runs outside dropped)."""
    (z0, y0, x0), (z1, y1, x1) = bounds.start, bounds.stop
    s = starts.copy()
    end = s[:, 2] + lens
    s[:, 2] = np.maximum(s[:, 2], x0)
    end = np.minimum(end, x1)
    keep = (end > s[:, 2]) & (s[:, 0] >= z0) & (s[:, 0] < z1) & (s[:, 1] >= y0) & (s[:, 1] < y1)
    return s[keep], (end - s[:, 2])[keep]


def mask_runs(mask: np.ndarray, offset_zyx: tuple[int, int, int] = (0, 0, 0)) -> Runs:
    """Runs along x of the set voxels of a 3D mask whose first voxel is at ``offset_zyx``."""
    m = np.asarray(mask)
    if m.ndim != 3:
        raise BadRequestError(f"a split mask must be 3D (z, y, x), got {m.ndim}D")
    if m.dtype != bool:
        if not np.issubdtype(m.dtype, np.integer) or (m.size and (m.min() < 0 or m.max() > 1)):
            raise BadRequestError("a split mask must be boolean or hold only 0 and 1")
        m = m.astype(bool)
    nz, ny, nx = m.shape
    pad = np.zeros((nz * ny, nx + 1), np.int8)
    pad[:, :nx] = m.reshape(-1, nx)
    edge = np.diff(pad.reshape(-1), prepend=np.int8(0))
    s, e = np.flatnonzero(edge == 1), np.flatnonzero(edge == -1)
    row, x = np.divmod(s, nx + 1)
    z, y = np.divmod(row, ny)
    starts = np.stack([z, y, x], axis=1) + np.asarray(offset_zyx, np.int64)
    return Runs(starts, e - s)


def block_runs(coords: np.ndarray) -> Runs:
    """Runs along x of a set of block coordinates (coarse sparse volumes)."""
    c = np.asarray(coords, np.int64).reshape(-1, 3)
    return Runs(*merge_runs(c, np.ones(len(c), np.int64)))


# --------------------------------------------------------------------- formats
def encode_rles(runs: Runs, *, header: bool = True) -> bytes:
    """DVID's legacy RLE bytes (``header=False``: ``srles``, spans only)."""
    s = runs.starts
    body = np.column_stack([s[:, 2], s[:, 1], s[:, 0], runs.lengths]).astype("<i4").tobytes()
    if not header:
        return body
    return _HEADER.pack(0, 3, 0, 0, 0, len(runs.lengths)) + body


def decode_rles(data: bytes | bytearray | memoryview) -> Runs:
    """Parse legacy RLE bytes; malformed input raises BadRequestError."""
    buf = memoryview(data).cast("B")
    if len(buf) < _HEADER.size:
        raise BadRequestError(f"RLE body has {len(buf)} bytes, less than its 12-byte header")
    desc, dims, run_dim, _, _, nspans = _HEADER.unpack_from(buf, 0)
    if desc != 0 or dims != 3 or run_dim != 0:
        raise BadRequestError(
            f"RLE header must be binary, 3 dimensions, runs along x; got {desc},{dims},{run_dim}"
        )
    if len(buf) != _HEADER.size + 16 * nspans:
        raise BadRequestError(
            f"RLE body says {nspans} spans but has {len(buf) - _HEADER.size} bytes of spans"
        )
    arr = np.frombuffer(buf, "<i4", offset=_HEADER.size).reshape(-1, 4).astype(np.int64)
    if len(arr) and arr[:, 3].min() <= 0:
        raise BadRequestError("RLE spans must have a positive length")
    starts = np.stack([arr[:, 2], arr[:, 1], arr[:, 0]], axis=1)
    return Runs(starts, arr[:, 3])


def encode_coarse_spans(runs: Runs) -> bytes:
    """Spans of a coarse sparse volume, without the header."""
    return encode_rles(runs, header=False)


def encode_binary_blocks(
    vol: BlockVolume,
    targets: BlockTargets,
    scale: int,
    label: int,
    bounds: Box | None,
) -> bytes:
    """``format=blocks``: per block a flag and, for mixed ones, 8^3 sub-block bitmasks."""
    bs = vol.spec.block_shape
    gz, gy, gx = (b // 8 for b in bs)
    out = [struct.pack("<IIIQ", gx, gy, gz, label)]
    block = np.empty(bs, vol.spec.dtype)
    mask = np.empty(bs, bool)
    more = np.empty(bs, bool)
    where = {tuple(c): i for i, c in enumerate(targets.coords.tolist())}
    for i in range(0, len(targets.coords), _CHUNK):
        found = vol.payloads(scale, targets.coords[i : i + _CHUNK])
        for (z, y, x), payload in sorted(found.items()):
            decode_into(payload, block)
            labels = targets.labels(where[z, y, x])
            np.equal(block, labels[0], out=mask)
            for lab in labels[1:]:
                mask |= np.equal(block, lab, out=more)
            if bounds is not None:
                mask &= _bounds_mask(bs, (z, y, x), bounds)
            head = struct.pack("<iii", x * bs[2], y * bs[1], z * bs[0])
            if not mask.any():
                continue
            if mask.all():
                out.append(head + b"\x01")
                continue
            sub = mask.reshape(gz, 8, gy, 8, gx, 8).transpose(0, 2, 4, 1, 3, 5).reshape(-1, 512)
            flags = np.where(sub.all(axis=1), 1, np.where(sub.any(axis=1), 2, 0))
            bits = np.packbits(sub, axis=1, bitorder="little")
            parts = [head, b"\x02"]
            mixed = flags == 2
            # one flag byte per sub-block, its 64 mask bytes after the mixed ones
            rec = np.zeros((len(sub), 65), np.uint8)
            rec[:, 0] = flags
            rec[mixed, 1:] = bits[mixed]
            lens = np.where(mixed, 65, 1)
            keep = np.arange(65)[None, :] < lens[:, None]
            parts.append(rec[keep].tobytes())
            out.append(b"".join(parts))
    return b"".join(out)


def _bounds_mask(bs: tuple[int, int, int], coord: tuple[int, int, int], bounds: Box) -> np.ndarray:
    grids = [
        (np.arange(n) + c * n >= lo) & (np.arange(n) + c * n < hi)
        for n, c, lo, hi in zip(bs, coord, bounds.start, bounds.stop, strict=True)
    ]
    return grids[0][:, None, None] & grids[1][None, :, None] & grids[2][None, None, :]


__all__ = [
    "BlockTargets",
    "Runs",
    "block_runs",
    "decode_rles",
    "encode_binary_blocks",
    "encode_coarse_spans",
    "encode_rles",
    "index_targets",
    "mask_runs",
    "scaled_blocks",
    "sparse_runs",
]
