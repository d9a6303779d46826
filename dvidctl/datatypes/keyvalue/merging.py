"""Merging large keyvalue values: one key, one decision; its pieces follow.

The merge planner compares keys, not pieces: the registry marks piece type keys
as derived (``DatatypeSpec.derived_key``), so a large value two branches changed
is one conflict named by its key, and ``ours``/``theirs`` decide the manifest.
The pieces must then agree with the manifest the merge node reads, and they need
not by themselves: a branch that deleted or replaced the value deleted pieces the
other branch's value still names (and for a piece one branch deleted and the other
kept, a read at the merge node is ambiguous). :func:`settle_pieces` puts that
right in the merge node's own atomic write: every piece the merged manifest names
is readable there (re-written from a version that holds it when it is not), and
every other piece of the key is deleted there.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from dvidctl.datatypes.keyvalue import keys
from dvidctl.datatypes.keyvalue.chunks import Manifest, digest, is_manifest
from dvidctl.errors import CorruptDataError, MergeConflictError
from dvidctl.store.engine import CF_DATA, prefix_end
from dvidctl.store.keys import HDR_VALUE, data_prefix, read_u32
from dvidctl.store.reader import any_stored
from dvidctl.store.versioned import Stored, VersionedBatch, VersionedStore, payload_of


def settle_pieces(
    store: VersionedStore, batch: VersionedBatch, iid: int, sources: Iterable[bytes]
) -> int:
    """Queue into ``batch`` (at the merge node) what makes the pieces of each changed key
    agree with the value the node reads for it. Returns the number of writes queued."""
    vid = batch.vid
    if not any_stored(store, iid, bytes([keys.CLASS_PIECE])):
        return 0
    queued = 0
    for tk in sources:
        if keys.is_piece(tk) or tk[:1] != bytes([keys.CLASS_KV]):
            continue
        key = keys.key_of(tk)
        if not any_stored(store, iid, keys.piece_prefix(key)):
            continue
        payload = batch.queued(iid, tk) if batch.holds(iid, tk) else store.get(vid, iid, tk)
        needed: set[bytes] = set()
        if payload is not None and is_manifest(payload):
            needed = set(Manifest.parse(payload, key).tkeys(key))
        for ptk, entries in _piece_versions(store, iid, key):
            ambiguous = False
            try:
                seen = store.resolve(entries, vid)
            except MergeConflictError:  # kept on one side, deleted on another
                seen, ambiguous = None, True
            live = seen is not None and seen[0] == HDR_VALUE
            if ptk in needed and not live:
                batch.put_stored(iid, ptk, _live_copy(ptk, entries, key))
                queued += 1
            elif ptk not in needed and (live or ambiguous):
                batch.delete(iid, ptk)
                queued += 1
            needed.discard(ptk)
        if needed:
            raise CorruptDataError(
                f'keyvalue key "{key}": {len(needed)} piece(s) of the merged value are stored '
                "nowhere",
                hint="'dvidctl fsck' checks every large value",
            )
    return queued


def _piece_versions(
    store: VersionedStore, iid: int, key: str
) -> Iterator[tuple[bytes, list[tuple[int, Stored]]]]:
    """``(piece type key, its stored versions)`` of every piece of ``key``, one at a time."""
    prefix = data_prefix(iid, keys.piece_prefix(key))
    group = b""
    entries: list[tuple[int, Stored]] = []
    for k, v in store.engine.scan(CF_DATA, prefix, prefix_end(prefix)):
        tk = k[4:-4]
        if tk != group and entries:
            yield group, entries
            entries = []
        group = tk
        entries.append((read_u32(k, len(k) - 4), v))
    if entries:
        yield group, entries


def _live_copy(ptk: bytes, entries: list[tuple[int, Stored]], key: str) -> Stored:
    """A stored version of piece ``ptk`` that holds its bytes (its digest is in its key)."""
    want = keys.split_piece(ptk)[2]
    for _, stored in entries:
        payload = payload_of(stored)
        if payload is not None and digest(payload) == want:
            return stored
    raise CorruptDataError(
        f'keyvalue key "{key}": piece {keys.split_piece(ptk)[1]} of the merged value is '
        "stored nowhere",
        hint="'dvidctl fsck' checks every large value",
    )
