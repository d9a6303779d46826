"""What a node offers a client, local or remote: the door to its data instances.

:class:`~dvidctl.api.node.Node` (a repository) and
:class:`~dvidctl.api.remote.node.RemoteNode` (any DVID server) both satisfy
:class:`NodeAPI`; the instances they hand out satisfy the datatype protocols
(:mod:`dvidctl.datatypes.protocol` and each type's ``protocol.py``), so a command
or a script works the same against either.
"""

from __future__ import annotations

from typing import Protocol

from dvidctl.datatypes.protocol import InstanceAPI


class NodeAPI(Protocol):
    """One version, local or on a server."""

    @property
    def uuid(self) -> str:
        """The node's full UUID."""
        ...

    @property
    def locked(self) -> bool:
        """Whether the node is committed (its data refuses writes)."""
        ...

    def instance(self, name: str) -> InstanceAPI:
        """The data instance ``name`` at this node; NotFoundError if there is none."""
        ...


__all__ = ["NodeAPI"]
