"""Mutation ids and the mutation log of a labelmap, as versioned keys.

**Mutation ids.** DVID takes them from one server-wide counter; a distributed
dvidctl has many writers (clones of one repository write at their own nodes and
later push, pull and merge), so a plain counter would hand the same id to two
mutations made in two clones. An id here is ``seq << 20 | tag``:

* ``seq`` is one more than the largest ``seq`` stored at any version this store
  holds (the versioned key ``192``, a merge keeps the max), so along any path of
  the DAG ids strictly increase, and a merge node continues above both parents;
* ``tag`` is 20 bits of the node's UUID (random, 128 bits), so two nodes made in
  two clones that reach the same ``seq`` still give different ids (the same id
  needs the same ``seq`` *and* a 1-in-2^20 tag collision).

Ids stay below 2^53 up to 2^33 mutations, so JavaScript clients read them exactly.

**The log.** Each mutation writes its DVID record (the JSON DVID's
``LogJSONMutation`` stores: ``merge-complete``, ``cleave-complete``,
``split-complete``, ``split-supervoxel-complete``, ``renumber-complete``) under
``191 | id u64 BE | node UUID`` in the mutation's own batch: keys of two nodes
never coincide, so merged histories keep the records of both sides even in the
unlikely case of equal ids. ``mutations`` lists a node's own records;
``history`` the records between two versions that name a label.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dvidctl.datatypes.imageblk.config import pack_u64, unpack_u64
from dvidctl.datatypes.labelmap.keys import CLASS_MUTATION, MUTID_TKEY, class_range, label_tkey
from dvidctl.store.versioned import VersionedBatch

if TYPE_CHECKING:
    from dvidctl.datatypes.base import Instance

TAG_BITS = 20
_TAG_MASK = (1 << TAG_BITS) - 1


@dataclass(frozen=True)
class ModInfo:
    """Who made a mutation (DVID's ``u=`` and ``app=`` query parameters)."""

    user: str = ""
    app: str = ""


def rfc3339_now() -> str:
    """The current time as DVID writes ``last_mod_time``."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def go_time_now() -> str:
    """The current time as Go's ``time.Now().String()`` (DVID's record ``Timestamp``)."""
    ns = time.time_ns()
    day = datetime.fromtimestamp(ns // 10**9, UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"{day}.{ns % 10**9:09d} +0000 UTC"


def node_tag(uuid: str) -> int:
    """The 20 bits of a node UUID that mutation ids made at that node carry."""
    return int(uuid[:8], 16) & _TAG_MASK


def mutation_seq(mutid: int) -> int:
    """The sequence part of a mutation id (ids made before tags: their own seq 0)."""
    return mutid >> TAG_BITS


def next_mutation_ids(inst: Instance, count: int = 1) -> list[int]:
    """``count`` fresh mutation ids for a mutation at the instance's node."""
    got = [unpack_u64(v) for _, v in inst.node.store.payload_versions(inst.iid, MUTID_TKEY)]
    seq = max((mutation_seq(v) for v in got), default=0) + 1
    tag = node_tag(inst.node.uuid)
    return [((seq + k) << TAG_BITS) | tag for k in range(count)]


def next_mutation_id(inst: Instance) -> int:
    """The next mutation id at the instance's node (see the module notes)."""
    return next_mutation_ids(inst, 1)[0]


def mutation_tkey(mutid: int, uuid: str) -> bytes:
    """``191 | id u64 BE | node UUID``: unique to the node, ordered by id."""
    return label_tkey(CLASS_MUTATION, mutid) + bytes.fromhex(uuid)


def log_mutation(
    inst: Instance, batch: VersionedBatch, mutid: int, action: str, info: ModInfo, **fields: Any
) -> dict[str, Any]:
    """Queue DVID's record of mutation ``mutid`` (``{action}-complete``) and the last id."""
    record: dict[str, Any] = {
        "Action": f"{action}-complete",
        **fields,
        "UUID": inst.node.uuid,
        "MutationID": mutid,
        "Timestamp": go_time_now(),
    }
    if info.user:
        record["User"] = info.user
    if info.app:
        record["App"] = info.app
    payload = json.dumps(record, sort_keys=True).encode()  # Go marshals maps sorted
    batch.put(inst.iid, mutation_tkey(mutid, inst.node.uuid), payload)
    batch.put(inst.iid, MUTID_TKEY, pack_u64(mutid))
    return record


def put_records(inst: Instance, records: list[dict[str, Any]]) -> int:
    """Store this node's mutation records as another server logged them (sync's
    DVID-endpoint fallback), each under its ``MutationID`` as :func:`log_mutation` keys
    and encodes it, and raise the last mutation id to theirs; one batch.

    Returns the number of records written (those without an integer id are skipped).
    """
    ids = [r.get("MutationID") for r in records]
    keep = [(int(i), r) for i, r in zip(ids, records, strict=True) if type(i) is int and i > 0]
    if not keep:
        return 0
    inst._check_writable()
    uuid = inst.node.uuid
    with inst.lock:
        batch = inst._batch()
        for mutid, record in keep:
            payload = json.dumps(record, sort_keys=True).encode()
            batch.put(inst.iid, mutation_tkey(mutid, uuid), payload)
        top = max(m for m, _ in keep)
        mine = inst._get(MUTID_TKEY)
        if mine is None or unpack_u64(mine) < top:
            batch.put(inst.iid, MUTID_TKEY, pack_u64(top))
        batch.commit()
    return len(keep)


