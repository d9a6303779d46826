"""dvidctl: a distributed, versioned, image-oriented datastore with DVID's HTTP API.

``Repository``, ``Node`` and ``DvidError`` are loaded on first use (PEP 562), so
``import dvidctl`` (and every CLI start) pays only for what a command touches.
This module imports nothing itself: the CLI's Ctrl-C handler starts right after it.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["DvidError", "Node", "Repository", "__version__"]

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from typing import Any

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
