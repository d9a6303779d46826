"""Sparse volumes of a body or supervoxel, from its label index (DVID's ``sparsevol`` family).

A body's sparse volume is found from its index alone: the scale-0 blocks it
names (halved per scale), only those decoded, on the block thread pool, and
each turned into runs along x of the voxels whose supervoxel belongs to the
body (:func:`~.counting.member_runs`), then joined across block borders.

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

from dvidctl.datatypes.imageblk.blockvolume import BlockVolume, parallel_map
from dvidctl.datatypes.imageblk.codec import decode_into
from dvidctl.datatypes.imageblk.scratch import scratch
from dvidctl.datatypes.labelmap.counting import member_runs, merge_runs
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


def sparse_runs(
    vol: BlockVolume, coords: np.ndarray, svs: np.ndarray, scale: int, bounds: Box | None
) -> Runs:
    """Runs of the voxels of ``vol`` at ``scale`` in blocks ``coords`` whose label is in ``svs``."""
    bs = vol.spec.block_shape
    labels = np.unique(np.asarray(svs, np.uint64))
    coords = block_bounds_filter(np.asarray(coords, np.int64).reshape(-1, 3), bs, bounds)
    slabs: dict[int, list[tuple[tuple[int, int, int], np.ndarray, np.ndarray]]] = {}
    for i in range(0, len(coords), _CHUNK):
        found = vol.payloads(scale, coords[i : i + _CHUNK])

        def one(
            item: tuple[tuple[int, int, int], memoryview],
        ) -> tuple[tuple[int, int, int], np.ndarray, np.ndarray]:
            coord, payload = item
            block = decode_into(payload, scratch(bs, vol.spec.dtype, "sparsevol"))
            s, n = member_runs(block, labels)
            return coord, s, n

        for coord, s, n in parallel_map(one, sorted(found.items()), min_items=2):
            if len(n):
                slabs.setdefault(coord[0], []).append((coord, s, n))
    starts, lens = _assemble(slabs, bs)
    if bounds is not None and len(lens):
        starts, lens = clip_runs(starts, lens, bounds)
    return Runs(starts, lens)


def _assemble(
    slabs: dict[int, list[tuple[tuple[int, int, int], np.ndarray, np.ndarray]]],
    bs: tuple[int, int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """Per-block runs (block-local ZYX order) -> global ZYX order, joined across blocks.

    The blocks of one z slab of blocks, concatenated in (y, x) block order, are
    interleaved by a stable sort on a small key (local z, block row, local y): no
    global sort of every run.
    """
    parts_s: list[np.ndarray] = []
    parts_n: list[np.ndarray] = []
    for bz in sorted(slabs):
        group = sorted(slabs[bz], key=lambda g: (g[0][1], g[0][2]))
        s = np.concatenate([g[1] for g in group])
        n = np.concatenate([g[2] for g in group])
        by = np.repeat([g[0][1] for g in group], [len(g[2]) for g in group])
        bx = np.repeat([g[0][2] for g in group], [len(g[2]) for g in group])
        by0 = int(by.min())
        nby = int(by.max()) - by0 + 1
        if len(group) > 1:
            key = (s[:, 0] * nby + (by - by0)) * bs[1] + s[:, 1]
            small = bs[0] * nby * bs[1] <= 1 << 16
            order = np.argsort(key.astype(np.uint16) if small else key, kind="stable")
            s, n, by, bx = s[order], n[order], by[order], bx[order]
        g = np.empty_like(s)
        g[:, 0] = s[:, 0] + bz * bs[0]
        g[:, 1] = s[:, 1] + by * bs[1]
        g[:, 2] = s[:, 2] + bx * bs[2]
        parts_s.append(g)
        parts_n.append(n)
    if not parts_s:
        return np.zeros((0, 3), np.int64), np.zeros(0, np.int64)
    s, n = np.concatenate(parts_s), np.concatenate(parts_n)
    join = np.zeros(len(n), bool)
    join[1:] = (s[1:, 0] == s[:-1, 0]) & (s[1:, 1] == s[:-1, 1]) & (s[1:, 2] == s[:-1, 2] + n[:-1])
    if not join.any():
        return s, n
    heads = np.flatnonzero(~join)
    return s[heads], np.add.reduceat(n, heads)


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
    coords: np.ndarray,
    svs: np.ndarray,
    scale: int,
    label: int,
    bounds: Box | None,
) -> bytes:
    """``format=blocks``: per block a flag and, for mixed ones, 8^3 sub-block bitmasks."""
    bs = vol.spec.block_shape
    gz, gy, gx = (b // 8 for b in bs)
    out = [struct.pack("<IIIQ", gx, gy, gz, label)]
    labels = np.unique(np.asarray(svs, np.uint64))
    coords = block_bounds_filter(np.asarray(coords, np.int64).reshape(-1, 3), bs, bounds)
    block = np.empty(bs, vol.spec.dtype)
    for i in range(0, len(coords), _CHUNK):
        found = vol.payloads(scale, coords[i : i + _CHUNK])
        for (z, y, x), payload in sorted(found.items()):
            mask = np.isin(decode_into(payload, block), labels)
            if bounds is not None:
                mask &= _bounds_mask(bs, (z, y, x), bounds)
            head = struct.pack("<iii", x * bs[2], y * bs[1], z * bs[0])
            if not mask.any():
                continue
            if mask.all():
                out.append(head + b"\x01")
                continue
            sub = mask.reshape(gz, 8, gy, 8, gx, 8).transpose(0, 2, 4, 1, 3, 5).reshape(-1, 512)
            parts = [head, b"\x02"]
            full = np.asarray(sub.all(axis=1))
            empty = ~np.asarray(sub.any(axis=1))
            bits = np.packbits(sub, axis=1, bitorder="little")
            for k in range(len(sub)):
                if empty[k]:
                    parts.append(b"\x00")
                elif full[k]:
                    parts.append(b"\x01")
                else:
                    parts.append(b"\x02" + bits[k].tobytes())
            out.append(b"".join(parts))
    return b"".join(out)


def _bounds_mask(bs: tuple[int, int, int], coord: tuple[int, int, int], bounds: Box) -> np.ndarray:
    grids = [
        (np.arange(n) + c * n >= lo) & (np.arange(n) + c * n < hi)
        for n, c, lo, hi in zip(bs, coord, bounds.start, bounds.stop, strict=True)
    ]
    return grids[0][:, None, None] & grids[1][None, :, None] & grids[2][None, None, :]


__all__ = [
    "Runs",
    "block_runs",
    "decode_rles",
    "encode_binary_blocks",
    "encode_coarse_spans",
    "encode_rles",
    "mask_runs",
    "scaled_blocks",
    "sparse_runs",
]
