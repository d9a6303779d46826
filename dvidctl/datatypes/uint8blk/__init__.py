"""The uint8blk datatype: grayscale voxel blocks (DVID's imageblk ``uint8blk``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from dvidctl.datatypes import registry
from dvidctl.datatypes.config import lower_keys
from dvidctl.datatypes.uint8blk.help import HELP
from dvidctl.datatypes.uint8blk.keys import describe
from dvidctl.datatypes.uint8blk.ops import Uint8Blk
from dvidctl.datatypes.voxelconfig import parse_voxel_config, voxel_merge_rule


def parse_config(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Parse a uint8blk config (DVID defaults: BlockSize 32^3, VoxelSize 8 nm)."""
    return parse_voxel_config(
        lower_keys(raw),
        typename="uint8blk",
        dtype=np.dtype(np.uint8),
        default_block=(32, 32, 32),
        default_compression="zstd",
    )


SPEC = registry.register(
    registry.DatatypeSpec(
        name="uint8blk",
        type_url="github.com/janelia-flyem/dvid/datatype/imageblk/uint8.go",
        version="0.2",
        instance_class=Uint8Blk,
        parse_config=parse_config,
        summary="8-bit grayscale volumes in compressed blocks, with a pyramid",
        help=HELP,
        describe_key=describe,
        merge_rule=voxel_merge_rule,
    )
)

__all__ = ["SPEC", "Uint8Blk"]
