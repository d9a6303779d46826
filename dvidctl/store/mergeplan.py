"""Merge planning: find, from the delta index, every key two sides both changed.

For parents ``P0..Pn`` with common ancestors ``C``, side *i* is the set of nodes
``ancestors(Pi) - C`` and its changed keys are the union of those nodes' delta
entries. The cost grows with what changed since the common ancestors, not with
the size of the repository. A key changed on one side only is already read
unambiguously at the merge node. A key changed on two or more sides is read at
every parent; if all parents agree nothing is needed; otherwise the merge
node must hold a resolution: a datatype's merge rule (e.g. union of extents),
else a datatype's three-way merge of the key's contents against the merge base
(voxels of a block: only the parts changed differently on several sides are
conflicts, and the strategy resolves only those), else the strategy (``ours``:
the first parent's value, ``theirs``: the last other parent that changed it),
else it is a conflict.

Derived keys (a datatype's pyramid levels above 0, say) are never compared:
they follow from the source keys and the caller rebuilds them in the merge
node. The plan lists, per instance that has derived keys, the source keys any
side changed (``sources``) and the derived keys two sides changed (``contested``),
which the merge node must rewrite so that every read there is unambiguous. When
a strategy overruled parts of a three-way merged key, the derived keys one side
changed are contested too: they may count the overruled parts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from dvidctl.store.keys import HDR_TOMBSTONE, TOMBSTONE
from dvidctl.store.versioned import Stored, VersionedStore, frame, payload_of

#: ``rule(iid, tkey, payload at each parent (None: absent)) -> merged payload``,
#: or None when the rule has nothing to say about the key (it stays a conflict).
MergeRule = Callable[[int, bytes, list[memoryview | None]], bytes | None]
#: ``derived(iid)`` -> a predicate telling an instance's derived type keys, or None
#: when the instance has none.
DerivedKeys = Callable[[int], Callable[[bytes], bool] | None]

STRATEGIES = ("fail", "ours", "theirs")


@dataclass
class KeyMerge:
    """A key merged three-way by its datatype (e.g. a block, voxel by voxel).

    ``stored`` is the merged value (header included), None when the key is absent
    at the merge node. ``conflicts`` counts the parts (voxels) several sides
    changed differently, ``where`` names the first of them as the type reports
    them (XYZ voxel coordinates); with the ``fail`` strategy a key with
    conflicts is a conflict, otherwise the strategy resolved exactly those parts.
    """

    stored: Stored | None
    conflicts: int = 0
    where: list[list[int]] = field(default_factory=list)


#: ``three_way(iid, tkey, base payload, payload at each parent, sides, strategy)`` ->
#: the merged key, or None when the type has no three-way merge for it. Payloads
#: are None where the key is absent; ``sides`` are the parents that changed it.
ThreeWay = Callable[
    [int, bytes, memoryview | None, list[memoryview | None], list[int], str],
    KeyMerge | None,
]


@dataclass
class KeyConflict:
    """One key whose sides disagree. ``values[i]`` is what parent *i* sees (None = absent)."""

    iid: int
    tkey: bytes
    values: list[Stored | None]
    sides: list[int]  # indices of the parents that changed the key
    #: Set when the datatype merged the key three-way and only parts conflict.
    partial: KeyMerge | None = None

    def side_values(self) -> list[Stored | None]:
        """Values of the parents that changed the key, tombstones as None."""
        return [_live(self.values[i]) for i in self.sides]


@dataclass
class MergePlan:
    """What a merge node must hold, and the conflicts left for the strategy."""

    parents: list[int]
    resolutions: dict[tuple[int, bytes], Stored] = field(default_factory=dict)
    conflicts: list[KeyConflict] = field(default_factory=list)
    #: Per instance with derived keys: the source keys changed on any side.
    sources: dict[int, list[bytes]] = field(default_factory=dict)
    #: Per instance with derived keys: the derived keys changed on two or more sides, and
    #: those changed on one side where a strategy overruled parts (voxels) of some side.
    contested: dict[int, list[bytes]] = field(default_factory=dict)
    #: Keys merged three-way by their datatype (written into the merge node).
    merged_parts: int = 0
    #: Conflicting parts (voxels) of those keys that the strategy resolved.
    resolved_parts: int = 0
    #: Every key changed since the merge bases -> the parent indices whose side changed it.
    changed: dict[tuple[int, bytes], list[int]] = field(default_factory=dict)


def _live(stored: Stored | None) -> Stored | None:
    return None if stored is None or stored[0] == HDR_TOMBSTONE else stored


def changed_keys(
    store: VersionedStore, parents: Sequence[int]
) -> dict[tuple[int, bytes], list[int]]:
    """Map each key changed since the common ancestors to the parent indices that changed it."""
    dag = store.dag
    common = dag.common_ancestors(parents)
    sides: dict[tuple[int, bytes], list[int]] = defaultdict(list)
    for i, p in enumerate(parents):
        seen: set[tuple[int, bytes]] = set()
        for v in dag.ancestors(p) - common:
            for iid, tkey, _ in store.changes(v):
                seen.add((iid, tkey))
        for k in seen:
            sides[k].append(i)
    return sides


def plan_merge(
    store: VersionedStore,
    parents: Sequence[int],
    *,
    strategy: str = "fail",
    rule: MergeRule | None = None,
    derived: DerivedKeys | None = None,
    three_way: ThreeWay | None = None,
) -> MergePlan:
    """Plan a merge of ``parents`` (the first is "ours").

    Returns the resolutions to write into the merge node; with ``strategy="fail"``
    the unresolved keys are in ``plan.conflicts`` and the caller must refuse.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown merge strategy {strategy!r}")
    plan = MergePlan(list(parents))
    bases = store.dag.merge_bases(parents)
    predicates: dict[int, Callable[[bytes], bool] | None] = {}
    one_sided: dict[int, list[bytes]] = {}  # derived keys one side changed
    overruled: set[int] = set()  # instances where the strategy overruled some side's parts
    plan.changed = changed_keys(store, parents)
    for (iid, tkey), sides in sorted(plan.changed.items()):
        if iid not in predicates:
            predicates[iid] = derived(iid) if derived is not None else None
        is_derived = predicates[iid]
        if is_derived is not None:
            if is_derived(tkey):
                if len(sides) > 1:
                    plan.contested.setdefault(iid, []).append(tkey)
                else:
                    one_sided.setdefault(iid, []).append(tkey)
                continue
            plan.sources.setdefault(iid, []).append(tkey)
        if len(sides) < 2:
            continue
        versions = store.versions(iid, tkey)
        values = [_live(store.resolve(versions, p)) for p in parents]
        if len(set(values)) == 1:
            continue
        base: Stored | None = None
        if len(bases) == 1:
            # A side that changed the key and came back to the base value did not change it.
            base = _live(store.resolve(versions, bases[0]))
            sides = [i for i in sides if values[i] != base] or sides
        side_vals = {values[i] for i in sides}
        chosen: Stored | None
        if len(side_vals) == 1:
            # The sides that changed it agree (others kept the base value).
            chosen = values[sides[0]]
        else:
            merged = rule(iid, tkey, [payload_of(v) for v in values]) if rule else None
            chosen = frame(merged) if merged is not None else None
            if chosen is None and three_way is not None and len(bases) == 1:
                payloads = [payload_of(v) for v in values]
                km = three_way(iid, tkey, payload_of(base), payloads, sides, strategy)
                if km is not None:
                    if km.conflicts and strategy == "fail":
                        plan.conflicts.append(KeyConflict(iid, tkey, values, sides, km))
                        continue
                    plan.merged_parts += 1
                    plan.resolved_parts += km.conflicts
                    if km.conflicts:
                        overruled.add(iid)
                    plan.resolutions[(iid, tkey)] = TOMBSTONE if km.stored is None else km.stored
                    continue
            if chosen is None:
                if strategy == "fail":
                    plan.conflicts.append(KeyConflict(iid, tkey, values, sides))
                    continue
                if strategy == "ours":
                    chosen = values[0]
                else:
                    chosen = values[[i for i in sides if i != 0][-1]]
        plan.resolutions[(iid, tkey)] = chosen if chosen is not None else TOMBSTONE
    for iid in overruled:
        # A side's derived data (e.g. a label index counting voxels) may count parts the
        # strategy overruled: every derived key a side changed is rebuilt, not inherited.
        plan.contested[iid] = sorted(plan.contested.get(iid, []) + one_sided.get(iid, []))
    return plan
