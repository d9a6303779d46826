"""The local repository: open or create one, name nodes, and reach the version operations.

``Repository`` is deliberately small: it owns the engine, the metadata state
and the versioned store, resolves refs and HEAD, and binds the operations that
live in their own modules (:mod:`dvidctl.api.versions`, :mod:`dvidctl.api.instances`).
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvidctl.api import layout, refs
from dvidctl.errors import (
    BadRequestError,
    ConflictError,
    CorruptDataError,
    DvidError,
    NotFoundError,
    RepositoryBusyError,
)
from dvidctl.ids import new_uuid
from dvidctl.store import metadata
from dvidctl.store.dag import NodeRecord, branch_key
from dvidctl.store.engine import KVEngine, WriteBatch
from dvidctl.store.memory import MemoryEngine
from dvidctl.store.metadata import RepoRecord, RepoState
from dvidctl.store.versioned import VersionedStore

if TYPE_CHECKING:
    from dvidctl.api.node import Node
    from dvidctl.store.fsck import Report as FsckReport


def set_engine_defaults(
    *,
    compact_on_close: bool | None = None,
    warm_ingested: bool | None = None,
    readahead: bool | None = None,
) -> None:
    """Defaults for every RocksDB engine opened after this call.

    Args:
        compact_on_close: Compact overwritten data when a read-write engine closes
            (:mod:`dvidctl.store.space`); off only to measure what it costs.
        warm_ingested: Read a bulk write's table file back into the page cache
            (:mod:`dvidctl.store.pagecache`).
        readahead: Let the kernel read ahead in mapped table files
            (``RocksEngine.readahead_default``).
    """
    from dvidctl.store.rocks import RocksEngine

    if compact_on_close is not None:
        RocksEngine.compact_on_close_default = compact_on_close
    if warm_ingested is not None:
        RocksEngine.warm_ingested_default = warm_ingested
    if readahead is not None:
        RocksEngine.readahead_default = readahead


def fsck(path: str | Path | None = None) -> FsckReport:
    """Check the repository at or above ``path`` without writing (``dvidctl fsck``).

    Works when the repository cannot be opened: that is what it reports then.
    """
    import dvidctl.datatypes  # noqa: F401  (registers the built-in types)
    from dvidctl.datatypes import registry
    from dvidctl.store import fsck as store_fsck

    dvid_dir = layout.find_repo_dir(path)
    head: tuple[str, str] | str
    try:
        ref, detached = layout.read_head(dvid_dir)
        head = ("node" if detached else "branch", ref)
    except CorruptDataError as exc:
        head = exc.message
    report = store_fsck.check(dvid_dir / "db", known_types=registry.names(), head=head)
    if report.ok:
        _check_values(dvid_dir, report)
    return report


def _check_values(dvid_dir: Path, report: FsckReport) -> None:
    """The datatypes' own checks of their stored values (``DatatypeSpec.check_values``)."""
    from dvidctl.datatypes import registry

    try:
        repo = Repository.open(dvid_dir.parent, read_only=True, mmap_reads=False)
    except DvidError as exc:
        report.problem("open", str(dvid_dir), exc.message)
        return
    with repo:
        for rec in repo.state.instances.values():
            check = registry.get(rec.typename).check_values
            if check is None:
                continue
            for where, message in check(repo.store, rec.iid):
                report.problem("bad-value", f"instance {rec.name}: {where}", message)


