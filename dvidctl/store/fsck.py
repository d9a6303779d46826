"""Checking a repository's database without writing to it (``dvidctl fsck``).

:func:`check` opens the database read-only and reports every problem it finds as
a :class:`Finding` (kind, where, message); nothing is repaired. In order:

1. **files**: ``CURRENT`` names a manifest that exists and is not cut short
   (:mod:`.rocksfiles`), then RocksDB's own read-only open (every table file
   present with its recorded size, manifest checksums, column families).
2. **read**: every key and value of every column family, with each block's
   checksum verified.
3. **data and delta index**: each data key ``instance | type key | version`` has
   its delta entry ``version | instance | type key``, whose value is the
   xxh3-128 digest of the stored value (:func:`.keys.digest`), and each delta
   entry names a stored value (a delete that leaves no trace removes both);
   stored values start with a known header; versions are nodes.
4. **metadata**: the repository record; node records (they decode, their keys
   match, UUIDs are unique, parents and children exist and name each other,
   parents are older, one root which is the repository's, a node with children
   is committed); branches and tags name nodes; instance records (unique ids,
   never an id of a deleted instance, known types); deleted-instance notes
   (whose data awaits gc, which is no problem); counters at or above the
   highest id in use.
5. **interrupted writes**: pending bulk-write markers decode (a pending one is a
   warning: the next read-write open finishes it), files waiting beside the database.
6. **stray files**: table files RocksDB does not list (a crash can leave them,
   and a read-write open deletes them; but so can a manifest that lost its last
   records) are warnings.

Warnings (:attr:`Report.warnings`) describe states that are not damage; only
problems make the check fail.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dvidctl.errors import CorruptDataError, DvidError
from dvidctl.store import bulk, rocksfiles
from dvidctl.store.engine import CF_DATA, CF_DELTA, CF_META, KVEngine
from dvidctl.store.keys import (
    HDR_TOMBSTONE,
    HDR_VALUE,
    data_key,
    digest,
    read_u32,
    split_data_key,
    split_delta_key,
)
from dvidctl.store.metadata import (
    BRANCH_PREFIX,
    COUNTER_PREFIX,
    DELETED_INSTANCE_PREFIX,
    INSTANCE_PREFIX,
    NODE_PREFIX,
    REMOTE_REF_PREFIX,
    REPO_KEY,
    SPAN_MARK_PREFIX,
    TAG_PREFIX,
    InstanceRecord,
    RepoRecord,
)

#: Findings listed per kind before the rest are only counted (a damaged file can
#: break thousands of keys the same way).
MAX_PER_KIND = 100


@dataclass(frozen=True)
class Finding:
    """One problem or warning: what kind, where (a file, key or record), and what is wrong."""

    kind: str
    where: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """The JSON form."""
        return asdict(self)


@dataclass
class Report:
    """What :func:`check` found in the database at :attr:`path`."""

    path: str
    problems: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    #: Keys and value bytes per column family, nodes, instances, ...
    counts: dict[str, int] = field(default_factory=dict)
    #: Findings per kind beyond :data:`MAX_PER_KIND`, not listed.
    omitted: dict[str, int] = field(default_factory=dict)
    _per_kind: dict[str, int] = field(default_factory=lambda: defaultdict(int), repr=False)

    @property
    def ok(self) -> bool:
        """Whether no problem was found (warnings allowed)."""
        return not self.problems

    def problem(self, kind: str, where: str, message: str) -> None:
        """Record a problem (the check fails)."""
        self._add(self.problems, kind, where, message)

    def warn(self, kind: str, where: str, message: str) -> None:
        """Record a warning (the check still passes)."""
        self._add(self.warnings, kind, where, message)

    def _add(self, into: list[Finding], kind: str, where: str, message: str) -> None:
        self._per_kind[kind] += 1
        if self._per_kind[kind] > MAX_PER_KIND:
            self.omitted[kind] = self.omitted.get(kind, 0) + 1
        else:
            into.append(Finding(kind, where, message))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``dvidctl fsck --json``)."""
        return {
            "path": self.path,
            "ok": self.ok,
            "problems": [p.to_dict() for p in self.problems],
            "warnings": [w.to_dict() for w in self.warnings],
            "omitted": dict(self.omitted),
            "counts": dict(self.counts),
        }


