"""Labels handed out on two sides of a merge: the check that keeps clones from corrupting bodies.

Within one repository new labels come from one repo-wide counter (:mod:`.counters`), so
the labels two branches allocate are disjoint by construction. Two *clones* of a
repository allocate from their own counters: after each splits a different body, both
may have made body 1001 and supervoxels 1002/1003, and their mapping keys can even be
byte-identical (``1002 -> 1001``), so a key-by-key merge combines them without a
conflict and body 1001 silently becomes two unrelated pieces.

A merge therefore asks, per side (the nodes between the merge bases and one parent, as
the delta index names them; the cost follows the change, not the volume):

* which labels the side **allocated**: the new ids named by its mutation records
  (``split``: ``NewLabel`` and each ``SVSplits`` ``Split``/``Remain``; ``cleave``:
  ``CleavedLabel``; ``split-supervoxel``: ``SplitSupervoxel``/``RemainSupervoxel``);
* which labels it **created**: labels whose mapping key (``189``) or label index
  (``187``) the side wrote and that no merge base holds (only asked of labels another
  side allocated, so a few reads).

A label one side allocated that another side allocated or created is a
``label-collision``; the merge reports every such label (ranges folded) and changes
nothing, whatever the strategy: neither side's value is right, both are needed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dvidctl.datatypes.labelmap.keys import (
    CLASS_INDEX,
    CLASS_MAPPING,
    CLASS_MUTATION,
    LABEL_TKEY_LEN,
    label_tkey,
    tkey_label,
)

if TYPE_CHECKING:
    from dvidctl.store.versioned import VersionedStore

KIND = "label-collision"


def allocated_by(record: dict[str, Any]) -> set[int]:
    """The labels a mutation record says its mutation allocated (new bodies and supervoxels)."""
    action = str(record.get("Action", "")).removesuffix("-complete")
    out: set[int] = set()
    if action == "split":
        out.add(record.get("NewLabel", 0))
        for parts in record.get("SVSplits", {}).values():
            out.update((parts.get("Split", 0), parts.get("Remain", 0)))
    elif action == "cleave":
        out.add(record.get("CleavedLabel", 0))
    elif action == "split-supervoxel":
        out.update((record.get("SplitSupervoxel", 0), record.get("RemainSupervoxel", 0)))
    return {int(v) for v in out if isinstance(v, int) and v > 0}


def fold_ranges(labels: Iterable[int]) -> str:
    """``1001-1003, 1007``: sorted labels with consecutive runs folded."""
    out: list[str] = []
    run: list[int] = []
    for v in sorted(set(labels)):
        if run and v == run[-1] + 1:
            run.append(v)
            continue
        if run:
            out.append(_run(run))
        run = [v]
    if run:
        out.append(_run(run))
    return ", ".join(out)


def _run(run: list[int]) -> str:
    return str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}"


def label_collisions(
    store: VersionedStore,
    iid: int,
    changed: Mapping[bytes, Sequence[int]],
    parents: Sequence[int],
) -> list[tuple[list[int], list[int]]]:
    """``(labels, sides)`` for each pair of merge sides that handed out the same labels.

    ``changed`` maps each of the instance's type keys changed since the merge bases to
    the parent indices whose side changed it (the merge plan's delta-index view).
    """
    n = len(parents)
    allocated: list[set[int]] = [set() for _ in range(n)]
    touched: list[set[int]] = [set() for _ in range(n)]  # labels of mapping/index keys
    for tkey, sides in changed.items():
        cls = tkey[0] if tkey else -1
        if cls == CLASS_MUTATION and len(tkey) > LABEL_TKEY_LEN:
            for i in sides:
                raw = store.get(parents[i], iid, tkey)
                if raw is not None:
                    allocated[i] |= allocated_by(_record(raw))
        elif cls in (CLASS_INDEX, CLASS_MAPPING) and len(tkey) == LABEL_TKEY_LEN:
            for i in sides:
                touched[i].add(tkey_label(tkey))
    if not any(allocated):
        return []
    bases = store.dag.merge_bases(parents)
    existed: dict[int, bool] = {}

    def created(i: int, candidates: set[int]) -> set[int]:
        """The labels of ``candidates`` side ``i`` wrote a mapping/index key for, new there."""
        out = set()
        for label in candidates & touched[i]:
            if label not in existed:
                existed[label] = _held_at(store, iid, label, bases)
            if not existed[label]:
                out.add(label)
        return out

    found: list[tuple[list[int], list[int]]] = []
    for i in range(n):
        for j in range(i + 1, n):
            both = (allocated[i] & allocated[j]) | created(j, allocated[i])
            both |= created(i, allocated[j])
            if both:
                found.append((sorted(both), [i, j]))
    return found


def _held_at(store: VersionedStore, iid: int, label: int, bases: Sequence[int]) -> bool:
    """Whether any merge base has a mapping key or label index for ``label``."""
    for cls in (CLASS_MAPPING, CLASS_INDEX):
        tkey = label_tkey(cls, label)
        if any(store.get(b, iid, tkey) is not None for b in bases):
            return True
    return False


def _record(raw: memoryview) -> dict[str, Any]:
    try:
        got = json.loads(bytes(raw))
    except ValueError:
        return {}
    return got if isinstance(got, dict) else {}


__all__ = ["KIND", "allocated_by", "fold_ranges", "label_collisions"]