class Repository:
    """A versioned repository (one DAG) on one engine.

    Use :meth:`init`, :meth:`open` or :meth:`memory` to get one; close it (or use
    it as a context manager) to release the database.
    """

    def __init__(self, engine: KVEngine, state: RepoState, dvid_dir: Path | None) -> None:
        import dvidctl.datatypes  # noqa: F401  (registers the built-in types)

        self.engine = engine
        self.state = state
        self.dvid_dir = dvid_dir
        self.store = VersionedStore(engine, state.dag)
        #: HEAD as ``(ref, detached)``, read from ``.dvid/HEAD`` when first used, so a
        #: damaged HEAD fails only what needs HEAD (``checkout`` can still repair it).
        self._head: tuple[str, bool] | None = None if dvid_dir else ("master", False)
        self._instance_locks: dict[int, threading.RLock] = {}
        self._locks_guard = threading.Lock()

    # ------------------------------------------------------------ lifecycle
    @classmethod
    def init(
        cls,
        path: str | Path | None = None,
        *,
        alias: str = "",
        description: str = "",
        root_uuid: str | None = None,
        engine: KVEngine | None = None,
        incoming_root: bool = False,
    ) -> Repository:
        """Create a repository with one open root node on branch master.

        Args:
            path: Directory that gets ``.dvid/`` (None with ``engine`` given: no files).
            alias: Short repo name (DVID's Alias).
            description: Free text.
            root_uuid: Use this root UUID instead of a fresh one (clone, DVID's ``root``).
            engine: Use this engine instead of RocksDB under ``path/.dvid/db``.
            incoming_root: The root is a node sync is about to receive (clone, a push
                that creates the repository): read-only until sync completes it.
        """
        dvid_dir: Path | None = None
        if engine is None:
            if path is None:
                raise ValueError("init needs a path or an engine")
            dvid_dir = Path(path).resolve() / layout.DIRNAME
            if (dvid_dir / "db").exists():
                raise ConflictError(
                    f"{dvid_dir.parent} already holds a dvidctl repository",
                    hint="use it as it is, or remove its .dvid directory first",
                )
            made = not dvid_dir.exists()
            try:
                dvid_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise BadRequestError(
                    f"cannot create a repository in {Path(path)}: {exc.strerror}",
                    hint="name a directory (it is created if missing)",
                ) from None
            from dvidctl.store.rocks import RocksEngine

            (dvid_dir / layout.INITIALIZING).touch()  # removed once the repository is whole
            try:
                engine = RocksEngine(dvid_dir / "db", create=True)
            except BaseException:
                if made:
                    shutil.rmtree(dvid_dir, ignore_errors=True)
                else:
                    shutil.rmtree(dvid_dir / "db", ignore_errors=True)
                    (dvid_dir / layout.INITIALIZING).unlink(missing_ok=True)
                raise
        root = root_uuid or new_uuid()
        repo_rec = RepoRecord(root=root, alias=alias, description=description)
        node = NodeRecord(vid=1, uuid=root, incoming=incoming_root)
        wb = WriteBatch()
        metadata.put_repo(wb, repo_rec)
        metadata.put_node(wb, node)
        metadata.put_branch(wb, "", 1)
        metadata.put_counter(wb, "vid", 1)
        metadata.put_counter(wb, "iid", 0)
        try:
            engine.write(wb)
            if dvid_dir is not None:
                layout.write_head(dvid_dir, "master", detached=False)
                (dvid_dir / "config").touch()
                (dvid_dir / layout.INITIALIZING).unlink()
        except BaseException:
            engine.maintenance = False
            engine.close()
            if dvid_dir is not None:  # no half-made repository left behind
                shutil.rmtree(dvid_dir / "db", ignore_errors=True)
                (dvid_dir / layout.INITIALIZING).unlink(missing_ok=True)
            raise
        state = metadata.load(engine)
        assert state is not None
        return cls(engine, state, dvid_dir)

    @classmethod
    def open(
        cls,
        path: str | Path | None = None,
        *,
        read_only: bool = False,
        mmap_reads: bool | None = None,
    ) -> Repository:
        """Open the repository at or above ``path`` (default: the working directory).

        ``mmap_reads``: read table files through ``mmap`` (default: yes), which pays
        off when the same data is read again; see ``RocksEngine.mmap_reads_default``.
        """
        from dvidctl.store.rocks import RocksEngine

        dvid_dir = layout.find_repo_dir(path)
        try:
            engine = RocksEngine(dvid_dir / "db", read_only=read_only, mmap_reads=mmap_reads)
        except RepositoryBusyError as exc:
            url = layout.server_url(dvid_dir)
            if url is None:
                raise
            raise RepositoryBusyError(
                f"the repository is being served by 'dvidctl serve' at {url}",
                hint=f"send it to the server (--remote {url} --node UUID), or stop the server",
            ) from exc
        try:
            state = metadata.load(engine)
        except BaseException:
            engine.maintenance = False
            engine.close()
            raise
        if state is None:
            engine.maintenance = False
            engine.close()
            raise CorruptDataError(
                f"{dvid_dir} holds a database without a repository record",
                hint="if 'dvidctl init' was interrupted, remove .dvid and run it again; "
                "otherwise restore .dvid from a copy",
            )
        return cls(engine, state, dvid_dir)

    @classmethod
    def memory(cls, **kwargs: Any) -> Repository:
        """A repository in memory (tests, demos)."""
        return cls.init(engine=MemoryEngine(), **kwargs)

    def close(self) -> None:
        """Release the database and its lock."""
        self.engine.close()

    def __enter__(self) -> Repository:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is None:
            self.close()
            return
        self.engine.maintenance = False  # leave at once on an error or Ctrl-C
        try:
            self.close()
        except DvidError:
            pass  # e.g. a full disk fails the close too: the error in flight is the one to show

    # ---------------------------------------------------------- properties
    @property
    def dag(self):  # type: ignore[no-untyped-def]
        """The commit DAG (:class:`dvidctl.store.dag.Dag`)."""
        return self.state.dag

    @property
    def root_uuid(self) -> str:
        """The UUID of the root node, which names the repository everywhere."""
        return self.state.repo.root

    @property
    def alias(self) -> str:
        """The repository alias."""
        return self.state.repo.alias

    @property
    def description(self) -> str:
        """The repository description."""
        return self.state.repo.description

    def instance_lock(self, iid: int) -> threading.RLock:
        """The lock serialising read-modify-write on instance ``iid``."""
        with self._locks_guard:
            lock = self._instance_locks.get(iid)
            if lock is None:
                lock = self._instance_locks[iid] = threading.RLock()
            return lock

    # ------------------------------------------------------------ HEAD, refs
    def _read_head(self) -> tuple[str, bool]:
        if self._head is None:
            assert self.dvid_dir is not None
            self._head = layout.read_head(self.dvid_dir)
        return self._head

    @property
    def head_ref(self) -> str:
        """What HEAD names: a branch (user-facing name) or a full UUID when detached."""
        return self._read_head()[0]

    @property
    def head_branch(self) -> str | None:
        """The checked-out branch, or None for a detached HEAD."""
        ref, detached = self._read_head()
        return None if detached else ref

    @property
    def head_vid(self) -> int:
        """The version id HEAD points at (a branch's leaf, or the detached node)."""
        ref, detached = self._read_head()
        found = self.dag.by_uuid.get(ref) if detached else self.state.branches.get(branch_key(ref))
        if found is None:
            raise NotFoundError(
                f"HEAD names {'node' if detached else 'branch'} {ref!r}, which does not exist",
                hint="check out a branch ('dvidctl checkout master')",
            )
        return int(found)

    def set_head(self, ref: str, *, detached: bool) -> None:
        """Point HEAD at a branch name or (detached) a full UUID."""
        self._head = (ref, detached)
        if self.dvid_dir is not None:
            layout.write_head(self.dvid_dir, ref, detached=detached)

    def resolve(self, ref: str | None) -> int:
        """The version id named by ``ref`` (None means HEAD)."""
        return self.head_vid if ref is None else refs.resolve(self, ref)

    def node(self, ref: str | None = None) -> Node:
        """The node named by ``ref`` (default HEAD)."""
        from dvidctl.api.node import Node

        return Node(self, self.resolve(ref))

    def node_by_vid(self, vid: int) -> Node:
        """The node with local version id ``vid``."""
        from dvidctl.api.node import Node

        if vid not in self.dag:
            raise NotFoundError(f"no node with version id {vid}")
        return Node(self, vid)

    @property
    def head(self) -> Node:
        """The node HEAD points at."""
        return self.node(None)

    # ------------------------------------------------------ bound operations
    from dvidctl.api.instances import (  # type: ignore[misc]  # noqa: E402
        delete_instance,
        instance_record,
        instances,
        new_instance,
    )
    from dvidctl.api.merge import merge  # type: ignore[misc]  # noqa: E402
    from dvidctl.api.versions import (  # type: ignore[misc]  # noqa: E402
        branch,
        checkout,
        commit,
        delete_branch,
        delete_tag,
        diff,
        log,
        rename_branch,
        tag,
    )