def check(db: Path, *, known_types: Iterable[str] | None = None, head: Any = None) -> Report:
    """Check the RocksDB database at ``db`` (read-only) and return what was found.

    Args:
        db: The database directory (``.dvid/db``).
        known_types: Registered datatype names; instances of others are problems.
        head: What ``.dvid/HEAD`` names, ``("branch", name)`` or ``("node", uuid)``;
            None skips that check. A string says what is wrong with it (a problem).
    """
    from dvidctl.store.rocks import RocksEngine

    report = Report(str(db))
    try:
        rocksfiles.check(db)
    except CorruptDataError as exc:
        report.problem("files", str(db), exc.message)
        return report
    try:
        # Every value is read once: no mapping that would keep the database in RSS.
        engine = RocksEngine(db, read_only=True, verify_checksums=True, mmap_reads=False)
    except DvidError as exc:
        report.problem("open", str(db), exc.message)
        return report
    with engine:
        check_engine(engine, report, known_types=known_types, head=head)
        _check_files(engine, report)
    return report


def check_engine(
    engine: KVEngine, report: Report, *, known_types: Iterable[str] | None = None, head: Any = None
) -> None:
    """The checks of steps 2-5 on any engine (the file checks need RocksDB)."""
    meta, meta_ok = _read_all(engine, CF_META, report)
    state = _check_meta(meta, report, set(known_types) if known_types is not None else None)
    _check_head(head, state, report)
    _check_markers(engine, meta, report)
    _check_data(engine, state, report, meta_complete=meta_ok)


# ------------------------------------------------------------------ reading
def _read_all(engine: KVEngine, cf: str, report: Report) -> tuple[dict[bytes, bytes], bool]:
    """Every key and value of ``cf`` (a small one); False when a read error cut the walk short."""
    out: dict[bytes, bytes] = {}
    nbytes = 0
    complete = True
    last = b""
    try:
        for k, v in engine.scan(cf, b""):
            out[k] = v
            nbytes += len(v)
            last = k
    except CorruptDataError as exc:
        complete = False
        report.problem("read", f"{cf} after key {last.hex() or '(start)'}", exc.message)
    report.counts[f"{cf}_keys"] = len(out)
    report.counts[f"{cf}_bytes"] = nbytes
    return out, complete


# ----------------------------------------------------------------- metadata
@dataclass
class _State:
    """The decoded metadata, as far as it decodes."""

    repo: RepoRecord | None = None
    nodes: dict[int, dict[str, Any]] = field(default_factory=dict)
    branches: dict[str, int] = field(default_factory=dict)
    instances: dict[int, str] = field(default_factory=dict)
    #: Instance ids of deleted instances (``deleted-inst/``): their keys await gc.
    deleted: dict[int, str] = field(default_factory=dict)


def _where(key: bytes) -> str:
    text = key.decode("ascii", "backslashreplace")
    return f"meta {text!r}"


def _json(key: bytes, raw: bytes, report: Report) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        report.problem("bad-record", _where(key), f"does not decode as JSON ({exc})")
        return None


def _u32(key: bytes, raw: bytes, report: Report) -> int | None:
    if len(raw) != 4:
        report.problem("bad-record", _where(key), f"holds {len(raw)} bytes, not a u32")
        return None
    return read_u32(raw)


