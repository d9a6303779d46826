"""Per-datatype route tables: the routes every instance has, plus the type's own.

A datatype declares its routes in its registry entry (``DatatypeSpec.routes``);
the server mounts them under ``/api/node/{uuid}/{data}/`` and compiles each
table once. The server knows no concrete datatype.
"""

from __future__ import annotations

import threading
from typing import Any

from dvidctl.datatypes import instance_routes, registry
from dvidctl.datatypes.registry import DatatypeSpec
from dvidctl.httpkit.routing import CompiledRoute, Route, compile_routes


def all_routes(spec: DatatypeSpec) -> list[Route[Any]]:
    """Common routes followed by the type's own."""
    own = spec.routes() if spec.routes is not None else []
    return [*instance_routes.ROUTES, *own]


_CACHE: dict[str, list[CompiledRoute]] = {}
_LOCK = threading.Lock()


def table(typename: str) -> list[CompiledRoute]:
    """The compiled table of a type (cached)."""
    spec = registry.get(typename)
    with _LOCK:
        got = _CACHE.get(spec.name)
        if got is None:
            got = _CACHE[spec.name] = compile_routes(all_routes(spec))
        return got


def load_all() -> None:
    """Load every registered type and compile its table (a warm-up; errors surface later)."""
    try:
        for name in registry.names():
            table(name)
    except Exception:  # noqa: BLE001 - the request that needs the type reports it
        pass
