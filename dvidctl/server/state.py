"""What a running server holds: its settings and every repository it serves.

A server can hold several repositories (each one DAG in one database), keyed
by root UUID, as DVID does. Version references in URLs are resolved across all
of them with DVID's rules (DVID_API.md §1.2):

* no colon: a unique UUID prefix among every node of every repo; failing that,
  a dvidctl tag or branch name known in exactly one repo (tags are how
  ``POST .../tag`` names nodes here);
* ``PREFIX:BRANCH``: the prefix picks the repo, the result is BRANCH's leaf;
* ``:BRANCH``: the same, when the server holds exactly one repo;
* any of them followed by ``~N``: N steps back along the branch.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from dvidctl.api import refs
from dvidctl.api.node import Node
from dvidctl.api.repository import Repository
from dvidctl.errors import AmbiguousRefError, BadRequestError, ConflictError, DvidError
from dvidctl.geometry import default_budget_bytes
from dvidctl.ids import check_uuid, new_uuid
from dvidctl.store.dag import branch_key

_TILDE = re.compile(r"^(?P<base>.+?)~(?P<n>\d+)$")


@dataclass
class ServerSettings:
    """Options of ``dvidctl serve``."""

    host: str = "127.0.0.1"
    port: int = 8000
    #: Writes need it (``Authorization: Bearer`` or ``?admintoken=``); ``?admintoken=`` with
    #: it is also DVID's admin privilege: that request may write to committed nodes.
    token: str | None = None
    read_only: bool = False
    #: DVID's ``-fullwrite``: every write may reach committed nodes (expert use).
    fullwrite: bool = False
    cors: tuple[str, ...] = ("*",)
    #: Largest request body accepted (refused from Content-Length, before reading).
    max_body: int = field(default_factory=default_budget_bytes)
    #: Largest response array built for one request (bytes).
    max_response: int = field(default_factory=default_budget_bytes)
    note: str = ""
    #: Serve dvidctl's ``/api/sync/...`` endpoints (off: behave as a server without them).
    sync_api: bool = True

    def __post_init__(self) -> None:
        if self.fullwrite and self.read_only:
            raise BadRequestError(
                "can only serve with --fullwrite or --read-only, not both",
                hint="--read-only refuses every write; --fullwrite lets writes reach "
                "committed nodes",
            )


class RepoSet:
    """The repositories of one server, by root UUID, with cross-repo ref resolution.

    Args:
        repos: Open repositories (the set takes ownership: :meth:`close` closes them).
        store_dir: Where ``POST /api/repos`` creates new repositories
            (``store_dir/<root uuid>/.dvid``); None refuses repo creation.
    """

    def __init__(self, repos: list[Repository], store_dir: Path | None = None) -> None:
        self.repos: dict[str, Repository] = {}
        self.store_dir = store_dir
        self._lock = threading.Lock()
        for r in repos:
            self.add(r)

    def add(self, repo: Repository) -> None:
        """Serve ``repo`` too (its root UUID must be new)."""
        if repo.root_uuid in self.repos:
            raise ConflictError(f"a repository with root {repo.root_uuid} is already served")
        self.repos[repo.root_uuid] = repo

    def __len__(self) -> int:
        return len(self.repos)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(list(self.repos.values()))

    def close(self) -> None:
        """Close every repository (releases the RocksDB locks)."""
        for repo in list(self.repos.values()):
            try:
                repo.close()
            except Exception:  # noqa: BLE001 - close the others regardless
                pass

    # ------------------------------------------------------------ resolution
    def uuid_exists(self, uuid: str) -> bool:
        """Whether any served repo has a node with this full UUID."""
        return any(uuid in r.dag.by_uuid for r in self.repos.values())

    def _by_prefix(self, prefix: str) -> tuple[Repository, int] | None:
        if not prefix:
            raise BadRequestError("empty version reference")
        if len(prefix) == 32:  # a full UUID: one dict lookup per repo
            for r in self.repos.values():
                vid = r.dag.by_uuid.get(prefix)
                if vid is not None:
                    return r, vid
        found: list[tuple[Repository, str]] = []
        for r in self.repos.values():
            found.extend((r, u) for u in r.dag.by_uuid if u.startswith(prefix))
            if len(found) > 1:
                break
        if len(found) > 1:
            raise AmbiguousRefError(f"more than one UUID matches {prefix}")
        if not found:
            return None
        repo, uuid = found[0]
        return repo, repo.dag.by_uuid[uuid]

    def _by_name(self, name: str) -> tuple[Repository, int] | None:
        hits = [
            r
            for r in self.repos.values()
            if name in r.state.tags or branch_key(name) in r.state.branches
        ]
        if len(hits) > 1:
            raise AmbiguousRefError(f"{name!r} names a tag or branch in several repositories")
        if not hits:
            return None
        return hits[0], refs.resolve(hits[0], name)

    def resolve(self, ref: str) -> tuple[Repository, int]:
        """Return the repository and version id a URL's ``{uuid}`` names."""
        ref = ref.strip()
        steps = 0
        m = _TILDE.match(ref)
        if m:
            ref, steps = m.group("base"), int(m.group("n"))
        if ":" in ref:
            if ref.count(":") > 1:
                raise BadRequestError("bad UUID specification")
            prefix, branch = ref.split(":")
            if prefix:
                hit = self._by_prefix(prefix)
                if hit is None:
                    raise BadRequestError(f"could not find UUID with partial match to {prefix}")
                repo = hit[0]
            elif len(self.repos) == 1:
                repo = next(iter(self.repos.values()))
            else:
                raise BadRequestError(
                    f"version {ref!r} needs a UUID prefix before ':' when the server holds "
                    f"{len(self.repos)} repositories"
                )
            try:
                vid = repo.state.branches[branch_key(branch)]
            except KeyError:
                raise BadRequestError(
                    f"no branch {branch or 'master'!r} in repo {repo.root_uuid}"
                ) from None
        else:
            hit = self._by_prefix(ref) or self._by_name(ref)
            if hit is None:
                raise BadRequestError(f"could not find UUID with partial match to {ref}")
            repo, vid = hit
        for _ in range(steps):
            parent = repo.dag.first_parent(vid)
            if parent is None:
                raise BadRequestError(f"{ref}~{steps} walks past the root node")
            vid = parent
        return repo, vid

    def node(self, ref: str) -> Node:
        """The node a URL's ``{uuid}`` names."""
        repo, vid = self.resolve(ref)
        return repo.node_by_vid(vid)

    def repo(self, ref: str) -> Repository:
        """The repository containing the version ``ref`` names."""
        return self.resolve(ref)[0]

    # -------------------------------------------------------------- creation
    def create(
        self,
        *,
        alias: str = "",
        description: str = "",
        root: str | None = None,
        incoming_root: bool = False,
    ) -> Repository:
        """Create a repository under the store directory and serve it.

        ``incoming_root``: the root is a node sync is about to receive (a push of a
        repository this server lacks).
        """
        if self.store_dir is None:
            raise BadRequestError(
                "this server has no store directory for new repositories",
                hint="restart with --store DIR",
            )
        with self._lock:
            if root is not None:
                check_uuid(root)
                if self.uuid_exists(root):
                    raise ConflictError(f"a node with UUID {root} already exists")
            root = root or new_uuid()
            repo = Repository.init(
                self.store_dir / root,
                alias=alias,
                description=description,
                root_uuid=root,
                incoming_root=incoming_root,
            )
            self.add(repo)
            return repo


def open_store_repos(store_dir: Path, skip: set[Path]) -> list[Repository]:
    """Open the repositories a server created earlier under ``store_dir/<root uuid>/``."""
    out: list[Repository] = []
    if not store_dir.is_dir():
        return out
    for d in sorted(store_dir.iterdir()):
        if re.fullmatch(r"[0-9a-f]{32}", d.name) and (d / ".dvid" / "db").exists():
            if d.resolve() in skip:
                continue
            try:
                out.append(Repository.open(d))
            except DvidError:
                for r in out:
                    r.close()
                raise
    return out


@dataclass
class ServerState:
    """Settings + repositories + start time: what every handler can reach."""

    repos: RepoSet
    settings: ServerSettings = field(default_factory=ServerSettings)
    started: float = field(default_factory=time.time)

    def close(self) -> None:
        """Close every repository."""
        self.repos.close()


__all__ = ["RepoSet", "ServerSettings", "ServerState", "open_store_repos"]
