"""Voxel blocks and label state as DVID serves them, for the fallback (no sync API).

Only DVID's own endpoints and formats, never a dvidctl extension, so the fallback
reads a real DVID exactly as it reads ``dvidctl serve --no-sync-api``:

* labelmap: ``GET blocks/{size}/{offset}?compression=blocks&supervoxels=true`` -- a
  block stream (``int32 x, y, z, length`` + payload) of DVID's label Blocks as
  stored: gzip'd for DVID's default (``transcodeBlock`` passes the stored bytes on
  when ``blocks`` asks for the stored format), raw LZ4 of the Block (no size) for
  an instance stored with lz4, or the Block itself for an uncompressed one; each is
  recognised by its first bytes and decoded with the label Block codec
  (:mod:`dvidctl.datatypes.imageblk.labelblock`). Supervoxels: the mapping travels
  apart (``GET mappings?format=binary``: ``uint64 sv, body`` pairs);
* uint8blk: ``GET subvolblocks/{size}/{offset}`` -- the stored payload without its
  format byte (DVID's ``SendSerializedBlock``): lz4 with its ``uint32`` size, gzip,
  zstd or raw voxels, decoded here; an instance stored as JPEG (or snappy) is asked
  ``compression=uncompressed`` (DVID decodes it), so a clone is exact and never
  re-decodes a JPEG with another decoder;
* a server without these endpoints (an old DVID, a labelblk instance: 400 or 404)
  is read with ``raw/0_1_2`` instead: :class:`BlockReader` switches once per
  instance and says so in :attr:`BlockReader.degraded`.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

import lz4.block
import numpy as np
import zstandard

from dvidctl.datatypes.imageblk.blockstream import iter_block_stream
from dvidctl.datatypes.imageblk.labelblock import HEADER_BYTES, decode_label_block
from dvidctl.datatypes.imageblk.parallel import parallel_map
from dvidctl.datatypes.labelmap.indexproto import decode_indices, encode_indices
from dvidctl.datatypes.labelmap.labelindex import LabelIndex
from dvidctl.datatypes.labelmap.mappingops import encode_mapping_ops
from dvidctl.errors import BadRequestError, CorruptDataError, NotFoundError
from dvidctl.geometry import Box
from dvidctl.sync.replaymemo import ABSENT, Recorded, block_digest, slab_key

T = TypeVar("T")
Retry = Callable[[Callable[[], T]], T]

_GZIP = b"\x1f\x8b"
_ZSTD = b"\x28\xb5\x2f\xfd"
#: DVID's compression names (``Base.Compression``, lower-cased) whose stored uint8 payloads
#: are lossless and decodable here: asked for as stored.
_GRAY_AS_STORED = ("lz4", "gzip", "no compression", "zstd")
#: Labels per ``GET indices`` request.
INDEX_CHUNK = 10_000


def _xyz(values: Sequence[int]) -> str:
    return "_".join(str(int(v)) for v in values)


def _gunzip(payload: bytes) -> bytes:
    try:
        return zlib.decompress(payload, 31)
    except zlib.error as exc:
        raise CorruptDataError(f"block payload is not valid gzip: {exc}") from None


def _block_bound(shape: tuple[int, int, int]) -> int:
    """The largest a label Block of ``shape`` serializes to."""
    n = int(np.prod(shape))
    return HEADER_BYTES + 8 * n + 2 * (n // 512) + 4 * n + 2 * n


def decode_label_payload(payload: bytes, shape: tuple[int, int, int]) -> np.ndarray:
    """A ``compression=blocks`` payload (gzip'd, LZ4'd or bare label Block) as a ZYX volume."""
    raw: bytes
    if payload[:2] == _GZIP:
        raw = _gunzip(payload)
    elif _plain_block(payload, shape):
        raw = payload
    else:
        try:
            raw = lz4.block.decompress(payload, uncompressed_size=_block_bound(shape))
        except lz4.block.LZ4BlockError as exc:
            raise CorruptDataError(
                f"label block payload is not gzip, LZ4 or a Block: {exc}"
            ) from None
    vol = decode_label_block(raw)
    if vol.shape != shape:
        raise CorruptDataError(f"label block is {vol.shape} (ZYX), the instance uses {shape}")
    return vol


def _plain_block(payload: bytes, shape: tuple[int, int, int]) -> bool:
    if len(payload) < HEADER_BYTES:
        return False
    gx, gy, gz = np.frombuffer(payload[:12], "<u4").tolist()
    return (gz * 8, gy * 8, gx * 8) == tuple(shape)


def decode_gray_payload(payload: bytes, shape: tuple[int, int, int]) -> np.ndarray:
    """A uint8blk ``subvolblocks`` payload (raw, lz4 with size, gzip or zstd) as a ZYX block."""
    n = int(np.prod(shape))
    raw: bytes
    if len(payload) == n:
        raw = payload
    elif payload[:2] == _GZIP:
        raw = _gunzip(payload)
    elif payload[:4] == _ZSTD:
        try:
            raw = zstandard.ZstdDecompressor().decompress(payload, max_output_size=n)
        except zstandard.ZstdError as exc:
            raise CorruptDataError(f"uint8 block payload is not valid zstd: {exc}") from None
    elif int.from_bytes(payload[:4], "little") == n:
        try:
            raw = lz4.block.decompress(payload[4:], uncompressed_size=n)
        except lz4.block.LZ4BlockError as exc:
            raise CorruptDataError(f"uint8 block payload is not valid lz4: {exc}") from None
    else:
        raise CorruptDataError(
            f"uint8 block payload of {len(payload)} bytes is not raw, lz4, gzip or zstd "
            f"(a JPEG block is never used for a clone)"
        )
    if len(raw) != n:
        raise CorruptDataError(f"uint8 block decodes to {len(raw)} bytes, not {n}")
    return np.frombuffer(raw, np.uint8).reshape(shape)


class BlockReader:
    """Reads block-aligned boxes of one remote voxel instance through DVID's block streams."""

    def __init__(self, remote: Any, shape: tuple[int, int, int], retry: Retry[Any]) -> None:
        self.remote, self.shape, self.retry = remote, shape, retry
        self.labels = remote.typename == "labelmap"
        self.dtype = np.dtype(np.uint64 if self.labels else np.uint8)
        self.background = self.dtype.type(getattr(remote, "background", 0) or 0)
        #: Why the block stream was given up for ``raw`` (None: it was not).
        self.degraded: str | None = None
        #: Read supervoxels (False when the server cannot give the mapping apart).
        self.supervoxels = True
        self.params: dict[str, str] = {}
        if self.labels:
            self.endpoint = "blocks"
            self.params["compression"] = "blocks"
        else:
            self.endpoint = "subvolblocks"
            comp = str(remote._info.get("Base", {}).get("Compression", "")).lower()
            if not comp.startswith(_GRAY_AS_STORED):
                self.params["compression"] = "uncompressed"

    def read(
        self, box: Box, scale: int, before: Recorded | None = None, now: Recorded | None = None
    ) -> tuple[np.ndarray | None, list[bool] | None]:
        """The ZYX voxels of block-aligned ``box`` at ``scale`` (background where unwritten),
        and which of its blocks (in ZYX order) are known to be as ``before``'s node sent
        them (None: not known).

        ``before``: the block digests of the node read before, the parent (see
        :mod:`.replaymemo`): a block sent byte for byte as then is not decoded (its
        voxels stay background) and the voxels are None when all of them are so;
        ``now``: where this read's digests go, for the next node.
        """
        if self.degraded is None:
            try:
                return self._blocks(box, scale, before, now)
            except (BadRequestError, NotFoundError) as exc:
                self.degraded = f"{self.endpoint}: {exc.message}"
        return self._raw(box, scale), None

    def _query(self, scale: int) -> dict[str, str]:
        q = dict(self.params)
        if self.labels and self.supervoxels:
            q["supervoxels"] = "true"
        if scale:
            q["scale"] = str(scale)
        return q

    def _blocks(
        self, box: Box, scale: int, before: Recorded | None, now: Recorded | None
    ) -> tuple[np.ndarray | None, list[bool] | None]:
        path = self.remote.path(self.endpoint, _xyz(box.size_xyz), _xyz(box.offset_xyz))
        got = self.retry(
            lambda: self.remote.repo.request("GET", path, params=self._query(scale)).content
        )
        bz, by, bx = self.shape
        z0, y0, x0 = box.start
        nby, nbx = box.shape[1] // by, box.shape[2] // bx
        records = []  # (the block's place in the box, in ZYX order; its bytes)
        for (x, y, z), p in iter_block_stream(got):
            oz, oy, ox = z * bz - z0, y * by - y0, x * bx - x0
            if not (0 <= oz < box.shape[0] and 0 <= oy < box.shape[1] and 0 <= ox < box.shape[2]):
                raise CorruptDataError(f"the server sent block ({x},{y},{z}) outside {box}")
            records.append((((oz // bz) * nby + oy // by) * nbx + ox // bx, bytes(p)))
        same: list[bool] | None = None
        sig = f"{self.endpoint}?{sorted((k, v) for k, v in self._query(0).items())}"
        if now is not None and not now.signature:
            now.signature = sig
        if before is not None and before.signature != sig:
            before = None  # asked for otherwise: other bytes for the same voxels
        if before is not None or now is not None:
            sent = [ABSENT] * (box.shape[0] // bz * nby * nbx)
            for k, payload in records:
                sent[k] = block_digest(payload)
            key = slab_key(box, scale)
            if now is not None:
                now.put(key, b"".join(sent))
            old = before.get(key) if before is not None else None
            if old is not None:
                same = [old[16 * k : 16 * k + 16] == d for k, d in enumerate(sent)]
                records = [(k, p) for k, p in records if not same[k]]
                if all(same):
                    return None, same
        decode = decode_label_payload if self.labels else decode_gray_payload
        blocks = parallel_map(lambda r: decode(r[1], self.shape), records)
        out = np.full(box.shape, self.background, self.dtype)
        for (k, _), blk in zip(records, blocks, strict=True):
            rest, ix = divmod(k, nbx)
            iz, iy = divmod(rest, nby)
            out[iz * bz : (iz + 1) * bz, iy * by : (iy + 1) * by, ix * bx : (ix + 1) * bx] = blk
        return out, same

    def _raw(self, box: Box, scale: int) -> np.ndarray:
        path = self.remote.path("raw", "0_1_2", _xyz(box.size_xyz), _xyz(box.offset_xyz))
        q = {"scale": str(scale)} if scale else {}
        if self.labels and self.supervoxels:
            q["supervoxels"] = "true"
        got: np.ndarray = self.retry(
            lambda: self.remote.repo.get_into(
                path, self.dtype.newbyteorder("<"), tuple(box.shape), params=q or None
            )
        )
        return got


# ------------------------------------------------------------------ labelmap state
def get_mappings(remote: Any, retry: Retry[Any]) -> tuple[np.ndarray, np.ndarray]:
    """``GET mappings?format=binary``: every mapped supervoxel and its body.

    Raises:
        BadRequestError, NotFoundError: The server has no such endpoint (an old DVID).
    """
    got = retry(
        lambda: (
            remote.repo.request("GET", remote.path("mappings"), params={"format": "binary"}).content
        )
    )
    if len(got) % 16:
        raise CorruptDataError(f"binary mappings of {len(got)} bytes are not uint64 pairs")
    pairs = np.frombuffer(got, "<u8").reshape(-1, 2).astype(np.uint64)
    return pairs[:, 0].copy(), pairs[:, 1].copy()


def post_mappings(remote: Any, svs: np.ndarray, bodies: np.ndarray, retry: Retry[Any]) -> int:
    """``POST mappings`` (``MappingOps`` protobuf); the body bytes."""
    body = encode_mapping_ops(svs, bodies)
    retry(lambda: remote.repo.request("POST", remote.path("mappings"), content=body))
    return len(body)


def _send(remote: Any, method: str, endpoint: str, body: bytes | str) -> bytes:
    got: bytes = remote.repo.request(method, remote.path(endpoint), content=body).content
    return got


def get_indices(remote: Any, labels: Sequence[int], retry: Retry[Any]) -> dict[int, LabelIndex]:
    """``GET indices`` (JSON body of labels, protobuf answer) for ``labels``, by label."""
    out: dict[int, LabelIndex] = {}
    labels = [int(v) for v in labels]
    for i in range(0, len(labels), INDEX_CHUNK):
        body = json.dumps(labels[i : i + INDEX_CHUNK])
        got = retry(partial(_send, remote, "GET", "indices", body))
        for idx in decode_indices(got):
            out[idx.label] = idx
    return out


def post_indices(remote: Any, indexes: Sequence[LabelIndex], retry: Retry[Any]) -> int:
    """``POST indices`` (``LabelIndices`` protobuf) in chunks; the body bytes."""
    sent = 0
    for i in range(0, len(indexes), INDEX_CHUNK):
        body = encode_indices(list(indexes[i : i + INDEX_CHUNK]))
        retry(partial(_send, remote, "POST", "indices", body))
        sent += len(body)
    return sent


__all__ = [
    "BlockReader",
    "decode_gray_payload",
    "decode_label_payload",
    "get_indices",
    "get_mappings",
    "post_indices",
    "post_mappings",
]
