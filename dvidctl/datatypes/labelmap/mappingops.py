"""DVID's ``POST mappings``: supervoxel -> body pairs stored as given (``MappingOps`` protobuf).

::

    message MappingOp  { uint64 mutid = 1; uint64 mapped = 2; repeated uint64 original = 3; }
    message MappingOps { repeated MappingOp mappings = 1; }

(DVID's ``labelops.proto``; ``original`` is packed in proto3, unpacked accepted too.)
DVID's ``ingestMappings`` sets each ``original -> mapped`` and leaves the label
indexes alone; here the indexes are derived data kept exact by every write, so the
same batch regroups the index rows of the bodies the pairs touch
(:func:`put_mappings`): a supervoxel's rows move from its old body's index to its
new body's. The ``mutid`` is not kept (DVID logs it; nothing here reads it).
Sync's DVID-endpoint fallback uses both directions: a fetch brings a node's
mapping with ``GET mappings`` and stores it with :func:`put_mappings`, a push
sends a node's mapping keys with :func:`encode_mapping_ops`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from dvidctl.datatypes.labelmap.labelindex import LabelIndex, sort_rows
from dvidctl.datatypes.labelmap.labelstore import LabelStore
from dvidctl.errors import BadRequestError
from dvidctl.httpkit import protowire
from dvidctl.store.versioned import VersionedBatch

if TYPE_CHECKING:
    from dvidctl.datatypes.labelmap.ops import LabelMap

_VARINT, _LEN = protowire.VARINT, protowire.LEN
_U64 = np.uint64


def encode_mapping_ops(svs: np.ndarray, bodies: np.ndarray) -> bytes:
    """``MappingOps`` bytes: one op per body, its supervoxels packed (mutid 0)."""
    s, b = np.asarray(svs, _U64), np.asarray(bodies, _U64)
    if len(s) != len(b):
        raise BadRequestError("mappings need as many bodies as supervoxels")
    order = np.argsort(b, kind="stable")
    s, b = s[order], b[order]
    out = bytearray()
    cuts = np.flatnonzero(np.diff(b)) + 1 if len(b) else np.zeros(0, np.int64)
    for group_s, group_b in zip(np.split(s, cuts), np.split(b, cuts), strict=True):
        if not len(group_s):
            continue
        packed = b"".join(protowire.varint(v) for v in group_s.tolist())
        op = bytearray()
        if int(group_b[0]):
            op += protowire.tag(2, _VARINT) + protowire.varint(int(group_b[0]))
        op += protowire.len_prefix(3, len(packed)) + packed
        out += protowire.len_prefix(1, len(op)) + op
    return bytes(out)


def decode_mapping_ops(data: bytes | bytearray | memoryview) -> tuple[np.ndarray, np.ndarray]:
    """``(supervoxels, bodies)`` of a ``MappingOps`` message, in message order.

    Raises:
        BadRequestError: Malformed protobuf (it arrives in request bodies).
    """
    svs: list[int] = []
    bodies: list[int] = []
    for field, _, op in protowire.fields(bytes(data), BadRequestError):
        if field != 1 or not isinstance(op, memoryview):
            continue
        mapped, originals = 0, []
        for f2, wt, v in protowire.fields(op, BadRequestError):
            if f2 == 2 and wt == _VARINT and isinstance(v, int):
                mapped = v
            elif f2 == 3 and wt == _VARINT and isinstance(v, int):
                originals.append(v)
            elif f2 == 3 and wt == _LEN and isinstance(v, memoryview):
                pos = 0
                while pos < len(v):
                    got, pos = protowire.read_varint(v, pos, BadRequestError)
                    originals.append(got)
        svs.extend(originals)
        bodies.extend([mapped] * len(originals))
    return np.asarray(svs, _U64), np.asarray(bodies, _U64)


def put_mappings(lm: LabelMap, svs: np.ndarray, bodies: np.ndarray) -> int:
    """Map each supervoxel to its body (itself: unmapped; 0: retired) in one atomic batch.

    The indexes of every body a pair touches (old and new) are rebuilt from their
    own rows, which is exact as long as they were (every write keeps them so).
    Later pairs for the same supervoxel win, as DVID applies them in order.
    Returns the number of index keys rewritten.
    """
    s, b = np.asarray(svs, _U64).reshape(-1), np.asarray(bodies, _U64).reshape(-1)
    if len(s) != len(b):
        raise BadRequestError("mappings need as many bodies as supervoxels")
    if len(s) and not s.all():
        raise BadRequestError("label 0 is protected background and cannot be mapped")
    if not len(s):
        return 0
    last = len(s) - 1 - np.unique(s[::-1], return_index=True)[1]  # the last pair per sv wins
    s, b = s[last], b[last]
    store = LabelStore(lm)
    lm._check_writable()
    with lm.lock:
        batch = lm._batch()
        old = store.bodies_of(s)
        store.put_mapping(batch, s, b)
        n = _regroup(store, batch, np.concatenate([old, b, s])) if lm.indexed else 0
        batch.commit()
    return n


def _regroup(store: LabelStore, batch: VersionedBatch, touched: np.ndarray) -> int:
    bodies = np.unique(touched[touched != 0])
    olds = {i.label: i for i in store.get_indexes(bodies) if i is not None}
    if not olds:
        return 0
    rows = [(i.blocks, i.svs, i.counts) for i in olds.values()]
    blk, sv, cnt = (np.concatenate(c) for c in zip(*rows, strict=True))
    now = store.bodies_of(sv, batch)
    now = np.where(now == 0, sv, now)  # a retired supervoxel's rows stay its own (as reindex)
    n = 0
    for body in np.unique(np.concatenate([bodies, now])).tolist():
        mine = now == _U64(body)
        rb, rs, rc = sort_rows(blk[mine], sv[mine], cnt[mine])
        prev = olds.get(body)
        idx = LabelIndex(body, rb, rs, rc)
        if prev is not None:
            idx.last_mutid, idx.last_mod_time = prev.last_mutid, prev.last_mod_time
            idx.last_mod_user, idx.last_mod_app = prev.last_mod_user, prev.last_mod_app
            if (
                len(prev) == len(idx)
                and np.array_equal(prev.blocks, rb)
                and np.array_equal(prev.svs, rs)
                and np.array_equal(prev.counts, rc)
            ):
                continue
        elif not len(idx):
            continue
        store.put_index(batch, idx)
        n += 1
    return n


__all__ = ["decode_mapping_ops", "encode_mapping_ops", "put_mappings"]
