"""Block payload formats on the wire, and writing a set of whole blocks atomically.

Wire payloads (DVID_API.md §5.3, §6.2):

* uint8blk: JPEG (width X, height Y*Z), DVID's lz4 (``uint32 LE length`` + LZ4
  block), or raw voxels;
* labelmap: LZ4 of the uint64 block (no header), gzip of it, raw, or
  ``blocks`` = gzip(DVID label Block). When a block is stored as a label Block
  (codec ``labelblock``) it is re-wrapped, never re-encoded.
* ``compression=stored`` (a dvidctl extension, both types): the stored payload
  as it is, codec id byte first (:mod:`dvidctl.datatypes.codec`), so a dvidctl
  client decodes blocks itself and the server only reads them. The remote
  Python API uses it against dvidctl servers.

:func:`write_blocks` decodes nothing itself: callers validate and decode every
posted block first, so a bad block refuses the whole request before any write.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence

import lz4.block
import numpy as np
import zstandard

from dvidctl.datatypes.blocks import parallel_map
from dvidctl.datatypes.codec import LABELBLOCK_ZSTD, decode_into, payload_codec
from dvidctl.datatypes.labelmap.labelblock import GZIP_LEVEL, gzip_label_block
from dvidctl.datatypes.multiscale import update_pyramid
from dvidctl.datatypes.voxelconfig import EXTENTS_TKEY, pack_extents
from dvidctl.datatypes.voxels import VoxelInstance
from dvidctl.errors import BadRequestError, CorruptDataError
from dvidctl.geometry import Box

LABEL_STREAM_FORMATS = ("lz4", "gzip", "uncompressed", "blocks", "stored")


def jpeg_of_block(block: np.ndarray, quality: int = 80) -> bytes:
    """A uint8 block as DVID's JPEG: width X, height Y*Z."""
    from PIL import Image

    nz, ny, nx = block.shape
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(block).reshape(nz * ny, nx)).save(
        buf, format="JPEG", quality=quality
    )
    return buf.getvalue()


def _gzip(data: bytes | memoryview) -> bytes:
    comp = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
    return comp.compress(data) + comp.flush()


def label_payload(payload: memoryview, shape: tuple[int, int, int], comp: str) -> bytes:
    """One labelmap stream payload in ``comp`` (see module doc) from a stored payload."""
    if comp == "stored":
        return bytes(payload)
    if comp == "blocks" and payload_codec(payload) == LABELBLOCK_ZSTD:
        try:
            raw = zstandard.ZstdDecompressor().decompress(memoryview(payload)[1:])
        except zstandard.ZstdError as exc:
            raise CorruptDataError(f"stored label block does not decode: {exc}") from None
        return _gzip(raw)
    block = decode_into(payload, np.empty(shape, np.uint64))
    if comp == "blocks":
        return gzip_label_block(block)
    raw = block.tobytes()
    if comp == "lz4":
        return bytes(lz4.block.compress(raw, store_size=False))
    if comp == "gzip":
        return _gzip(raw)
    return raw


def label_payloads(
    items: Sequence[tuple[tuple[int, int, int], memoryview]], shape: tuple[int, int, int], comp: str
) -> list[bytes]:
    """:func:`label_payload` for many blocks, on the block thread pool."""
    return parallel_map(lambda it: label_payload(it[1], shape, comp), list(items), min_items=2)


def write_blocks(
    inst: VoxelInstance,
    blocks: Sequence[tuple[tuple[int, int, int], np.ndarray]],
    scale: int = 0,
    *,
    downres: bool = False,
) -> None:
    """Write whole blocks ``[(block coord ZYX, ZYX array), ...]`` in one atomic batch.

    At scale 0 the extents and the type's counters (max label) follow; with
    ``downres`` the pyramid above the written blocks is recomputed afterwards
    (a second batch, read from the committed blocks, as DVID does it after ingest).
    """
    if not blocks:
        return
    inst.check_scale(scale)
    bs = inst.block_shape
    store = inst.node.repo.store
    store.check_writable(inst.vid)
    union: Box | None = None
    with inst.lock:
        batch = inst._batch()
        top: int | None = None
        for coord, arr in blocks:
            if arr.shape != bs or arr.dtype != inst.dtype:
                raise BadRequestError(
                    f"block at {coord[::-1]} is {arr.shape}, the instance uses {bs}"
                )
            lo = (coord[0] * bs[0], coord[1] * bs[1], coord[2] * bs[2])
            box = Box(lo, (lo[0] + bs[0], lo[1] + bs[1], lo[2] + bs[2]))
            got = inst.blocks.write(arr, box, scale, batch, track_max=inst.tracks_max)
            if got is not None:
                top = got if top is None else max(top, got)
            union = box if union is None else union.union(box)
        if scale == 0 and union is not None:
            old = inst.extents()
            batch.put(
                inst.iid, EXTENTS_TKEY, pack_extents(union if old is None else old.union(union))
            )
            inst._after_write(batch, top)
        batch.commit()
        if downres and scale == 0 and inst.max_downres > 0 and union is not None:
            batch = inst._batch()
            update_pyramid(
                inst.blocks,
                batch,
                union,
                inst.blocks.read(union, 0),
                inst.max_downres,
                inst.downsampler(),
            )
            batch.commit()
