"""The keyvalue datatype: versioned string keys with opaque byte values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dvidctl.datatypes import registry
from dvidctl.datatypes.config import common_config, lower_keys, reject_unknown
from dvidctl.datatypes.keyvalue.chunks import check_values
from dvidctl.datatypes.keyvalue.keys import describe, is_piece

if TYPE_CHECKING:
    from dvidctl.datatypes.keyvalue.ops import KeyValue
    from dvidctl.httpkit.routing import Route

HELP = """keyvalue: versioned key-value pairs (string keys without '/', byte values).

HTTP (below /api/node/<uuid>/<name>/):
  GET|HEAD|POST|DELETE  key/<key>            one value (GET honours Range / byte_start,byte_end)
  GET                   keys                 every key, JSON array
  GET                   keyrange/<k1>/<k2>   keys with k1 <= key <= k2
  GET                   keyrangevalues/<k1>/<k2>[?json=true|tar=true]
  GET|POST              keyvalues            several keys (protobuf, json=true, tar=true)
CLI:
  dvidctl put key NAME KEY [FILE|-]     dvidctl get key NAME KEY [-o FILE]
  dvidctl delete key NAME KEY           dvidctl keys NAME [--range FROM TO]
Values longer than 8 MiB are stored as a manifest and 8 MiB pieces, streamed in and
out (key POST/GET and the CLI hold a few pieces, not the value); every read and API
above sees whole values.
"""


def parse_config(raw: Mapping[str, Any]) -> dict[str, Any]:
    """keyvalue takes only the common config keys."""
    cfg = lower_keys(raw)
    reject_unknown(cfg, set(), "keyvalue")
    return common_config(cfg, "none")


def _routes() -> list[Route[Any]]:
    from dvidctl.datatypes.keyvalue.routes import routes

    return routes()


# KeyValue, the class of the type's operations, is imported on first use.
_load_class, __getattr__ = registry.lazy_class(__name__, "KeyValue")


SPEC = registry.register(
    registry.DatatypeSpec(
        name="keyvalue",
        type_url="github.com/janelia-flyem/dvid/datatype/keyvalue",
        version="0.2",
        load_class=_load_class,
        parse_config=parse_config,
        summary="versioned key-value pairs",
        help=HELP,
        routes=_routes,
        describe_key=describe,
        # Pieces of large values follow their key's manifest: merge decides the key
        # and KeyValue.rebuild_derived settles the pieces (keyvalue/merging.py).
        derived_key=is_piece,
        hidden_key=is_piece,
        check_values=check_values,
    )
)

__all__ = ["SPEC", "KeyValue"]
