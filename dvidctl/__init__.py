"""dvidctl: a distributed, versioned, image-oriented datastore with DVID's HTTP API.

``Repository``, ``Node`` and ``DvidError`` are loaded on first use (PEP 562), so
``import dvidctl`` (and every CLI start) pays only for what a command touches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["DvidError", "Node", "Repository", "__version__"]

if TYPE_CHECKING:
    from dvidctl.api.node import Node
    from dvidctl.api.repository import Repository
    from dvidctl.errors import DvidError

_LAZY = {
    "Node": "dvidctl.api.node",
    "Repository": "dvidctl.api.repository",
    "DvidError": "dvidctl.errors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dvidctl' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