def mutation_records(inst: Instance) -> list[dict[str, Any]]:
    """Every mutation record visible at the instance's node, by mutation id."""
    lo, hi = class_range(CLASS_MUTATION)
    return [json.loads(bytes(v)) for _, v in inst._scan(lo, hi)]


def split_events(record: dict[str, Any]) -> list[list[int]]:
    """``[mutid, old, remain, split]`` per supervoxel a record split (DVID's SupervoxelSplitOp)."""
    mutid, action = record.get("MutationID", 0), record.get("Action", "")
    if action in ("split-supervoxel", "split-supervoxel-complete"):
        old, remain = record["Supervoxel"], record["RemainSupervoxel"]
        return [[mutid, old, remain, record["SplitSupervoxel"]]]
    if action in ("split", "split-complete"):
        return [
            [mutid, int(old), parts["Remain"], parts["Split"]]
            for old, parts in sorted(record.get("SVSplits", {}).items(), key=lambda kv: int(kv[0]))
        ]
    return []


def supervoxel_splits(inst: Instance) -> list[Any]:
    """DVID's ``supervoxel-splits``: ``[uuid, [[mutid, old, remain, split], ...], ...]`` for
    the node and its ancestors that split supervoxels, nearest first."""
    by_uuid: dict[str, list[list[int]]] = {}
    for record in mutation_records(inst):
        events = split_events(record)
        if events:
            by_uuid.setdefault(record["UUID"], []).extend(events)
    dag = inst.node.store.dag
    out: list[Any] = []
    for vid in sorted(dag.ancestors(inst.vid), reverse=True):  # parents have smaller ids
        uuid = dag.nodes[vid].uuid
        if uuid in by_uuid:
            out += [uuid, by_uuid[uuid]]
    return out


_LABEL_FIELDS = (
    "Target",
    "NewLabel",
    "CleavedLabel",
    "OrigLabel",
    "Supervoxel",
    "SplitSupervoxel",
    "RemainSupervoxel",
    "Body",
)


def mentions(record: dict[str, Any], label: int) -> bool:
    """Whether a record names ``label`` (a body or supervoxel it changed or made)."""
    if any(record.get(key) == label for key in _LABEL_FIELDS):
        return True
    if label in record.get("Labels", []) or label in record.get("CleavedSupervoxels", []):
        return True
    for old, parts in record.get("SVSplits", {}).items():
        if int(old) == label or label in (parts.get("Split"), parts.get("Remain")):
            return True
    return False


def dvid_history_entry(
    record: dict[str, Any], bodies: set[int], svs: set[int]
) -> dict[str, Any] | None:
    """What DVID's ``history/{label}/{from}/{to}`` writes for one record (Go field order), or
    None when DVID writes nothing for it (mutation_log.go ``processMutationLogStream``).

    ``bodies``: the bodies at the "from" version of the label's supervoxels at "to" (merges,
    cleaves and splits of those are written); ``svs``: those supervoxels (split-supervoxels).
    """
    action = str(record.get("Action", "")).removesuffix("-complete")
    if action == "merge" and record.get("Labels") and record.get("Target") in bodies:
        return {"Action": "merge", "Target": record["Target"], "Labels": record["Labels"]}
    if (
        action == "cleave"
        and record.get("CleavedSupervoxels")
        and record.get("OrigLabel") in bodies
    ):
        return {
            "Action": "cleave",
            "OrigLabel": record["OrigLabel"],
            "CleavedLabel": record.get("CleavedLabel", 0),
            "CleavedSupervoxels": record["CleavedSupervoxels"],
        }
    if action == "split" and record.get("Target") in bodies:
        return {
            "Action": "split",
            "Target": record["Target"],
            "NewLabel": record.get("NewLabel", 0),
            "Coarse": bool(record.get("Coarse", False)),
        }
    if action == "split-supervoxel" and record.get("Supervoxel") in svs:
        return {
            "Action": "split-supervoxel",
            "Supervoxel": record["Supervoxel"],
            "SplitSupervoxel": record.get("SplitSupervoxel", 0),
            "RemainSupervoxel": record.get("RemainSupervoxel", 0),
        }
    return None


def encode_dvid_history(entries: list[dict[str, Any]]) -> bytes:
    """DVID's body: each entry as Go's compact ``json.Marshal``, one after another (no
    separator, no enclosing list: DVID writes each to the response as it finds it)."""
    return b"".join(json.dumps(e, separators=(",", ":")).encode() for e in entries)


__all__ = [
    "TAG_BITS",
    "ModInfo",
    "dvid_history_entry",
    "encode_dvid_history",
    "go_time_now",
    "log_mutation",
    "mentions",
    "mutation_records",
    "mutation_seq",
    "mutation_tkey",
    "next_mutation_id",
    "next_mutation_ids",
    "node_tag",
    "put_records",
    "rfc3339_now",
    "split_events",
    "supervoxel_splits",
]
