"""A version on a DVID server, and the door to its data instances."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dvidctl.api.remote.base import RemoteInstance, seg
from dvidctl.api.remote.imageblk import RemoteLabelMap, RemoteVoxels
from dvidctl.api.remote.keyvalue import RemoteKeyValue
from dvidctl.api.remote.labelgraph import RemoteLabelGraph
from dvidctl.api.remote.roi import RemoteROI
from dvidctl.errors import BadRequestError, NotFoundError

if TYPE_CHECKING:
    from dvidctl.api.remote.client import RemoteRepository

#: The remote class of each server-side type name.
CLASSES: dict[str, type[RemoteInstance]] = {
    "keyvalue": RemoteKeyValue,
    "labelgraph": RemoteLabelGraph,
    "roi": RemoteROI,
    "uint8blk": RemoteVoxels,
    "labelmap": RemoteLabelMap,
    "labelarray": RemoteLabelMap,
}


class RemoteNode:
    """A version on a server."""

    def __init__(self, repo: RemoteRepository, ref: str) -> None:
        self.repo = repo
        self.ref = ref

    def _record(self) -> dict[str, Any]:
        nodes = self.repo.info(self.ref, refresh=True)["DAG"]["Nodes"]
        if self.ref in nodes:
            return dict(nodes[self.ref])
        hits = [n for u, n in nodes.items() if u.startswith(self.ref)]
        if len(hits) == 1:
            return dict(hits[0])
        if ":" in self.ref:
            # PREFIX:BRANCH / :BRANCH -> the branch leaf (first of DVID's branch-versions list).
            branch = self.ref.split(":", 1)[1] or "master"
            leaf = self.repo.request(
                "GET", f"repo/{seg(self.ref)}/branch-versions/{seg(branch)}"
            ).json()
            if leaf and leaf[0] in nodes:
                return dict(nodes[leaf[0]])
        # Anything else: ask the server which node it is.
        status = self.repo.request("GET", f"node/{seg(self.ref)}/status")
        raise BadRequestError(
            f"cannot tell which node {self.ref!r} is from the repo info ({status.text})"
        )

    @property
    def uuid(self) -> str:
        """The node's full UUID."""
        return str(self._record()["UUID"])

    @property
    def locked(self) -> bool:
        """Whether the node is committed."""
        got = self.repo.request("GET", f"node/{seg(self.ref)}/status").json()
        return bool(got.get("Locked"))

    @property
    def note(self) -> str:
        """The node note."""
        return str(self.repo.request("GET", f"node/{seg(self.ref)}/note").json().get("note", ""))

    @property
    def log(self) -> list[str]:
        """The node log."""
        return list(self.repo.request("GET", f"node/{seg(self.ref)}/log").json().get("log", []))

    @property
    def branch(self) -> str:
        """User-facing branch name."""
        return str(self._record().get("Branch") or "master")

    def instance(self, name: str) -> RemoteInstance:
        """The data instance ``name`` at this node, typed by its server-side type."""
        insts = self.repo.instances(self.ref)
        if name not in insts:
            insts = self.repo.info(self.ref, refresh=True).get("DataInstances") or {}
        if name not in insts:
            known = ", ".join(sorted(insts)) or "none"
            raise NotFoundError(
                f"no data instance named {name!r} on the server", hint=f"instances: {known}"
            )
        info = insts[name]
        typename = str(info.get("Base", {}).get("TypeName", ""))
        cls = CLASSES.get(typename, RemoteInstance)
        return cls(self, name, info)


if TYPE_CHECKING:  # mypy checks that RemoteNode satisfies the node interface shared with Node
    from dvidctl.api.protocol import NodeAPI

    _: type[NodeAPI] = RemoteNode
