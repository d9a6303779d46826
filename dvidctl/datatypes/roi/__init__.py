"""The roi datatype: a versioned set of blocks stored as spans (DVID ``datatype/roi``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dvidctl.datatypes import registry
from dvidctl.datatypes.config import common_config, get_triple, lower_keys, reject_unknown
from dvidctl.datatypes.roi.help import HELP
from dvidctl.datatypes.roi.keys import CLASS_ROI, describe
from dvidctl.datatypes.roi.spans import from_blocks, normalize, parse_spans, to_blocks
from dvidctl.errors import BadRequestError
from dvidctl.geometry import INT32_MAX

if TYPE_CHECKING:
    from dvidctl.datatypes.roi.ops import ROI
    from dvidctl.httpkit.routing import Route

DEFAULT_BLOCK_SIZE = (32, 32, 32)


def parse_config(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Parse a roi config: ``BlockSize`` (XYZ, default 32³) plus the common keys."""
    cfg = lower_keys(raw)
    reject_unknown(cfg, {"blocksize"}, "roi")
    out = common_config(cfg, "none")
    bs = get_triple(cfg, "blocksize", DEFAULT_BLOCK_SIZE, integer=True)
    if any(v > INT32_MAX for v in bs):
        raise BadRequestError(f"config BlockSize is too large: {bs}")
    out["block_size"] = list(bs)
    return out


def merge_rule(iid: int, tkey: bytes, values: list[memoryview | None]) -> bytes | None:
    """Resolve a span key the merged sides changed differently: the span is kept.

    A span key's value is always empty, so sides can only disagree about whether
    the span exists; DVID's conflict-free merge reads a value from any parent that
    has one, so presence wins here too (the merged ROI is the union).
    """
    if not tkey or tkey[0] != CLASS_ROI:
        return None
    for v in values:
        if v is not None:
            return bytes(v)
    return None


def _routes() -> list[Route[Any]]:
    from dvidctl.datatypes.roi.routes import routes

    return routes()


# ROI, the class of the type's operations, is imported on first use.
_load_class, __getattr__ = registry.lazy_class(__name__, "ROI")


SPEC = registry.register(
    registry.DatatypeSpec(
        name="roi",
        type_url="github.com/janelia-flyem/dvid/datatype/roi",
        version="0.1",
        load_class=_load_class,
        parse_config=parse_config,
        summary="region of interest: a set of blocks stored as spans",
        help=HELP,
        routes=_routes,
        describe_key=describe,
        merge_rule=merge_rule,
    )
)

__all__ = ["ROI", "SPEC", "from_blocks", "merge_rule", "normalize", "parse_spans", "to_blocks"]
