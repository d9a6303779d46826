"""What every data instance offers a client, local or remote: the base of the datatype protocols.

Each datatype package defines the protocol of its data methods on top of this one
(``keyvalue/protocol.py`` :class:`KeyValueAPI`, ``imageblk/protocol.py``
:class:`VoxelsAPI`, ``labelmap/protocol.py`` :class:`LabelMapAPI`,
``roi/protocol.py`` :class:`ROIAPI`). The local classes (on a repository) and the
remote ones (``dvidctl.api.remote``, over HTTP) both satisfy them: mypy checks it
where each class is defined, and ``tests/contracts`` runs the same checks on both.

The protocols are ``runtime_checkable``, so ``isinstance(inst, KeyValueAPI)`` tells
a caller (e.g. a CLI command) that an instance has those methods, whichever side
it comes from.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class InstanceAPI(Protocol):
    """A data instance at one version."""

    @property
    def name(self) -> str:
        """The instance name."""
        ...

    @property
    def typename(self) -> str:
        """The datatype (``keyvalue``, ``uint8blk``, ``labelmap``, ``roi``, ...)."""
        ...

    def info(self) -> dict[str, Any]:
        """DVID's instance JSON ``{"Base": ..., "Extended": ...}`` at this version."""
        ...


__all__ = ["InstanceAPI"]
