"""``push`` to a server without the sync API (DVID itself): through DVID's own endpoints.

The DAG is rebuilt there node by node, parents first, with the same UUIDs:

* a repository the server lacks: ``POST /api/repos`` with ``root`` (DVID assigns
  that UUID to the root; DVID needs admin privilege for it: ``?admintoken=``);
* a node: ``POST node/{parent}/newversion`` with ``uuid`` on the parent's branch,
  ``POST node/{parent}/branch`` with ``branch`` and ``uuid`` for a new branch;
* instances the server lacks: ``POST repo/{uuid}/instance`` with the creation
  config DVID would take (DVID picks the data UUIDs: instances are matched by name);
* each node's own writes (its delta entries): keyvalue ``POST keyvalues`` in
  chunks and ``DELETE key``; roi ``DELETE roi`` then ``POST roi`` when the node wrote
  spans; uint8blk ``POST blocks/{x_y_z}/{span}``, labelmap ``POST blocks`` (gzip'd label
  Blocks) at the scale each block is stored at, then ``POST extents`` and ``POST
  maxlabel/{n}``;
* then ``POST node/{uuid}/commit`` with the note and log.

Refused before anything is sent: a push that is not a fast-forward (the remote
branch has a committed node the local branch lacks), a remote branch ending in an
open node that is not one this push made (DVID cannot replace it: commit it there),
a merge node the remote lacks (DVID's ``merge`` gives the child a new UUID), and a
partial clone by region (it does not hold the nodes' blocks). A node the remote
holds committed is taken as it is (DVID has no digests); one it holds open is one an
interrupted push made, and is written again (every write is idempotent) and committed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from dvidctl.api import receive
from dvidctl.api.syncstate import RepoInfo
from dvidctl.datatypes.imageblk.blockkeys import (
    EXTENTS_TKEY,
    MAXLABEL_TKEY,
    TKEY_LEN,
    decode_block_tkeys,
)
from dvidctl.datatypes.keyvalue.keys import CLASS_KV, key_of
from dvidctl.errors import BadRequestError, ConflictError, NotFoundError, RemoteError
from dvidctl.geometry import Box
from dvidctl.store import nodedelta
from dvidctl.store.dag import branch_label
from dvidctl.sync.dvidstate import creation_config, repo_info
from dvidctl.sync.fallback import Source
from dvidctl.sync.http import Policy
from dvidctl.sync.pushlabels import push_label_state
from dvidctl.sync.remotes import Remote
from dvidctl.sync.results import Progress, ProgressFn, PushResult
from dvidctl.sync.transfer import Clock

if TYPE_CHECKING:
    from dvidctl.api.repository import Repository
    from dvidctl.store.dag import NodeRecord

#: Keyvalue values per ``POST keyvalues`` request.
KV_CHUNK = 256
#: Blocks per voxel write request.
BLOCK_CHUNK = 64


def push_dvid(
    repo: Repository,
    remote: Remote,
    name: str,
    tip: int,
    *,
    policy: Policy | None = None,
    progress: ProgressFn | None = None,
) -> PushResult:
    """Push branch ``name`` (its last committed node ``tip``) through DVID's endpoints."""
    src = Source(remote.base, repo.root_uuid, token=remote.token, policy=policy)
    try:
        return _Pusher(repo, remote, name, tip, src, progress).run()
    finally:
        src.close()


