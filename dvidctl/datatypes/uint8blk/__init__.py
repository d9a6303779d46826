"""The uint8blk datatype: grayscale voxel blocks (DVID's imageblk ``uint8blk``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from dvidctl.datatypes import registry
from dvidctl.datatypes.config import lower_keys
from dvidctl.datatypes.imageblk.config import parse_voxel_config, voxel_merge_rule
from dvidctl.datatypes.uint8blk.help import HELP
from dvidctl.datatypes.uint8blk.keys import describe, is_derived

if TYPE_CHECKING:
    from dvidctl.datatypes.uint8blk.ops import Uint8Blk
    from dvidctl.httpkit.routing import Route


def parse_config(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Parse a uint8blk config (DVID defaults: BlockSize 32^3, VoxelSize 8 nm)."""
    return parse_voxel_config(
        lower_keys(raw),
        typename="uint8blk",
        dtype=np.dtype(np.uint8),
        default_block=(32, 32, 32),
        default_compression="zstd",
    )


def _routes() -> list[Route[Any]]:
    from dvidctl.datatypes.uint8blk.routes import routes

    return routes()


# Uint8Blk, the class of the type's operations, is imported on first use.
_load_class, __getattr__ = registry.lazy_class(__name__, "Uint8Blk")


SPEC = registry.register(
    registry.DatatypeSpec(
        name="uint8blk",
        type_url="github.com/janelia-flyem/dvid/datatype/imageblk/uint8.go",
        version="0.2",
        load_class=_load_class,
        parse_config=parse_config,
        summary="8-bit grayscale volumes in compressed blocks, with a pyramid",
        help=HELP,
        routes=_routes,
        describe_key=describe,
        merge_rule=voxel_merge_rule,
        derived_key=is_derived,
    )
)

__all__ = ["SPEC", "Uint8Blk"]
