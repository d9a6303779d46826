"""What every remote instance shares: the HTTP error mapping and the instance base class.

HTTP errors become :mod:`dvidctl.errors` (400 -> BadRequestError, 404 ->
NotFoundError, 403 -> PermissionDeniedError, 409 -> ConflictError, others and
connection failures -> RemoteError), with the server's message. DVID answers a
write to a committed node with 400 and its own wording; that 400 becomes
LockedNodeError, as the same write to a local repository raises.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

import httpx

from dvidctl.errors import (
    BadRequestError,
    ConflictError,
    LockedNodeError,
    NotFoundError,
    PermissionDeniedError,
    RemoteError,
)

if TYPE_CHECKING:
    from dvidctl.api.remote.client import RemoteRepository
    from dvidctl.api.remote.node import RemoteNode

_STATUS = {
    400: BadRequestError,
    404: NotFoundError,
    403: PermissionDeniedError,
    401: PermissionDeniedError,
    409: ConflictError,
}

#: DVID's refusals of a write to a committed node (server/web.go nodeSelector and
#: instanceSelector, datastore), dvidctl's dispatcher (the same words) and its store.
_LOCKED = re.compile(
    r"cannot do \w+ on (endpoint \S+ of )?locked node\b"
    r"|could not post to locked node"
    r"|is committed \(locked\) and cannot be written",
    re.IGNORECASE,
)


def seg(text: str) -> str:
    """One percent-encoded URL path segment."""
    return quote(str(text), safe="")


def check(r: httpx.Response) -> None:
    """Raise the dvidctl error matching a failed response."""
    if r.status_code < 400:
        return
    text = r.text.strip() if r.request.method != "HEAD" else ""
    cls = _STATUS.get(r.status_code, RemoteError)
    if r.status_code == 400 and _LOCKED.search(text):
        cls = LockedNodeError
    raise cls(text or f"{r.request.method} {r.request.url.path}: HTTP {r.status_code}")


class RemoteInstance:
    """A data instance on a server, at one node."""

    #: The dvidctl datatype a subclass speaks ("" here: a type without a remote class).
    datatype: ClassVar[str] = ""

    def __init__(self, node: RemoteNode, name: str, info: Mapping[str, Any]) -> None:
        self.node = node
        self.name = name
        self._info = dict(info)

    @property
    def repo(self) -> RemoteRepository:
        """The remote repository."""
        return self.node.repo

    def path(self, *parts: str) -> str:
        """``node/{ref}/{name}/parts...`` (each part percent-encoded)."""
        return "/".join(["node", seg(self.node.ref), seg(self.name), *(seg(p) for p in parts)])

    def info(self) -> dict[str, Any]:
        """The instance JSON at this node."""
        got: dict[str, Any] = self.repo.request("GET", self.path("info")).json()
        return got

    @property
    def record_typename(self) -> str:
        """The server-side type name (e.g. ``labelarray``)."""
        return str(self._info.get("Base", {}).get("TypeName", ""))

    @property
    def typename(self) -> str:
        """The datatype, as dvidctl names it (``labelmap`` for a server's ``labelarray``)."""
        return self.datatype or self.record_typename

    @property
    def _ext(self) -> dict[str, Any]:
        """The ``Extended`` part of the instance info read when the instance was opened."""
        got: dict[str, Any] = self._info.get("Extended") or {}
        return got
