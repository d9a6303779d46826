"""Config parsing and versioned metadata keys shared by the voxel datatypes.

DVID config keys (DVID_API.md §2.2) are case-insensitive strings; XYZ triples
are ``"64,64,64"`` (lists and single numbers are accepted too). The parsed
config is stored in the instance record, XYZ like DVID's JSON.

Versioned per-node metadata lives next to the blocks under one-byte type keys:
the extents (class 24, as DVID's imageblk ``metaKeyClass``) and, for labelmap,
the max label (class 237, DVID's ``keyLabelMax``). Their merge rules are
union (extents) and max (max label), so merging branches never conflicts on them.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

import numpy as np

from dvidctl.datatypes.config import common_config, get_int, get_triple, reject_unknown
from dvidctl.datatypes.imageblk.blockkeys import EXTENTS_TKEY, MAXLABEL_TKEY
from dvidctl.errors import BadRequestError, CorruptDataError
from dvidctl.geometry import Box

_EXTENTS = struct.Struct("<6i")  # min x,y,z then max x,y,z (inclusive, like DVID's MaxPoint)
_U64 = struct.Struct("<Q")

VOXEL_KEYS = {
    "blocksize", "voxelsize", "voxelunits", "maxdownreslevel", "background",
    "minpoint", "maxpoint", "gridstore", "scalelevel",
}  # fmt: skip
MAX_BLOCK_DIM = 1024
MAX_BLOCK_VOXELS = 1 << 24


def parse_voxel_config(
    cfg: Mapping[str, Any],
    *,
    typename: str,
    dtype: np.dtype,
    default_block: tuple[int, int, int],
    default_compression: str,
    block_multiple: int = 1,
    extra_keys: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Validate and normalise a voxel instance config (keys already lower-cased).

    Returns a JSON-serialisable dict with ``block_size``/``voxel_size`` (XYZ),
    ``voxel_units``, ``max_downres``, ``background`` and the block ``codec``.
    """
    reject_unknown(cfg, VOXEL_KEYS | extra_keys, typename)
    out = common_config(cfg, default_compression)
    block = get_triple(cfg, "blocksize", default_block, integer=True)
    if any(b > MAX_BLOCK_DIM or b % block_multiple for b in block):
        raise BadRequestError(
            f"BlockSize {block} must be at most {MAX_BLOCK_DIM}"
            + (f" and multiples of {block_multiple}" if block_multiple > 1 else "")
        )
    if block[0] * block[1] * block[2] > MAX_BLOCK_VOXELS:
        raise BadRequestError(f"BlockSize {block} has more than {MAX_BLOCK_VOXELS} voxels")
    voxel = get_triple(cfg, "voxelsize", (8.0, 8.0, 8.0), integer=False)
    info = np.iinfo(dtype)
    background = get_int(cfg, "background", 0, int(info.min), int(info.max))
    # Imported here: naming a voxel type (a sync's encoding check) needs no codec.
    from dvidctl.datatypes.imageblk.codec import codec_for_config

    codec = codec_for_config(out["compression"], dtype, block[0])
    out.update(
        block_size=list(block),
        voxel_size=list(voxel),
        voxel_units=_units(cfg.get("voxelunits")),
        max_downres=get_int(cfg, "maxdownreslevel", 0, 0, 255),
        background=background,
        codec=codec.to_dict(),
        grid_store=str(cfg.get("gridstore", "")),
        scale_level=get_int(cfg, "scalelevel", 0, 0, 255),
    )
    return out


def _units(raw: Any) -> list[str]:
    if raw is None:
        return ["nanometers"] * 3
    parts = [
        str(p).strip() for p in (raw if isinstance(raw, (list, tuple)) else str(raw).split(","))
    ]
    parts = [p for p in parts if p]
    if len(parts) == 1:
        parts *= 3
    if len(parts) != 3:
        raise BadRequestError(f"config VoxelUnits needs 1 or 3 names, not {raw!r}")
    return parts


# ------------------------------------------------------------ metadata values


def pack_extents(box: Box) -> bytes:
    """Payload of the extents key: min and max voxel (inclusive), XYZ."""
    (z0, y0, x0), (z1, y1, x1) = box.start, box.stop
    return _EXTENTS.pack(x0, y0, z0, x1 - 1, y1 - 1, z1 - 1)


def unpack_extents(payload: bytes | memoryview) -> Box:
    """Inverse of :func:`pack_extents`."""
    if len(payload) != _EXTENTS.size:
        raise CorruptDataError("stored extents have the wrong size")
    x0, y0, z0, x1, y1, z1 = _EXTENTS.unpack(payload)
    return Box((z0, y0, x0), (z1 + 1, y1 + 1, x1 + 1))


def pack_u64(value: int) -> bytes:
    """Payload of a uint64 metadata key (max label)."""
    return _U64.pack(value)


def unpack_u64(payload: bytes | memoryview) -> int:
    """Inverse of :func:`pack_u64`."""
    if len(payload) != _U64.size:
        raise CorruptDataError("stored label counter has the wrong size")
    return int(_U64.unpack(payload)[0])


def voxel_merge_rule(iid: int, tkey: bytes, values: list[memoryview | None]) -> bytes | None:
    """Merge rule: extents merge by union, the max label by max; blocks conflict (None)."""
    del iid
    live = [v for v in values if v is not None]
    if not live:
        return None
    if tkey == EXTENTS_TKEY:
        box = unpack_extents(live[0])
        for v in live[1:]:
            box = box.union(unpack_extents(v))
        return pack_extents(box)
    if tkey == MAXLABEL_TKEY:
        return pack_u64(max(unpack_u64(v) for v in live))
    return None
