"""Block codecs: how one block of voxels becomes a stored payload and back.

Every stored block payload starts with a **codec id byte**, so stored data is
self-describing: a block decodes by its own id, whatever the instance's current
codec is (a codec change, or blocks pushed from elsewhere, never confuse reads).

====  ============================  ======================================================
 id   codec                         body after the id byte
====  ============================  ======================================================
 0    :class:`RawCodec`             the voxels, little-endian, ZYX (X fastest)
 1    :class:`ZstdCodec`            one zstd frame (with content size) of the raw voxels
 2    :class:`JpegCodec`            a grayscale JPEG, width X, height Y*Z (DVID's layout)
 3    :class:`LabelBlockZstdCodec`  one zstd frame of DVID's compressed label Block (§6.3)
 4    :class:`ZstdCodec` (tiled)    ``u16 tz, u16 ty, u16 n, n * u32 frame sizes``, then
                                    ``n`` zstd frames, one per (z, y) tile of ``tz * ty * X``
                                    voxels, z-major: a read decodes only the tiles it needs
 5    :class:`ZstdCodec` (tiled     ``u32 m``, ``m`` bytes of which labels each tile holds
      uint64 labels)                (:mod:`.tilelabels`), then the body of id 4
====  ============================  ======================================================

Codecs are frozen dataclasses that validate in the constructor and round-trip
through :meth:`to_dict` / :func:`codec_from_dict`. Decoding always writes into a
caller-provided, C-contiguous array (:func:`decode_into`), or copies just a
region of the block into a caller's view (:func:`decode_region`): zstd frames are
streamed straight into that buffer (:mod:`.zstdbody`), which runs at about 8 GB/s on
one thread, against about 1.8 GB/s when each block gets a fresh 2 MiB ``bytes``
(page faults; per-thread buffers live in :mod:`.scratch`). zstd releases the GIL,
so several threads decode in parallel.

The labelmap default is raw uint64 under zstd: on real label blocks it decodes
about 2.7x faster than DVID's label Block under zstd (6.8 vs 2.5 GB/s) and
encodes 3x faster, for 3.5x more bytes (19 vs 5.6 KB per 64^3 block); see
``bench/bench_voxels.py --codecs``. zstd blocks larger than the tile (32 along z
and y by default) are stored as tiles: unaligned 128^3 reads of 64^3 blocks then
decode 31% fewer voxels, for 1-2% more bytes (measured on random 128^3 label reads:
32-tiles about 1.3x faster than whole-block frames; 16-tiles were slower again,
per-frame overhead).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
import zstandard

from dvidctl.datatypes.imageblk.rowruns import tile_label_counts
from dvidctl.datatypes.imageblk.scratch import byte_view, cctx, contiguous, copy_rows, dctx, scratch
from dvidctl.datatypes.imageblk.tilelabels import (
    ZSTD_TILED,
    ZSTD_TILED_LABELS,
    block_tile_labels,
    encode_tiled,
    tiled_body,
    with_label_sets,
)
from dvidctl.datatypes.imageblk.zstdbody import decode_tiled_region, zstd_decompress_into
from dvidctl.errors import BadRequestError, CorruptDataError

RAW, ZSTD, JPEG, LABELBLOCK_ZSTD = 0, 1, 2, 3  # and ZSTD_TILED(_LABELS) 4, 5: tilelabels
CODEC_NAMES = {
    RAW: "raw",
    ZSTD: "zstd",
    JPEG: "jpeg",
    LABELBLOCK_ZSTD: "labelblock",
    ZSTD_TILED: "zstd",
    ZSTD_TILED_LABELS: "zstd",
}

Buffer = bytes | bytearray | memoryview


@dataclass(frozen=True)
class RawCodec:
    """Uncompressed voxels (DVID ``Compression=none``)."""

    codec_id: ClassVar[int] = RAW
    codec_ids: ClassVar[tuple[int, ...]] = (RAW,)
    name: ClassVar[str] = "raw"

    def encode(self, block: np.ndarray, prefix: bytes = b"") -> bytes:
        """Return ``prefix`` + the payload (id byte + body) of one block."""
        return b"".join([prefix, bytes([RAW]), contiguous(block).data])

    def to_dict(self) -> dict[str, Any]:
        """JSON form, see :func:`codec_from_dict`."""
        return {"name": self.name}


@dataclass(frozen=True)
class ZstdCodec:
    """zstd frames of the raw voxels.

    Attributes:
        level: zstd level 1..22 (3 is zstd's default).
        tile: Edge along z and y of the tiles a block is split into (each tile one
            frame of ``tile * tile * X`` voxels); 0 stores one frame per block.
    """

    level: int = 3
    tile: int = 32
    codec_id: ClassVar[int] = ZSTD
    codec_ids: ClassVar[tuple[int, ...]] = (ZSTD, ZSTD_TILED, ZSTD_TILED_LABELS)
    name: ClassVar[str] = "zstd"

    def __post_init__(self) -> None:
        if not isinstance(self.level, int) or not 1 <= self.level <= 22:
            raise BadRequestError(f"zstd level must be an integer 1..22, got {self.level!r}")
        if not isinstance(self.tile, int) or not 0 <= self.tile <= 1024:
            raise BadRequestError(f"zstd tile must be an integer 0..1024, got {self.tile!r}")

    def label_tile(self, shape: tuple[int, ...], dtype: np.dtype) -> int:
        """The tile edge of blocks of ``shape`` and ``dtype`` that can carry label sets
        (uint64, stored as several tiles), else 0."""
        t = self.tile
        if dtype != np.uint64 or not t or len(shape) != 3:
            return 0
        n = -(-shape[0] // t) * -(-shape[1] // t)
        return t if 1 < n <= 0xFFFF else 0

    def encode(self, block: np.ndarray, prefix: bytes = b"") -> bytes:
        """Return ``prefix`` + the payload (id byte + body) of one block, in one copy."""
        return encode_tiled(block, self.tile, cctx(self.level), prefix)

    def encode_labelled(self, block: np.ndarray, prefix: bytes = b"") -> bytes:
        """:meth:`encode` with the label sets found here (one counting pass): what an
        indexed labelmap write stores for these voxels (:func:`.tilelabels.with_label_sets`)."""
        stored = self.encode(block, prefix)
        t = self.label_tile(block.shape, block.dtype)
        if not t:
            return stored
        labels, _, member = tile_label_counts(block, t)
        return stored if member is None else with_label_sets(stored, len(prefix), (labels, member))

    def to_dict(self) -> dict[str, Any]:
        """JSON form, see :func:`codec_from_dict`."""
        return {"name": self.name, **asdict(self)}


def jpeg_block(block: np.ndarray, quality: int = 80, prefix: bytes = b"") -> bytes:
    """``prefix`` + a uint8 block as DVID's JPEG: width X, height Y*Z (also its wire form)."""
    from PIL import Image

    if block.dtype != np.uint8:
        raise BadRequestError(f"JPEG blocks hold uint8 voxels, not {block.dtype}")
    nz, ny, nx = block.shape
    buf = io.BytesIO()
    buf.write(prefix)
    img = Image.fromarray(np.ascontiguousarray(block).reshape(nz * ny, nx))
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


@dataclass(frozen=True)
class JpegCodec:
    """Lossy grayscale JPEG (DVID ``Compression=jpeg``); uint8 blocks only; quality 1..100."""

    quality: int = 80
    codec_id: ClassVar[int] = JPEG
    codec_ids: ClassVar[tuple[int, ...]] = (JPEG,)
    name: ClassVar[str] = "jpeg"

    def __post_init__(self) -> None:
        if not isinstance(self.quality, int) or not 1 <= self.quality <= 100:
            raise BadRequestError(f"JPEG quality must be an integer 1..100, got {self.quality!r}")

    def encode(self, block: np.ndarray, prefix: bytes = b"") -> bytes:
        """Return ``prefix`` + the payload: a JPEG of width X and height Y*Z, as DVID stores it."""
        return jpeg_block(block, self.quality, prefix + bytes([JPEG]))

    def to_dict(self) -> dict[str, Any]:
        """JSON form, see :func:`codec_from_dict`."""
        return {"name": self.name, **asdict(self)}


@dataclass(frozen=True)
class LabelBlockZstdCodec:
    """DVID's compressed label Block (``labels.Block``) inside a zstd frame; uint64 only."""

    level: int = 3
    codec_id: ClassVar[int] = LABELBLOCK_ZSTD
    codec_ids: ClassVar[tuple[int, ...]] = (LABELBLOCK_ZSTD,)
    name: ClassVar[str] = "labelblock"

    def __post_init__(self) -> None:
        if not isinstance(self.level, int) or not 1 <= self.level <= 22:
            raise BadRequestError(f"zstd level must be an integer 1..22, got {self.level!r}")

    def encode(self, block: np.ndarray, prefix: bytes = b"") -> bytes:
        """Return ``prefix`` + the payload (id byte + zstd(label Block))."""
        from dvidctl.datatypes.imageblk.labelblock import encode_label_block

        if block.dtype != np.uint64:
            raise BadRequestError(f"label blocks hold uint64 voxels, not {block.dtype}")
        frame = cctx(self.level).compress(encode_label_block(block))
        return b"".join([prefix, bytes([LABELBLOCK_ZSTD]), frame])

    def to_dict(self) -> dict[str, Any]:
        """JSON form, see :func:`codec_from_dict`."""
        return {"name": self.name, **asdict(self)}


BlockCodec = RawCodec | ZstdCodec | JpegCodec | LabelBlockZstdCodec
#: The codec registry, by name (configs, ``to_dict``); each class encodes (``encode``)
#: and lists the payload id bytes it writes (``codec_ids``), decoded by :data:`_DECODERS`.
CODECS: dict[str, type[BlockCodec]] = {
    c.name: c for c in (RawCodec, ZstdCodec, JpegCodec, LabelBlockZstdCodec)
}
_BY_NAME = CODECS


def codec_from_dict(d: dict[str, Any]) -> BlockCodec:
    """Inverse of ``to_dict``; BadRequestError for an unknown name or bad parameters."""
    params = dict(d)
    name = params.pop("name", None)
    cls = _BY_NAME.get(str(name))
    if cls is None:
        raise BadRequestError(f"unknown block codec {name!r}", hint="one of " + ", ".join(_BY_NAME))
    try:
        return cls(**params)
    except TypeError as exc:
        raise BadRequestError(f"bad parameters for block codec {name!r}: {exc}") from None


def payload_codec(payload: Buffer) -> int:
    """The codec id of a stored payload."""
    if len(payload) == 0:
        raise CorruptDataError("stored block payload is empty")
    return int(payload[0])


def decode_into(payload: Buffer, out: np.ndarray) -> np.ndarray:
    """Decode a stored block payload (id byte + body) into ``out`` and return ``out``.

    Args:
        payload: The stored payload, any codec of this module.
        out: C-contiguous, writeable array with the block's shape and dtype.

    Raises:
        CorruptDataError: Unknown codec id, or a body that does not decode to ``out``'s size.
    """
    cid = payload_codec(payload)
    decoder = _DECODERS.get(cid)
    if decoder is None:
        raise CorruptDataError(
            f"stored block has unknown codec id {cid}",
            hint="known ids: " + ", ".join(f"{i} ({CODEC_NAMES[i]})" for i in sorted(_DECODERS)),
        )
    decoder(memoryview(payload), out)
    return out


def _decode_raw(payload: memoryview, out: np.ndarray) -> None:
    body, dest = payload[1:], byte_view(out)
    if len(body) != len(dest):
        raise CorruptDataError(f"raw block has {len(body)} bytes, the block needs {len(dest)}")
    dest[:] = body


def _decode_tiled(payload: memoryview, out: np.ndarray) -> None:
    nz, ny, nx = out.shape
    body = tiled_body(payload)  # ids 4 and 5 only
    whole = (slice(0, nz), slice(0, ny), slice(0, nx))
    decode_tiled_region(payload[1:] if body is None else body, out.shape, whole, out)


def decode_region(
    payload: Buffer,
    shape: tuple[int, ...],
    region: tuple[slice, ...],
    dst: np.ndarray,
) -> None:
    """Copy ``block[region]`` of a stored block into ``dst`` (any strides, ``region``'s shape).

    Tiled zstd blocks decode only the tiles ``region`` touches, each into a
    per-thread tile buffer that is copied into ``dst``; other codecs decode the
    whole block into a per-thread scratch buffer first.

    Args:
        payload: The stored payload (id byte + body).
        shape: The block shape, ZYX.
        region: Slices (positive steps of 1) into the block.
        dst: Destination view, ``dst.shape`` equal to the region's shape.
    """
    body = tiled_body(payload)
    if body is not None:
        decode_tiled_region(body, shape, region, dst)
        return
    block = decode_into(payload, scratch(tuple(shape), dst.dtype))
    copy_rows(dst, block[region])


def _decode_labelblock(payload: memoryview, out: np.ndarray) -> None:
    from dvidctl.datatypes.imageblk.labelblock import decode_label_block

    try:
        raw = dctx().decompress(payload[1:])
        decode_label_block(raw, out=out)
    except (zstandard.ZstdError, ValueError) as exc:
        raise CorruptDataError(f"stored label block does not decode: {exc}") from None


def _decode_jpeg(payload: memoryview, out: np.ndarray) -> None:
    from PIL import Image, UnidentifiedImageError

    nz, ny, nx = out.shape
    try:
        with Image.open(io.BytesIO(payload[1:])) as img:
            arr = np.asarray(img.convert("L"))
    except (UnidentifiedImageError, OSError) as exc:
        raise CorruptDataError(f"stored JPEG block does not decode: {exc}") from None
    if arr.shape != (nz * ny, nx) or out.dtype != np.uint8:
        raise CorruptDataError(f"stored JPEG block is {arr.shape}, the block needs {(nz * ny, nx)}")
    out.reshape(nz * ny, nx)[...] = arr


#: DVID ``Compression`` names stored as zstd: faster and smaller than each of them
#: (bench/bench_voxels.py --codecs); the instance info still reports the name given.
ZSTD_STAND_INS = frozenset({"lz4", "gzip", "snappy"})


def codec_for_config(compression: str, dtype: np.dtype, block_x: int) -> BlockCodec:
    """Choose the block codec for a DVID ``Compression`` setting.

    ``none`` stores raw voxels; ``jpeg[:Q]`` (uint8 only) stores JPEG;
    ``zstd[:L]`` stores zstd, and so do DVID's ``lz4``, ``gzip`` and ``snappy``
    (:data:`ZSTD_STAND_INS`); ``labelblock[:L]`` (uint64 only) stores DVID's label
    Block under zstd. Any other name is a BadRequestError listing these.
    """
    name, _, arg = compression.strip().lower().partition(":")
    level = _int_arg(arg, name) if arg else None
    if name == "none":
        return RawCodec()
    if name == "jpeg":
        if dtype != np.uint8:
            raise BadRequestError(f"Compression=jpeg needs uint8 voxels, not {dtype}")
        return JpegCodec(level if level is not None else 80)
    if name == "labelblock":
        if dtype != np.uint64:
            raise BadRequestError("Compression=labelblock needs uint64 labels")
        return LabelBlockZstdCodec(level if level is not None else 3)
    if name == "zstd":
        return ZstdCodec(level if level is not None else 3)
    if name in ZSTD_STAND_INS:
        return ZstdCodec(3)
    known = ["none", "zstd[:L]", "jpeg[:Q]", "labelblock[:L]", *sorted(ZSTD_STAND_INS)]
    raise BadRequestError(f"unknown Compression {compression!r}", hint="one of " + ", ".join(known))


def _int_arg(arg: str, name: str) -> int:
    try:
        return int(arg)
    except ValueError:
        raise BadRequestError(f"Compression={name}:{arg}: the level must be an integer") from None


#: Decoders by payload id byte (one per id every registered codec writes).
_DECODERS: dict[int, Callable[[memoryview, np.ndarray], None]] = {
    RAW: _decode_raw,
    ZSTD: lambda payload, out: zstd_decompress_into(payload[1:], out),
    JPEG: _decode_jpeg,
    LABELBLOCK_ZSTD: _decode_labelblock,
    ZSTD_TILED: _decode_tiled,
    ZSTD_TILED_LABELS: _decode_tiled,
}
if {i for c in CODECS.values() for i in c.codec_ids} != set(_DECODERS):  # pragma: no cover
    raise RuntimeError("every codec id needs exactly one decoder")

__all__ = [
    "BlockCodec",
    "block_tile_labels",
    "tiled_body",
    "jpeg_block",
    "JpegCodec",
    "LabelBlockZstdCodec",
    "RawCodec",
    "ZstdCodec",
    "codec_for_config",
    "codec_from_dict",
    "decode_into",
    "decode_region",
    "payload_codec",
    "scratch",
    "zstd_decompress_into",
]