def _check_meta(meta: dict[bytes, bytes], report: Report, known_types: set[str] | None) -> _State:
    st = _State()
    tags: dict[str, int] = {}
    counters: dict[str, int] = {}
    instance_recs: list[InstanceRecord] = []
    remote_refs: dict[str, str] = {}
    for key, raw in meta.items():
        if key == REPO_KEY:
            d = _json(key, raw, report)
            try:
                st.repo = RepoRecord(**d) if isinstance(d, dict) else None
            except TypeError as exc:
                report.problem("bad-record", _where(key), f"is not a repository record ({exc})")
            if d is not None and not isinstance(d, dict):
                report.problem("bad-record", _where(key), "is not a JSON object")
        elif key.startswith(NODE_PREFIX):
            d = _json(key, raw, report)
            if not isinstance(d, dict) or not _node_shape(d):
                if d is not None:
                    report.problem("bad-record", _where(key), "is not a node record")
                continue
            suffix = key[len(NODE_PREFIX) :]
            if len(suffix) != 4 or read_u32(suffix) != d["vid"]:
                report.problem("bad-record", _where(key), f"holds node {d['vid']}")
            st.nodes[d["vid"]] = d
        elif key.startswith(BRANCH_PREFIX):
            vid = _u32(key, raw, report)
            if vid is not None:
                st.branches[key[len(BRANCH_PREFIX) :].decode("utf-8", "replace")] = vid
        elif key.startswith(TAG_PREFIX):
            vid = _u32(key, raw, report)
            if vid is not None:
                tags[key[len(TAG_PREFIX) :].decode("utf-8", "replace")] = vid
        elif key.startswith(INSTANCE_PREFIX):
            d = _json(key, raw, report)
            try:
                rec = InstanceRecord(**d) if isinstance(d, dict) else None
            except TypeError as exc:
                report.problem("bad-record", _where(key), f"is not an instance record ({exc})")
                continue
            if rec is None:
                if d is not None:
                    report.problem("bad-record", _where(key), "is not an instance record")
                continue
            if rec.name.encode() != key[len(INSTANCE_PREFIX) :]:
                report.problem("bad-record", _where(key), f"holds instance {rec.name!r}")
            instance_recs.append(rec)
        elif key.startswith(DELETED_INSTANCE_PREFIX):
            d = _json(key, raw, report)
            suffix = key[len(DELETED_INSTANCE_PREFIX) :]
            if not isinstance(d, dict) or not isinstance(d.get("iid"), int):
                if d is not None:
                    report.problem("bad-record", _where(key), "is not a deleted-instance note")
            elif len(suffix) != 4 or read_u32(suffix) != d["iid"]:
                report.problem("bad-record", _where(key), f"holds instance id {d['iid']}")
            else:
                st.deleted[d["iid"]] = str(d.get("name", ""))
        elif key.startswith(COUNTER_PREFIX):
            if len(raw) != 8:
                report.problem("bad-record", _where(key), f"holds {len(raw)} bytes, not a u64")
            else:
                counters[key[len(COUNTER_PREFIX) :].decode("utf-8", "replace")] = int.from_bytes(
                    raw, "big"
                )
        elif key.startswith(REMOTE_REF_PREFIX):
            remote_refs[key[len(REMOTE_REF_PREFIX) :].decode("utf-8", "replace")] = raw.decode(
                "ascii", "replace"
            )
        elif key.startswith(SPAN_MARK_PREFIX):
            pass  # how far an interrupted span got: the next fetch resumes or drops it
        elif not key.startswith(bulk.MARKER_PREFIX):
            report.warn("unknown-meta-key", _where(key), "no dvidctl record has this key")
    if st.repo is None and REPO_KEY not in meta:
        report.problem("missing-repo-record", _where(REPO_KEY), "the repository record is missing")
    _check_dag(st, report)
    for name, vid in sorted(st.branches.items()):
        if vid not in st.nodes:
            label = name or "master"
            report.problem(
                "dangling-branch", f"branch {label}", f"names node {vid}, which is missing"
            )
    for name, vid in sorted(tags.items()):
        if vid not in st.nodes:
            report.problem("dangling-tag", f"tag {name}", f"names node {vid}, which is missing")
    uuids = {str(n["uuid"]) for n in st.nodes.values()}
    for name, uuid in sorted(remote_refs.items()):
        if uuid not in uuids:
            report.problem(
                "dangling-remote-ref", f"remote ref {name}", f"names node {uuid}, which is missing"
            )
    for rec in instance_recs:
        where = f"instance {rec.name}"
        if rec.iid in st.instances:
            report.problem(
                "duplicate-instance-id",
                where,
                f"has id {rec.iid}, as instance {st.instances[rec.iid]!r} does",
            )
        st.instances[rec.iid] = rec.name
        if rec.iid in st.deleted:
            report.problem(
                "duplicate-instance-id",
                where,
                f"has id {rec.iid}, as deleted instance {st.deleted[rec.iid]!r} did "
                "(ids are never reused)",
            )
        if known_types is not None and rec.typename not in known_types:
            report.problem("unknown-type", where, f"has datatype {rec.typename!r}, not a known one")
    used = {"vid": max(st.nodes, default=0), "iid": max([*st.instances, *st.deleted], default=0)}
    for name, highest in used.items():
        have = counters.get(name)
        where = f"counter {name}"
        if have is None:
            report.problem("missing-counter", where, "is missing")
        elif have < highest:
            report.problem("counter-behind", where, f"is {have}, below id {highest} in use")
    report.counts.update(nodes=len(st.nodes), instances=len(instance_recs), tags=len(tags))
    report.counts["deleted_instances"] = len(st.deleted)
    report.counts["branches"] = len(st.branches)
    return st


