"""The labelmap datatype: uint64 label volumes (DVID's ``labelmap``; also labelblk, labelarray)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from dvidctl.datatypes import registry
from dvidctl.datatypes.config import get_bool, lower_keys
from dvidctl.datatypes.imageblk.config import (
    pack_u64,
    parse_voxel_config,
    unpack_u64,
    voxel_merge_rule,
)
from dvidctl.datatypes.labelmap.help import HELP
from dvidctl.datatypes.labelmap.keys import CLASS_BLOCK, MUTID_TKEY, describe, is_derived

if TYPE_CHECKING:
    from dvidctl.datatypes.labelmap.ops import LabelMap
    from dvidctl.httpkit.routing import Route


def parse_config(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Parse a labelmap config (DVID defaults: BlockSize 64^3, multiples of 16)."""
    cfg = lower_keys(raw)
    out = parse_voxel_config(
        cfg,
        typename="labelmap",
        dtype=np.dtype(np.uint64),
        default_block=(64, 64, 64),
        default_compression="zstd",
        block_multiple=16,
        extra_keys=frozenset({"indexedlabels", "countlabels"}),
    )
    out["indexed_labels"] = get_bool(cfg, "indexedlabels", True)
    out["count_labels"] = get_bool(cfg, "countlabels", True)
    return out


def _wire_encodings(config: Mapping[str, Any]) -> dict[str, registry.WireEncoding]:
    from dvidctl.datatypes.imageblk.wirelabels import LabelBlockWire

    enc = LabelBlockWire(config, CLASS_BLOCK)
    return {enc.name: enc}


def merge_rule(iid: int, tkey: bytes, values: list[memoryview | None]) -> bytes | None:
    """The voxel rule (extents: union, max label: max), and the last mutation id: max."""
    if tkey == MUTID_TKEY:
        live = [v for v in values if v is not None]
        return pack_u64(max(unpack_u64(v) for v in live)) if live else None
    return voxel_merge_rule(iid, tkey, values)


def _routes() -> list[Route[Any]]:
    from dvidctl.datatypes.labelmap.routes import routes

    return routes()


# LabelMap, the class of the type's operations, is imported on first use.
_load_class, __getattr__ = registry.lazy_class(__name__, "LabelMap")


SPEC = registry.register(
    registry.DatatypeSpec(
        name="labelmap",
        type_url="github.com/janelia-flyem/dvid/datatype/labelmap",
        version="0.1",
        load_class=_load_class,
        parse_config=parse_config,
        summary="uint64 label volumes in compressed blocks, with a pyramid",
        help=HELP,
        routes=_routes,
        aliases=("labelblk", "labelarray"),
        describe_key=describe,
        merge_rule=merge_rule,
        derived_key=is_derived,
        wire_encodings=_wire_encodings,
        wire_encoding_names=("labelblock",),
        # DVID's labelblk defaults to 32^3 blocks; labelarray and labelmap to 64^3.
        alias_defaults={"labelblk": {"BlockSize": "32,32,32"}},
    )
)

__all__ = ["SPEC", "LabelMap"]
