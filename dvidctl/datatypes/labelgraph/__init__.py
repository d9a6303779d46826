"""The labelgraph datatype: a weighted graph of label vertices (DVID ``datatype/labelgraph``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dvidctl.datatypes import registry
from dvidctl.datatypes.config import common_config, lower_keys, reject_unknown
from dvidctl.datatypes.labelgraph.help import HELP
from dvidctl.datatypes.labelgraph.keys import describe, is_derived

if TYPE_CHECKING:
    from dvidctl.datatypes.labelgraph.ops import LabelGraph
    from dvidctl.httpkit.routing import Route


def parse_config(raw: Mapping[str, Any]) -> dict[str, Any]:
    """labelgraph takes only the common config keys."""
    cfg = lower_keys(raw)
    reject_unknown(cfg, set(), "labelgraph")
    return common_config(cfg, "none")


def _routes() -> list[Route[Any]]:
    from dvidctl.datatypes.labelgraph.routes import routes

    return routes()


# LabelGraph, the class of the type's operations, is imported on first use.
_load_class, __getattr__ = registry.lazy_class(__name__, "LabelGraph")


SPEC = registry.register(
    registry.DatatypeSpec(
        name="labelgraph",
        type_url="github.com/janelia-flyem/dvid/datatype/labelgraph",
        version="0.1",
        load_class=_load_class,
        parse_config=parse_config,
        summary="weighted graph of label vertices, edges and properties",
        help=HELP,
        routes=_routes,
        describe_key=describe,
        derived_key=is_derived,
    )
)

__all__ = ["SPEC", "LabelGraph"]