def _node_shape(d: dict[str, Any]) -> bool:
    return (
        isinstance(d.get("vid"), int)
        and isinstance(d.get("uuid"), str)
        and all(isinstance(d.get(k, []), list) for k in ("parents", "children"))
    )


def _check_dag(st: _State, report: Report) -> None:
    nodes = st.nodes
    seen_uuid: dict[str, int] = {}
    roots = []
    for vid in sorted(nodes):
        n = nodes[vid]
        where = f"node {vid} ({str(n['uuid'])[:10]})"
        if n["uuid"] in seen_uuid:
            report.problem("duplicate-uuid", where, f"has the UUID of node {seen_uuid[n['uuid']]}")
        seen_uuid[n["uuid"]] = vid
        parents, children = n.get("parents", []), n.get("children", [])
        if not parents:
            roots.append(vid)
        for p in parents:
            if p not in nodes:
                report.problem("missing-parent", where, f"names parent {p}, which is missing")
            elif vid not in nodes[p].get("children", []):
                report.problem("dag-asymmetric", where, f"names parent {p}, which omits it")
            elif p >= vid:
                report.problem("dag-order", where, f"has parent {p}, not older than it")
        for c in children:
            if c not in nodes:
                report.problem("missing-child", where, f"names child {c}, which is missing")
            elif vid not in nodes[c].get("parents", []):
                report.problem("dag-asymmetric", where, f"names child {c}, which omits it")
        if children and not n.get("locked", False) and not n.get("incoming", False):
            # A node sync is receiving may have children already (they are created ahead
            # of its completion); only a node open for writes must have none.
            report.problem("open-parent", where, "has children but is not committed")
    if nodes and len(roots) != 1:
        report.problem("dag-roots", "nodes", f"{len(roots)} nodes have no parent: {roots[:10]}")
    if st.repo is not None and roots and nodes[min(roots)]["uuid"] != st.repo.root:
        report.problem(
            "root-mismatch",
            _where(REPO_KEY),
            f"names root {st.repo.root}, but the root node is {nodes[min(roots)]['uuid']}",
        )


def _check_head(head: Any, st: _State, report: Report) -> None:
    if head is None:
        return
    if not isinstance(head, tuple):
        report.problem("bad-head", "HEAD", str(head))
        return
    kind, value = head
    if kind == "branch":
        stored = "" if value == "master" else value
        if stored not in st.branches:
            report.problem("bad-head", "HEAD", f"names branch {value!r}, which does not exist")
    elif not any(n["uuid"] == value for n in st.nodes.values()):
        report.problem("bad-head", "HEAD", f"names node {value}, which does not exist")


# ---------------------------------------------------------- interrupted writes
def _check_markers(engine: KVEngine, meta: dict[bytes, bytes], report: Report) -> None:
    waiting: set[str] = set()
    for key, raw in meta.items():
        if not key.startswith(bulk.MARKER_PREFIX):
            continue
        try:
            name, _ = bulk.decode_marker(raw)
        except CorruptDataError as exc:
            report.problem("bad-bulk-marker", _where(key), exc.message)
            continue
        waiting.add(name)
        report.warn(
            "pending-bulk-write",
            _where(key),
            "a large write was interrupted; the next read-write open (any write command or "
            "'dvidctl serve') finishes it",
        )
    path = getattr(engine, "path", None)
    if isinstance(path, Path):
        folder = bulk.ingest_dir(path)
        if folder.is_dir():
            for f in sorted(folder.iterdir()):
                if f.name not in waiting:
                    report.warn(
                        "stray-ingest-file",
                        str(f),
                        "left by an interrupted write; the next read-write open removes it",
                    )


