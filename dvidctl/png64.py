"""DVID's uint64 label PNG: a 16-bit RGBA PNG whose pixel bytes are the labels' LE bytes.

DVID (``dvid/image.go``) sends 2D label images as Go's ``image.NRGBA64`` over the
raw label buffer. Pillow can neither write nor read that layout, so this is a
tiny PNG codec for exactly that case (row filters undone vectorized).
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from dvidctl.errors import BadRequestError, CorruptDataError
from dvidctl.geometry import check_voxel_budget

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def encode_png64(labels: np.ndarray) -> bytes:
    """Encode 2D uint64 labels as DVID does: a 16-bit RGBA PNG of the LE label bytes."""
    if labels.ndim != 2:
        raise BadRequestError(f"a label PNG needs a 2D array, not {labels.ndim}D")
    h, w = labels.shape
    rows = np.ascontiguousarray(labels, dtype="<u8").view(np.uint8).reshape(h, w * 8)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1)  # filter byte 0
    ihdr = struct.pack(">IIBBBBB", w, h, 16, 6, 0, 0, 0)
    idat = zlib.compress(raw.tobytes(), 6)
    return PNG_SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _png_chunks(data: bytes, source: str) -> list[tuple[bytes, bytes]]:
    chunks, pos = [], 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, payload = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if len(payload) != length:
            raise CorruptDataError(f"{source}: PNG chunk {kind!r} is truncated")
        chunks.append((kind, payload))
        pos += 12 + length
        if kind == b"IEND":
            break
    if not chunks or chunks[0][0] != b"IHDR" or len(chunks[0][1]) != 13:
        raise CorruptDataError(f"{source}: PNG has no valid IHDR chunk")
    return chunks


def decode_png64(data: bytes, source: str = "image body") -> np.ndarray:
    """Decode a 16-bit RGBA (or RGB, alpha implied 0xFFFF) PNG into uint64 labels."""
    chunks = _png_chunks(data, source)
    w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    if depth != 16 or ctype not in (2, 6) or interlace:
        raise CorruptDataError(f"{source}: not a non-interlaced 16-bit RGB(A) label PNG")
    check_voxel_budget(w * h, 8)
    bpp = 8 if ctype == 6 else 6
    try:
        raw = zlib.decompress(b"".join(p for k, p in chunks if k == b"IDAT"))
    except zlib.error as exc:
        raise CorruptDataError(f"{source}: PNG data does not decompress ({exc})") from None
    if len(raw) != h * (1 + w * bpp):
        raise CorruptDataError(f"{source}: PNG data has {len(raw)} bytes, not {h * (1 + w * bpp)}")
    rows = np.frombuffer(raw, np.uint8).reshape(h, 1 + w * bpp)
    pix = _unfilter(rows[:, 0], rows[:, 1:].reshape(h, w, bpp), source)
    if bpp == 6:
        pix = np.concatenate([pix, np.full((h, w, 2), 0xFF, np.uint8)], axis=2)
    return np.ascontiguousarray(pix).view("<u8").reshape(h, w).astype(np.uint64)


def _unfilter(ftypes: np.ndarray, filt: np.ndarray, source: str) -> np.ndarray:
    """Undo PNG row filters, one anti-diagonal of pixels at a time (vectorized).

    Pixel (r, i) needs its left, upper and upper-left neighbours, which all lie
    on earlier anti-diagonals ``r + i``.
    """
    if ftypes.size and int(ftypes.max()) > 4:
        raise CorruptDataError(f"{source}: PNG uses unknown row filter {int(ftypes.max())}")
    h, w, bpp = filt.shape
    if not ftypes.any():
        return filt.copy()
    out = np.zeros((h + 1, w + 1, bpp), np.int32)  # zero row/column of padding
    ft = ftypes.astype(np.int32)
    for d in range(h + w - 1):
        r = np.arange(max(0, d - w + 1), min(h - 1, d) + 1)
        i = d - r
        a, b, c = out[r + 1, i], out[r, i + 1], out[r, i]
        p = a + b - c
        pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
        paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
        preds = np.stack([np.zeros_like(a), a, b, (a + b) // 2, paeth])
        pred = preds[ft[r], np.arange(r.size)]
        out[r + 1, i + 1] = (filt[r, i].astype(np.int32) + pred) & 0xFF
    return out[1:, 1:].astype(np.uint8)
