"""DVID's compressed label Block format (``datatype/common/labels/compressed.go``).

A Block holds ``nx*ny*nz`` uint64 labels (each dimension a multiple of 8, at
most 1024) split into 8x8x8 sub-blocks. Byte layout, all little-endian
(DVID_API.md section 6.3)::

    uint32 gx, gy, gz          sub-blocks per dimension (n = 8 * g)
    uint32 N                   block-level label count, >= 1
    N * uint64                 label table
    -- only if N > 1 --
    Nsb * uint16               Ns[i]: distinct labels in sub-block i (z-major order)
    sum(Ns) * uint32           per sub-block, Ns[i] indices into the label table
    packed values              per sub-block with Ns[i] >= 2: 512 values of
                               b = bit_length(Ns[i] - 1) bits, MSB-first, voxel
                               order z, y, x within the sub-block

Because ``512 * b`` is always a multiple of 8, a sub-block's values take exactly
``64 * b`` bytes, so DVID's "pad to a byte" rule never adds bytes.

Everything here is vectorized over sub-blocks: decoding and encoding a 64^3
block costs a handful of numpy passes, no per-voxel Python.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from dvidctl.errors import CorruptDataError

SUB = 8
"""Edge of a sub-block in voxels."""
SUB_VOXELS = SUB * SUB * SUB
MAX_BLOCK_SIZE = 1024
MAX_SUBBLOCKS_PER_DIM = MAX_BLOCK_SIZE // SUB
HEADER_BYTES = 16

_FEW_LABELS = 16
"""Up to this many labels in a sub-block, the encoder ranks by thresholds, not argsort."""
_POS_BITS = 9
_POS = np.arange(SUB_VOXELS, dtype=np.uint64)
_U16 = np.dtype("<u2")
_U32 = np.dtype("<u4")
_U64 = np.dtype("<u8")


class LabelBlockError(CorruptDataError):
    """Bytes that are not a valid DVID compressed label Block."""

    kind = "bad-block"


@dataclass(frozen=True)
class _Layout:
    """Parsed, validated view of a Block serialization (arrays alias the buffer).

    For a solid block (N == 1) ``ns``, ``indices`` and ``value_offsets`` are empty.
    """

    grid: tuple[int, int, int]
    labels: np.ndarray
    ns: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    value_offsets: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        gx, gy, gz = self.grid
        return gz * SUB, gy * SUB, gx * SUB


def _exclusive_cumsum(a: np.ndarray) -> np.ndarray:
    """Start offsets for consecutive runs of the given lengths: [0, a0, a0+a1, ...]."""
    out = np.zeros(a.size, np.int64)
    np.cumsum(a[:-1], out=out[1:])
    return out


def _bits_for(ns: np.ndarray) -> np.ndarray:
    """Bits per packed value for each sub-block (DVID ``bitsFor``: n<2 -> 0, else bitlen(n-1))."""
    n = ns.astype(np.int64)
    bits = np.zeros(n.shape, np.int64)
    multi = n >= 2
    # frexp gives the exponent e with m * 2**e == x and 0.5 <= m < 1, i.e. the bit length.
    bits[multi] = np.frexp((n[multi] - 1).astype(np.float64))[1]
    return bits


def _as_bytes(buf: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    try:
        return np.frombuffer(buf, dtype=np.uint8)
    except (TypeError, ValueError) as exc:
        raise LabelBlockError(
            f"label block must be a contiguous bytes-like object: {exc}"
        ) from None


def _grid(data: np.ndarray) -> tuple[int, int, int]:
    if data.size < 24:
        raise LabelBlockError(f"label block is {data.size} bytes; at least 24 are required")
    gx, gy, gz = (int(v) for v in data[:12].view(_U32))
    for name, g in (("gx", gx), ("gy", gy), ("gz", gz)):
        if not 1 <= g <= MAX_SUBBLOCKS_PER_DIM:
            raise LabelBlockError(
                f"label block header {name}={g} is out of range 1..{MAX_SUBBLOCKS_PER_DIM}"
            )
    return gx, gy, gz


def _need(data: np.ndarray, end: int, what: str) -> None:
    if data.size < end:
        raise LabelBlockError(
            f"label block truncated: {what} needs {end} bytes but only {data.size} are present"
        )


def _parse(buf: bytes | bytearray | memoryview | np.ndarray) -> _Layout:
    """Validate the structure of a serialized Block (not the packed values)."""
    data = _as_bytes(buf)
    gx, gy, gz = _grid(data)
    n_labels = int(data[12:16].view(_U32)[0])
    if n_labels < 1:
        raise LabelBlockError("label block has 0 labels (N must be >= 1)")
    pos = HEADER_BYTES + 8 * n_labels
    _need(data, pos, f"a label table of {n_labels} labels")
    labels = data[HEADER_BYTES:pos].view(_U64)
    if n_labels == 1:
        empty = np.zeros(0, np.int64)
        return _Layout((gx, gy, gz), labels, empty, empty, data, empty)
    nsb = gx * gy * gz
    _need(data, pos + 2 * nsb, f"{nsb} sub-block label counts")
    ns = data[pos : pos + 2 * nsb].view(_U16)
    pos += 2 * nsb
    if int(ns.max()) > SUB_VOXELS:
        bad = int(np.argmax(ns > SUB_VOXELS))
        raise LabelBlockError(f"sub-block {bad} claims {int(ns[bad])} labels (max {SUB_VOXELS})")
    n_idx = int(ns.sum(dtype=np.int64))
    _need(data, pos + 4 * n_idx, f"{n_idx} sub-block label indices")
    indices = data[pos : pos + 4 * n_idx].view(_U32)
    pos += 4 * n_idx
    if n_idx and int(indices.max()) >= n_labels:
        bad = int(np.argmax(indices >= n_labels))
        raise LabelBlockError(
            f"sub-block label index #{bad} is {int(indices[bad])}, "
            f"out of range for a table of {n_labels} labels"
        )
    sizes = 64 * _bits_for(ns)
    _need(data, pos + int(sizes.sum()), "the packed sub-block values")
    return _Layout((gx, gy, gz), labels, ns, indices, data, _exclusive_cumsum(sizes) + pos)


def label_block_shape(buf: bytes | bytearray | memoryview | np.ndarray) -> tuple[int, int, int]:
    """Return the (nz, ny, nx) voxel shape from a Block header without decoding.

    Raises:
        LabelBlockError: If the header is missing or out of range.
    """
    gx, gy, gz = _grid(_as_bytes(buf))
    return gz * SUB, gy * SUB, gx * SUB


@lru_cache(maxsize=16)
def _unpack_plan(bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.uint16]:
    """Byte positions and shifts to read 512 MSB-first ``bits``-wide values via 16-bit windows."""
    start = np.arange(SUB_VOXELS, dtype=np.int64) * bits
    hi = start >> 3
    head = start & 7
    lo = np.where(head + bits > 8, hi + 1, hi)  # never reads past the sub-block's bytes
    shift = (16 - head - bits).astype(np.uint16)
    return hi, lo, shift, np.uint16((1 << bits) - 1)


def _unpack_values(data: np.ndarray, offsets: np.ndarray, bits: int) -> np.ndarray:
    """Return the (k, 512) packed values (uint16, or uint8 for 1 bit) starting at ``offsets``."""
    base = offsets[:, None]
    if bits == 1:  # the common boundary case; numpy unpacks single bits MSB-first natively
        return np.unpackbits(data[base + np.arange(64)], axis=1)
    hi, lo, shift, mask = _unpack_plan(bits)
    word = data[base + hi].astype(np.uint16)
    word <<= 8
    word |= data[base + lo]
    word >>= shift
    word &= mask
    return word


def _check_out(out: np.ndarray | None, shape: tuple[int, int, int]) -> np.ndarray:
    if out is None:
        return np.empty(shape, dtype=np.uint64)
    if out.dtype != np.uint64 or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError("out must be a writeable, C-contiguous native uint64 array")
    if out.shape != shape:
        raise LabelBlockError(f"label block has shape {shape} (ZYX) but out has shape {out.shape}")
    return out


def decode_label_block(
    buf: bytes | bytearray | memoryview | np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """Decode a serialized Block into a uint64 ZYX volume.

    Args:
        buf: The Block serialization (not gzipped). Trailing bytes are ignored, as in DVID.
        out: Optional destination of exactly the block's shape, uint64, C-contiguous.
            Reusing one buffer across blocks avoids a 2 MiB allocation per 64^3 block.

    Returns:
        The (nz, ny, nx) uint64 volume (``out`` itself when given).

    Raises:
        LabelBlockError: If the bytes are truncated, N is 0, a dimension is out of range,
            or any table index or packed value is out of range.
        ValueError: If ``out`` has the wrong dtype or layout.
    """
    lay = _parse(buf)
    vol = _check_out(out, lay.shape)
    if lay.ns.size == 0:
        vol.fill(lay.labels[0])
        return vol
    gx, gy, gz = lay.grid
    sub_view = vol.reshape(gz, SUB, gy, SUB, gx, SUB).transpose(0, 2, 4, 1, 3, 5)
    starts = _exclusive_cumsum(lay.ns)
    index_labels = lay.labels[lay.indices]
    bits = _bits_for(lay.ns)
    for b in np.unique(bits):
        sel = np.flatnonzero(bits == b)
        where = np.unravel_index(sel, (gz, gy, gx))
        sub_view[where] = _decode_group(lay, sel, int(b), starts[sel], index_labels)
    return vol


def _decode_group(
    lay: _Layout, sel: np.ndarray, bits: int, starts: np.ndarray, index_labels: np.ndarray
) -> np.ndarray:
    """Labels of the sub-blocks ``sel`` (all with ``bits``-bit values), shaped (k, 8, 8, 8).

    Solid sub-blocks (bits == 0) come back as (k, 1, 1, 1) for broadcasting.
    """
    count = lay.ns[sel]
    if bits == 0:
        lab = np.zeros(sel.size, np.uint64)  # Ns == 0 sub-blocks decode to label 0
        one = count == 1
        lab[one] = index_labels[starts[one]]
        return lab.reshape(-1, 1, 1, 1)
    values = _unpack_values(lay.data, lay.value_offsets[sel], bits)
    if (count & (count - 1)).any():  # some counts are not powers of two
        over = values >= count[:, None]
        if over.any():
            row = int(np.argmax(over.any(axis=1)))
            raise LabelBlockError(
                f"sub-block {int(sel[row])} has a packed value >= its {int(count[row])} labels"
            )
    flat = values.astype(np.int64)
    flat += starts[:, None]
    return index_labels[flat].reshape(-1, SUB, SUB, SUB)


def label_block_labels(buf: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    """Return the sorted unique labels of a Block without decoding its voxels.

    The result is the labels referenced by sub-block indices, plus 0 when some
    sub-block has Ns = 0 (such sub-blocks decode to 0). Label-table entries that no
    sub-block references (e.g. zeroed by a DVID merge) are not reported. An index a
    sub-block lists but no voxel uses would be reported; DVID's encoder never writes one.

    Raises:
        LabelBlockError: If the Block is malformed.
    """
    lay = _parse(buf)
    if lay.ns.size == 0:
        return lay.labels[:1].astype(np.uint64)
    used = lay.labels[np.unique(lay.indices)].astype(np.uint64)
    if (lay.ns == 0).any():
        used = np.append(used, np.uint64(0))
    return np.unique(used)


@lru_cache(maxsize=16)
def _pack_plan(bits: int) -> tuple[tuple[int, int, int], ...]:
    """(byte q, value i, left shift) terms packing 8 values of ``bits`` bits into ``bits`` bytes."""
    terms = []
    for q in range(bits):
        for i in range(8):
            if i * bits < 8 * q + 8 and (i + 1) * bits > 8 * q:
                terms.append((q, i, 8 * q + 8 - (i + 1) * bits))
    return tuple(terms)


def _pack_values(values: np.ndarray, bits: int) -> np.ndarray:
    """Pack (k, 512) uint16 values MSB-first into (k, 64 * bits) bytes."""
    k = values.shape[0]
    groups = values.reshape(k, SUB_VOXELS // 8, 8)
    packed = np.zeros((k, SUB_VOXELS // 8, bits), np.uint16)
    for q, i, shift in _pack_plan(bits):
        if shift >= 0:
            packed[:, :, q] |= groups[:, :, i] << np.uint16(shift)
        else:
            packed[:, :, q] |= groups[:, :, i] >> np.uint16(-shift)
    return packed.astype(np.uint8).reshape(k, 64 * bits)


def _as_label_volume(vol: np.ndarray) -> np.ndarray:
    vol = np.asarray(vol)
    if vol.ndim != 3:
        raise ValueError(f"label volume must be 3-D (ZYX), got shape {vol.shape}")
    if not all(SUB <= n <= MAX_BLOCK_SIZE and n % SUB == 0 for n in vol.shape):
        raise ValueError(
            f"label block dims must be multiples of {SUB} in {SUB}..{MAX_BLOCK_SIZE}, "
            f"got {vol.shape}"
        )
    if not np.issubdtype(vol.dtype, np.integer):
        raise ValueError(f"label volume must have an integer dtype, got {vol.dtype}")
    if np.issubdtype(vol.dtype, np.signedinteger) and (vol < 0).any():
        raise ValueError("label volume has negative labels")
    return vol.astype(np.uint64, copy=False)


def _sub_block_rows(vol: np.ndarray) -> np.ndarray:
    """(Nsb, 512) copy of the volume, one row per sub-block in z-major, voxel ZYX order."""
    nz, ny, nx = vol.shape
    six = vol.reshape(nz // SUB, SUB, ny // SUB, SUB, nx // SUB, SUB).transpose(0, 2, 4, 1, 3, 5)
    return six.reshape(-1, SUB_VOXELS)


def encode_label_block(vol: np.ndarray) -> bytes:
    """Encode a uint64 ZYX volume as a DVID compressed label Block.

    Solid volumes give the 24-byte form. Solid sub-blocks get Ns = 1 and no values;
    the others get a sorted per-sub-block index list and ``bit_length(Ns-1)``-bit values.
    The label table is sorted ascending (DVID accepts any order).

    Args:
        vol: (nz, ny, nx) array of non-negative integers; each dim a multiple of 8, <= 1024.

    Returns:
        The serialization (what DVID's ``Block.MarshalBinary`` would store).

    Raises:
        ValueError: If the shape or dtype is unsuitable.
    """
    vol = _as_label_volume(vol)
    nz, ny, nx = vol.shape
    header = np.array([nx // SUB, ny // SUB, nz // SUB], _U32)
    rows = _sub_block_rows(vol)
    first = rows[:, 0]
    solid = (rows == first[:, None]).all(axis=1)
    if solid.all() and (first == first[0]).all():
        return header.tobytes() + np.array([1], _U32).tobytes() + first[:1].astype(_U64).tobytes()
    mixed = np.flatnonzero(~solid)
    values, row_labels, counts = _rank_rows(rows[mixed])
    table = np.unique(np.concatenate([first[solid], row_labels]))
    ns = np.ones(rows.shape[0], np.int64)
    ns[mixed] = counts
    starts = _exclusive_cumsum(ns)
    indices = np.empty(int(ns.sum()), _U32)
    indices[starts[solid]] = np.searchsorted(table, first[solid])
    within = np.arange(row_labels.size) - np.repeat(_exclusive_cumsum(counts), counts)
    indices[np.repeat(starts[mixed], counts) + within] = np.searchsorted(table, row_labels)
    packed = _pack_all(values, _bits_for(counts))
    head = header.tobytes() + np.array([table.size], _U32).tobytes()
    body = table.astype(_U64).tobytes() + ns.astype(_U16).tobytes() + indices.tobytes()
    return head + body + packed


def _rank_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row ranks of each value among that row's sorted distinct values.

    Rows with few distinct labels (the usual case) get their ranks by counting
    thresholds passed; rows with many get them from a full per-row argsort.

    Returns:
        ``(values, row_labels, counts)``: (k, 512) uint16 ranks, the concatenated
        sorted distinct labels of each row, and the number of distinct labels per row.
    """
    ordered = np.sort(rows, axis=1)
    new = np.empty(rows.shape, bool)
    new[:, 0] = True
    np.not_equal(ordered[:, 1:], ordered[:, :-1], out=new[:, 1:])
    counts = new.sum(axis=1, dtype=np.int64)
    row_labels = ordered[new]
    row_start = _exclusive_cumsum(counts)
    values = np.empty(rows.shape, np.uint16)
    big = counts > _FEW_LABELS
    for n in np.unique(counts[~big]):
        sel = np.flatnonzero(counts == n)
        thresholds = row_labels[row_start[sel][:, None] + np.arange(1, n)]
        values[sel] = _rank_by_thresholds(rows[sel], thresholds)
    if big.any():
        sel = np.flatnonzero(big)
        rank = np.cumsum(new[sel], axis=1, dtype=np.uint16)
        rank -= 1
        ranked = np.empty(rank.shape, np.uint16)
        np.put_along_axis(ranked, _row_order(rows[sel]), rank, axis=1)
        values[sel] = ranked
    return values, row_labels, counts


def _rank_by_thresholds(rows: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Rank = how many of a row's distinct labels (except the smallest) are <= the value."""
    rank = np.zeros(rows.shape, np.uint16)
    for j in range(thresholds.shape[1]):
        rank += rows >= thresholds[:, j : j + 1]
    return rank


def _row_order(rows: np.ndarray) -> np.ndarray:
    """Per-row argsort; packs the position into the low bits when labels leave room."""
    if int(rows.max()) >> (64 - _POS_BITS):
        return np.argsort(rows, axis=1)
    key = rows << np.uint64(_POS_BITS)
    key |= _POS
    key.sort(axis=1)
    return (key & np.uint64(SUB_VOXELS - 1)).astype(np.intp)


def _pack_all(values: np.ndarray, bits: np.ndarray) -> bytes:
    """Pack each row of ``values`` with its own bit width, rows kept in order."""
    sizes = 64 * bits
    offsets = _exclusive_cumsum(sizes)
    out = np.empty(int(sizes.sum()), np.uint8)
    for b in np.unique(bits):
        sel = np.flatnonzero(bits == b)
        packed = _pack_values(values[sel], int(b))
        out[offsets[sel][:, None] + np.arange(64 * int(b))] = packed
    return out.tobytes()


def gunzip_label_block(
    payload: bytes | bytearray | memoryview, out: np.ndarray | None = None
) -> np.ndarray:
    """Decode a gzip(Block) payload (multi-member gzip accepted) into a ZYX volume.

    Raises:
        LabelBlockError: If the gzip stream or the Block inside it is invalid.
    """
    return decode_label_block(_gunzip(payload), out=out)


def _gunzip(payload: bytes | bytearray | memoryview) -> bytes:
    pieces = []
    rest = bytes(payload)
    try:
        while True:
            dec = zlib.decompressobj(31)
            pieces.append(dec.decompress(rest))
            if not dec.eof:
                raise LabelBlockError("gzip label block payload is truncated")
            rest = dec.unused_data
            if not rest:
                break
    except zlib.error as exc:
        raise LabelBlockError(f"label block payload is not valid gzip: {exc}") from None
    return b"".join(pieces)


__all__ = [
    "LabelBlockError",
    "decode_label_block",
    "encode_label_block",
    "gunzip_label_block",
    "label_block_labels",
    "label_block_shape",
]