class _Pusher:
    def __init__(
        self,
        repo: Repository,
        remote: Remote,
        name: str,
        tip: int,
        src: Source,
        progress: ProgressFn | None,
    ) -> None:
        self.repo, self.remote, self.name, self.tip = repo, remote, name, tip
        self.src, self.progress = src, progress
        self.stats = src.stats
        self.rr = src.remote
        self.known: set[str] = set()  # instance names the server has

    # ---------------------------------------------------------------- plan
    def _their(self) -> RepoInfo | None:
        try:
            doc = self.src.retry(lambda: self.rr.info(self.repo.root_uuid, refresh=True))
        except (BadRequestError, NotFoundError):
            return None  # DVID: 400 for an unknown UUID
        return repo_info(doc)

    def run(self) -> PushResult:
        repo = self.repo
        clock = Clock(self.stats)
        tip_uuid = repo.dag.node(self.tip).uuid
        result = PushResult(self.remote.name, self.name, self.stats, new=tip_uuid, via="dvid")
        if repo.state.held is not None:
            raise ConflictError(
                f"{self.remote.base} has no sync API, and this partial clone by region holds "
                f"only part of its nodes ({repo.state.held.describe()}); nothing was pushed",
                hint="push from a full clone",
            )
        their = self._their()
        key = "" if self.name == "master" else self.name
        todo = self._todo(their)
        self._check(their, todo, key, result)
        if not todo:
            result.up_to_date = True
        if their is None:
            self._create_repo()
            result.created_repo = True
        else:
            self.known = {i.name for i in their.instances}
        for done, rec in enumerate(todo):
            if self.progress is not None:
                self.progress(Progress(f"push {self.remote.name}", done, len(todo), self.stats))
            self._node(rec, their)
        self.stats.nodes_same += len(self._wanted()) - len(todo)
        receive.set_remote_refs(repo, self.remote.name, {self.name: tip_uuid}, only=True)
        clock.stop()
        return result

    def _wanted(self) -> list[NodeRecord]:
        dag = self.repo.dag
        return [dag.node(v) for v in sorted(dag.ancestors(self.tip))]

    def _todo(self, their: RepoInfo | None) -> list[NodeRecord]:
        out = []
        for rec in self._wanted():
            other = their.node(rec.uuid) if their is not None else None
            if other is None or not other.locked:
                out.append(rec)
        return out

    def _check(
        self, their: RepoInfo | None, todo: list[NodeRecord], key: str, result: PushResult
    ) -> None:
        repo = self.repo
        where = f"{self.remote.name}/{self.name}"
        if their is not None:
            if their.root != repo.root_uuid:
                raise RemoteError(f"{self.remote.base} holds another repository")
            head = their.branches.get(key)
            result.old = head
            if head is not None:
                last = their.last_committed(head)
                ours = {repo.dag.node(v).uuid for v in repo.dag.ancestors(self.tip)}
                if last is not None and last not in ours:
                    raise ConflictError(
                        f"the remote branch {where} has committed nodes this branch lacks "
                        "(not a fast-forward); nothing was pushed",
                        hint=f"pull first ('dvidctl pull {self.remote.name} {self.name}')",
                    )
                node = their.node(head)
                if node is not None and not node.locked and head not in ours:
                    raise ConflictError(
                        f"the remote branch {where} ends in open node {head[:10]}, which DVID "
                        "cannot replace; nothing was pushed",
                        hint="commit it on the server (POST .../commit), pull, then push",
                    )
        for rec in todo:
            if len(rec.parents) > 1 and (their is None or their.node(rec.uuid) is None):
                raise BadRequestError(
                    f"node {rec.uuid[:10]} is a merge: DVID's merge endpoint cannot give it "
                    "the same UUID, so it cannot go without the sync API; nothing was pushed",
                    hint="push to a dvidctl server, or push a branch without merges",
                )
            if rec.parents and (their is None or their.node(rec.uuid) is None):
                parent = repo.dag.node(rec.parents[0])
                if rec.branch == "" and parent.branch != "":
                    raise BadRequestError(
                        f"node {rec.uuid[:10]} continues master from branch "
                        f"{branch_label(parent.branch)!r}: DVID cannot make that; "
                        "nothing was pushed"
                    )

    # -------------------------------------------------------------- writes
    def _post(self, path: str, **kw: Any) -> Any:
        return self.src.retry(lambda: self.rr.request("POST", path, **kw))

    def _create_repo(self) -> None:
        r = self.repo.state.repo
        body = {"alias": r.alias, "description": r.description, "root": self.repo.root_uuid}
        params = {"admintoken": self.remote.token} if self.remote.token else None
        self._post("repos", content=json.dumps(body), params=params)

    def _node(self, rec: NodeRecord, their: RepoInfo | None) -> None:
        repo = self.repo
        exists = (their is not None and their.node(rec.uuid) is not None) or not rec.parents
        if not exists:
            parent = repo.dag.node(rec.parents[0])
            body: dict[str, Any] = {"uuid": rec.uuid, "note": ""}
            if rec.branch == parent.branch:
                self._post(f"node/{parent.uuid}/newversion", content=json.dumps(body))
            else:
                body["branch"] = rec.branch
                self._post(f"node/{parent.uuid}/branch", content=json.dumps(body))
        self._instances(rec.uuid)
        for inst_rec in repo.instances():
            self._data(rec, inst_rec.name, inst_rec.iid)
        note = {"note": rec.note, "log": list(rec.log)}
        self._post(f"node/{rec.uuid}/commit", content=json.dumps(note))
        self.stats.nodes += 1

    def _instances(self, uuid: str) -> None:
        for rec in self.repo.instances():
            if rec.name in self.known:
                continue
            info = self.repo.node(uuid).instance(rec.name).info()
            base, ext = info.get("Base", {}), info.get("Extended", {})
            config = creation_config(rec.typename, base, ext)
            body = {"typename": rec.typename, "dataname": rec.name, **config}
            self._post(f"repo/{uuid}/instance", content=json.dumps(body))
            self.known.add(rec.name)

    def _data(self, rec: NodeRecord, name: str, iid: int) -> None:
        repo = self.repo
        vid = rec.vid if repo.instance_record(name).versioned else repo.dag.root.vid
        if vid != rec.vid:
            return  # unversioned: kept at the root, sent with it
        tkeys = [tk for tk, _ in nodedelta.listing(repo.engine, vid, iid)]
        if not tkeys:
            return
        local: Any = repo.node(rec.uuid).instance(name)
        there: Any = self.src.retry(lambda: self.rr.node(rec.uuid).instance(name))
        kind = local.typename
        if kind == "keyvalue":
            self._keyvalue(local, there, [key_of(t) for t in tkeys if t[0] == CLASS_KV])
        elif kind == "roi":
            spans = local.get_spans()
            self.src.retry(there.delete)
            if spans:
                self.src.retry(lambda: there.put_spans(spans))
            self.stats.keys += len(spans)
            self.stats.batches += 1
        elif kind in ("uint8blk", "labelmap"):
            self._voxels(local, there, tkeys)
        else:
            raise BadRequestError(f"pushing {kind} instances through DVID's endpoints")

    def _keyvalue(self, local: Any, there: Any, keys: list[str]) -> None:
        for i in range(0, len(keys), KV_CHUNK):
            names = keys[i : i + KV_CHUNK]
            got = local.get_many(names)
            put = {k: v for k, v in got.items() if v is not None}
            gone = [k for k, v in got.items() if v is None]
            if put:
                self.src.retry(partial(there.put_many, put))
                self.stats.keys += len(put)
                self.stats.bytes += sum(len(v) for v in put.values())
            for k in gone:
                self.src.retry(partial(there.delete, k))
                self.stats.deleted += 1
            self.stats.batches += 1

    def _voxels(self, local: Any, there: Any, tkeys: list[bytes]) -> None:
        cls = local.key_class
        labels = local.typename == "labelmap"
        blocks = [t for t in tkeys if len(t) == TKEY_LEN and t[0] == cls]
        if labels:  # blocks hold supervoxels; the mapping goes apart (pushlabels)
            local = local.supervoxel_view()
        if blocks:
            scales, coords = decode_block_tkeys(blocks)
            # One request in flight while the next batch is read here.
            with ThreadPoolExecutor(1, thread_name_prefix="dvidctl-push") as pool:
                pending: Future[int] | None = None
                for s in np.unique(scales).tolist():
                    for batch in _batches(local, int(s), coords[scales == s]):
                        if pending is not None:
                            self.stats.bytes += pending.result()
                        send = partial(there.put_blocks, batch, int(s))
                        pending = pool.submit(self.src.retry, send)
                        self.stats.keys += len(batch)
                        self.stats.batches += 1
                if pending is not None:
                    self.stats.bytes += pending.result()
        ext = local.extents()
        if ext is not None and EXTENTS_TKEY in tkeys:  # only what the node itself changed
            self.src.retry(lambda: there.set_extents(ext))
        if labels:
            top = int(local.max_label())
            if top and MAXLABEL_TKEY in tkeys:
                self.src.retry(lambda: there.raise_max_label(top))
            push_label_state(local, there, tkeys, self.src.retry, self.stats)


