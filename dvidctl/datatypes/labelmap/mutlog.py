"""Mutation ids and the mutation log of a labelmap, as versioned keys.

Each merge, cleave, split, split-supervoxel and renumber gets the next mutation
id (one more than the largest stored at any version, DVID's repo-wide counter)
and writes a JSON record ``191 | id`` at its node, in the mutation's own batch.
``mutations`` lists a node's own records; ``history`` the records between two
versions that name a label.
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


@dataclass(frozen=True)
class ModInfo:
    """Who made a mutation (DVID's ``u=`` and ``app=`` query parameters)."""

    user: str = ""
    app: str = ""


def rfc3339_now() -> str:
    """The current time as DVID writes ``last_mod_time``."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def next_mutation_id(inst: Instance) -> int:
    """One more than the largest mutation id stored at any version."""
    got = [unpack_u64(v) for _, v in inst.node.store.payload_versions(inst.iid, MUTID_TKEY)]
    return max(got, default=0) + 1


def log_mutation(
    inst: Instance, batch: VersionedBatch, mutid: int, action: str, info: ModInfo, **fields: Any
) -> dict[str, Any]:
    """Queue the record of mutation ``mutid`` and the new last mutation id."""
    record = {
        "Action": action,
        **fields,
        "UUID": inst.node.uuid,
        "MutationID": mutid,
        "Timestamp": time.time(),
        "User": info.user,
        "App": info.app,
    }
    batch.put(inst.iid, label_tkey(CLASS_MUTATION, mutid), json.dumps(record).encode())
    batch.put(inst.iid, MUTID_TKEY, pack_u64(mutid))
    return record


def mutation_records(inst: Instance) -> list[dict[str, Any]]:
    """Every mutation record visible at the instance's node, by mutation id."""
    lo, hi = class_range(CLASS_MUTATION)
    return [json.loads(bytes(v)) for _, v in inst._scan(lo, hi)]


def mentions(record: dict[str, Any], label: int) -> bool:
    """Whether a record names ``label`` (as target, merged, cleaved or new label)."""
    for key in (
        "Target",
        "NewLabel",
        "CleavedLabel",
        "OrigLabel",
        "Supervoxel",
        "SplitSupervoxel",
        "RemainSupervoxel",
        "Body",
    ):
        if record.get(key) == label:
            return True
    return label in record.get("Labels", []) or label in record.get("Supervoxels", [])


__all__ = [
    "ModInfo",
    "log_mutation",
    "mentions",
    "mutation_records",
    "next_mutation_id",
    "rfc3339_now",
]