# ------------------------------------------------------------ data and delta
def _check_data(engine: KVEngine, st: _State, report: Report, *, meta_complete: bool) -> None:
    delta, delta_ok = _read_all(engine, CF_DELTA, report)
    expected: dict[bytes, bytes] = {}
    for k, d in delta.items():
        if len(k) < 9:
            report.problem("bad-key", f"delta {k.hex()}", "is too short for a delta key")
            continue
        vid, iid, tkey = split_delta_key(k)
        where = f"delta {_describe(vid, iid, tkey, st)}"
        if len(d) != 16:
            report.problem("bad-digest", where, f"holds {len(d)} bytes, not a 16-byte digest")
        if vid not in st.nodes and meta_complete:
            report.problem("unknown-version", where, f"names version {vid}, not a node")
        expected[data_key(iid, tkey, vid)] = d
    del delta
    data_keys = 0
    data_bytes = 0
    last = b""
    unknown_instances: set[int] = set()
    awaiting_gc = 0
    try:
        for k, v in _scan_data(engine):
            data_keys += 1
            data_bytes += len(v)
            last = k
            if len(k) < 9:
                report.problem("bad-key", f"data {k.hex()}", "is too short for a data key")
                continue
            iid, tkey, vid = split_data_key(k)
            where = f"data {_describe(vid, iid, tkey, st)}"
            if not v or v[0] not in (HDR_VALUE, HDR_TOMBSTONE):
                head = v[:1].hex() or "empty"
                report.problem("bad-value", where, f"has header {head}, not a value or tombstone")
            elif v[0] == HDR_TOMBSTONE and len(v) != 1:
                report.problem("bad-value", where, f"is a tombstone with {len(v) - 1} extra bytes")
            if meta_complete and vid not in st.nodes:
                report.problem(
                    "unknown-version", where, f"was written at version {vid}, not a node"
                )
            if iid in st.deleted:
                awaiting_gc += 1
            elif meta_complete and iid not in st.instances and iid not in unknown_instances:
                unknown_instances.add(iid)
                report.warn(
                    "unknown-instance",
                    f"instance id {iid}",
                    "has data but neither an instance record nor a deleted-instance note",
                )
            want = expected.pop(k, None)
            if want is None:
                if delta_ok:
                    report.problem("data-without-delta", where, "has no delta-index entry")
            elif want != digest(v):
                report.problem(
                    "digest-mismatch", where, "the delta index's digest does not match the value"
                )
    except CorruptDataError as exc:
        report.problem("read", f"data after key {last.hex() or '(start)'}", exc.message)
        expected = {k: d for k, d in expected.items() if k <= last}  # the rest was not read
    report.counts["data_keys"] = data_keys
    report.counts["data_keys_of_deleted_instances"] = awaiting_gc
    report.counts["data_bytes"] = data_bytes
    for k in sorted(expected):
        iid, tkey, vid = split_data_key(k)
        report.problem(
            "delta-without-data",
            f"delta {_describe(vid, iid, tkey, st)}",
            "names a stored value that is missing",
        )


def _scan_data(engine: KVEngine) -> Iterator[tuple[bytes, bytes]]:
    return engine.scan(CF_DATA, b"")


def _describe(vid: int, iid: int, tkey: bytes, st: _State) -> str:
    inst = st.instances.get(iid, f"#{iid}")
    node = st.nodes.get(vid)
    version = f"{vid} ({str(node['uuid'])[:10]})" if node else str(vid)
    return f"instance {inst} key {tkey.hex()} version {version}"


# --------------------------------------------------------------- stray files
def _check_files(engine: Any, report: Report) -> None:
    """Table files on disk that RocksDB does not list (warnings)."""
    try:
        live = {Path(f["name"]).name for f in engine._db.live_files()}
    except Exception:  # noqa: BLE001 - rocksdict raises plain Exceptions; a best effort
        return
    for f in sorted(engine.path.glob("*.sst")):
        if f.name not in live:
            report.warn(
                "unreferenced-file",
                str(f),
                "the database does not list this table file: a crash can leave one (the next "
                "read-write open deletes it), and so can a manifest that lost its last records",
            )
    report.counts["table_files"] = len(live)


__all__ = ["Finding", "Report", "check", "check_engine"]