def _batches(
    local: Any, scale: int, coords: np.ndarray
) -> Iterator[list[tuple[tuple[int, int, int], np.ndarray]]]:
    """The blocks at ``coords`` (ZYX, at ``scale``) as read at the node, ``BLOCK_CHUNK`` at a
    time; each run of blocks adjacent along x is one read."""
    bz, by, bx = local.block_shape
    c = np.asarray(coords, dtype=np.int64).reshape(-1, 3)
    c = c[np.lexsort((c[:, 2], c[:, 1], c[:, 0]))]
    batch: list[tuple[tuple[int, int, int], np.ndarray]] = []
    i = 0
    while i < len(c):
        z, y, x = (int(v) for v in c[i])
        j = i + 1
        while j < len(c) and j - i < BLOCK_CHUNK and tuple(c[j]) == (z, y, x + j - i):
            j += 1
        n = j - i
        box = Box((z * bz, y * by, x * bx), ((z + 1) * bz, (y + 1) * by, (x + n) * bx))
        vol = local.get_subvolume(box, scale)
        for k in range(n):
            batch.append(((z, y, x + k), np.ascontiguousarray(vol[:, :, k * bx : (k + 1) * bx])))
            if len(batch) >= BLOCK_CHUNK:
                yield batch
                batch = []
        i = j
    if batch:
        yield batch
