"""uint8blk HTTP routes (DVID_API.md §5), mounted under ``/api/node/{uuid}/{name}/``."""

from __future__ import annotations

from functools import partial

from dvidctl.datatypes.imageblk import handlers as vx
from dvidctl.datatypes.imageblk.routes import common_routes
from dvidctl.httpkit.routing import Route
from dvidctl.httpkit.streaming import OCTET

_GEOM = "{dims:dims}/{size:xyz}/{offset:xyz}"


def routes() -> list[Route]:
    """The uint8blk route table."""
    raw = partial(vx.get_raw, jpeg3d=True)
    raw.__name__ = "get_raw"  # type: ignore[attr-defined]
    iso = partial(vx.get_raw, isotropic=True, jpeg3d=True)
    iso.__name__ = "get_isotropic"  # type: ignore[attr-defined]
    return [
        Route("raw/" + _GEOM, ("GET",), raw, "2D image (png/jpg) or 3D voxels", produces=OCTET),
        Route(
            "raw/" + _GEOM + "/{format}",
            ("GET",),
            raw,
            "2D image; 3D: raw voxels, one JPEG for exactly jpg or jpeg",
            produces="image/png",
        ),
        Route("raw/" + _GEOM, ("POST",), vx.post_raw, "Write 3D voxels (ZYX bytes)", body=OCTET),
        Route(
            "isotropic/" + _GEOM,
            ("GET",),
            iso,
            "Like raw, 2D rescaled to square pixels",
            produces=OCTET,
        ),
        Route(
            "isotropic/" + _GEOM + "/{format}",
            ("GET",),
            iso,
            "Like raw, 2D rescaled",
            produces="image/png",
        ),
        Route(
            "subvolblocks/{size:xyz}/{offset:xyz}",
            ("GET",),
            vx.subvolblocks,
            "Block stream of a block-aligned box (compression=jpeg|uncompressed)",
            produces=OCTET,
        ),
        Route(
            "specificblocks",
            ("GET",),
            vx.specificblocks,
            "Block stream of listed blocks (?blocks=x,y,z,...)",
            produces=OCTET,
        ),
        Route(
            "tile/{dims:dims}/{scale:int}/{coord:xyz}",
            ("GET",),
            vx.get_tile,
            "imagetile-style 2D tile (?format=png|jpg, ?size=512)",
            produces="image/png",
        ),
        *common_routes("Arbitrary plane (real-world corners, interpolated)"),
    ]
