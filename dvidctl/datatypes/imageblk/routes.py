"""Routes every voxel datatype serves the same way, shared by uint8blk and labelmap."""

from __future__ import annotations

from dvidctl.datatypes.imageblk import handlers as vx
from dvidctl.httpkit.routing import Route
from dvidctl.httpkit.streaming import OCTET


def common_routes(arb_summary: str) -> list[Route]:
    """Routes every voxel type serves the same way (imageblk's and labelblk's span blocks,
    arb planes, extents, metadata, resolution)."""
    return [
        Route(
            "blocks/{coord:xyz}/{span:int}",
            ("GET",),
            vx.get_span_blocks,
            "spanX uncompressed blocks along +X",
            produces=OCTET,
        ),
        Route(
            "blocks/{coord:xyz}/{span:int}",
            ("POST",),
            vx.post_span_blocks,
            "Write spanX uncompressed blocks along +X",
            body=OCTET,
        ),
        Route(
            "arb/{tl:floats}/{tr:floats}/{bl:floats}/{res}",
            ("GET",),
            vx.get_arb,
            arb_summary,
            produces="image/png",
        ),
        Route(
            "arb/{tl:floats}/{tr:floats}/{bl:floats}/{res}/{format}",
            ("GET",),
            vx.get_arb,
            arb_summary + " as png/jpg",
            produces="image/png",
        ),
        Route(
            "extents", ("POST",), vx.post_extents, "Set MinPoint/MaxPoint", body="application/json"
        ),
        Route("metadata", ("GET",), vx.get_metadata, "nd-data layout description"),
        Route(
            "resolution",
            ("POST",),
            vx.post_resolution,
            "Set the voxel size [rx, ry, rz]",
            body="application/json",
        ),
    ]
