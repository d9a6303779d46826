"""A labelmap's state outside its blocks, replayed over DVID's endpoints (the fallback).

After a node's supervoxel blocks (:mod:`dvidctl.sync.replay`), in this order:

1. **the mapping** (``GET mappings?format=binary``, read before the blocks): the
   pairs that differ from the local node's are stored with ``LabelMap.put_mappings``,
   which regroups the label indexes they touch in the same batch;
2. **the label indexes** are derived, so the block writes and the mapping rebuilt
   them here; the indexes this node wrote are then read from the server (``GET
   indices``) and kept as it answers where they differ (the last-mutation fields
   DVID stamps on a merge, cleave or split), so ``lastmod`` answers as there;
3. **the mutation log** (``GET mutations``: the node's own records), each kept under
   its id as this side logs its own, so ``mutations`` and ``history`` answer as there;
4. **the max label** (``GET maxlabel``), raised where the server's is larger;
   **the next label** (``Extended.NextLabel``, repo-wide): set when the server has
   handed out labels past this side's (:func:`replay_next_label`, once per fetch).

A server without ``mappings`` (an old DVID) is read as bodies: blocks come with
the mapping applied (``supervoxels`` is not asked), so every body query answers
as there while supervoxel ids are not kept; without ``indices``, the rebuilt
indexes stay (without the server's last-mutation fields); without ``mutations``, the
log stays behind. Each degrade is noted
in the result (``Replayed.notes``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from dvidctl.datatypes.labelmap.keys import CLASS_INDEX, LABEL_TKEY_LEN, tkey_label
from dvidctl.errors import BadRequestError, NotFoundError
from dvidctl.store import nodedelta
from dvidctl.sync.dvidblocks import Retry, get_indices, get_mappings

if TYPE_CHECKING:
    from dvidctl.sync.replay import Replayed

Mapping = tuple[np.ndarray, np.ndarray]


def remote_mapping(remote: Any, retry: Retry[Any], out: Replayed) -> Mapping | None:
    """The server's mapping at the node, or None (noted) if it has no ``mappings``."""
    if remote.record_typename in ("labelblk", "labelarray"):  # DVID's types without a mapping
        return np.zeros(0, np.uint64), np.zeros(0, np.uint64)
    try:
        return get_mappings(remote, retry)
    except (BadRequestError, NotFoundError) as exc:
        out.notes.append(
            f"{remote.name}: the server has no 'mappings' ({exc.message}); "
            "labels read as bodies, supervoxel ids not kept"
        )
        return None


def finish(
    remote: Any, local: Any, retry: Retry[Any], mapping: Mapping | None, out: Replayed
) -> None:
    """Mapping, indexes and max label of ``local`` as the server answers them."""
    if mapping is not None:
        _mapping(local, mapping, out)
        _indexes(remote, local, retry, out)
    _mutations(remote, local, retry, out)
    top = int(retry(remote.max_label))
    if top > local.max_label():
        local.raise_max_label(top)
        out.batches += 1


def mapping_changes(mine: Mapping, theirs: Mapping) -> Mapping:
    """The ``(svs, bodies)`` to store so that ``mine`` becomes ``theirs`` (identity: unmap)."""
    svs = np.union1d(mine[0], theirs[0])
    now, want = svs.copy(), svs.copy()
    for arr, (s, b) in ((now, mine), (want, theirs)):
        if len(s):
            order = np.argsort(s)
            pos = np.searchsorted(s[order], svs)
            pos[pos == len(s)] = 0
            hit = s[order][pos] == svs
            arr[hit] = b[order][pos[hit]]
    diff = now != want
    return svs[diff], want[diff]


def _mapping(local: Any, theirs: Mapping, out: Replayed) -> None:
    svs, bodies = mapping_changes(local.mappings(), theirs)
    if len(svs):
        local.put_mappings(svs, bodies)
        out.keys += len(svs)
        out.bytes += 16 * len(svs)
        out.batches += 1


def _indexes(remote: Any, local: Any, retry: Retry[Any], out: Replayed) -> None:
    engine = local.node.store.engine
    labels = [
        tkey_label(tk)
        for tk, _ in nodedelta.listing(engine, local.vid, local.iid)
        if len(tk) == LABEL_TKEY_LEN and tk[0] == CLASS_INDEX
    ]
    if not labels:
        return
    try:
        theirs = get_indices(remote, labels, retry)
    except (BadRequestError, NotFoundError) as exc:
        out.notes.append(f"{remote.name}: the server has no 'indices' ({exc.message})")
        return
    mine = dict(zip(labels, local.indices(labels), strict=True))
    put = [idx for label, idx in theirs.items() if label in mine and not _same(mine[label], idx)]
    if put:
        local.put_indexes(put)
        out.keys += len(put)
        out.batches += 1


def _mutations(remote: Any, local: Any, retry: Retry[Any], out: Replayed) -> None:
    try:
        theirs = retry(lambda: remote.repo.request("GET", remote.path("mutations")).json())
    except (BadRequestError, NotFoundError) as exc:  # DVID without a [mutations] jsonstore
        out.notes.append(f"{remote.name}: the server has no 'mutations' ({exc.message})")
        return
    except ValueError as exc:
        out.notes.append(f"{remote.name}: the server's 'mutations' is not JSON ({exc})")
        return
    if not isinstance(theirs, list):
        out.notes.append(f"{remote.name}: the server's 'mutations' is not a JSON list")
        return
    uuid = local.node.uuid
    mine = {r.get("MutationID"): r for r in local.mutations()}
    new = [
        r
        for r in theirs
        if isinstance(r, dict)
        and r.get("UUID", uuid) == uuid
        and mine.get(r.get("MutationID")) != r
    ]
    if new:
        out.keys += local.put_mutations(new)
        out.batches += 1


def _same(a: Any, b: Any) -> bool:
    if a is None:
        return not len(b)
    return (
        (a.last_mutid, a.last_mod_time, a.last_mod_user, a.last_mod_app)
        == (b.last_mutid, b.last_mod_time, b.last_mod_user, b.last_mod_app)
        and np.array_equal(a.blocks, b.blocks)
        and np.array_equal(a.svs, b.svs)
        and np.array_equal(a.counts, b.counts)
    )


def replay_next_label(remote: Any, local: Any) -> bool:
    """Take the server's repo-wide next label (``Extended.NextLabel``) when it is ahead."""
    theirs = int((remote._info.get("Extended") or {}).get("NextLabel", 0) or 0)
    if theirs and theirs > int(local.config.get("next_label", 0)):
        local.set_next_label(theirs)
        return True
    return False


__all__ = ["finish", "mapping_changes", "remote_mapping", "replay_next_label"]
