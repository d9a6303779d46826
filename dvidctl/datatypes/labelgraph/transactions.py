"""DVID's vertex transaction log and the binary ``propertytransaction`` format.

DVID's labelgraph hands out a *transaction id* per vertex so that clients can do
optimistic read-modify-write on properties: a ``GET propertytransaction`` locks the
vertices it names for the request and answers each one's current id; a ``POST``
must give those ids back and gets new ones, and a vertex whose id is out of date
(someone wrote in between) or locked by a request in flight is refused. The log
lives in the server's memory, one per data instance, and is not versioned data
(as DVID: it is lost on restart). All numbers are uint64 little-endian::

    request   nLock, nLock x (vertex, transID: 0 for GET), nProps,
              nProps x (id1, [id2 for edges], [size, bytes for POST])
    response  nLocked, nLocked x (vertex, transID), nFailed, nFailed x vertex,
              then for GET: nProps, nProps x (id1, [id2], size, bytes)
"""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass, field

from dvidctl.errors import BadRequestError

#: DVID refuses transactions over this many vertices.
MAX_LOCKS = 1000
_U64 = struct.Struct("<Q")


@dataclass
class TransactionGroup:
    """The vertices one request locked (with their ids) and the ones it could not."""

    locked: dict[int, int] = field(default_factory=dict)
    busy: list[int] = field(default_factory=list)  # locked by another request
    outdated: list[int] = field(default_factory=list)  # wrong or unknown transaction id

    def holds(self, *ids: int) -> bool:
        """Whether every vertex in ``ids`` is locked by this group."""
        return all(v in self.locked for v in ids)

    def encode(self) -> bytes:
        """The response's lock part: locked pairs, then the vertices refused."""
        failed = self.busy + self.outdated
        out = [_U64.pack(len(self.locked))]
        for v, t in self.locked.items():
            out += [_U64.pack(v), _U64.pack(t)]
        out.append(_U64.pack(len(failed)))
        out += [_U64.pack(v) for v in failed]
        return b"".join(out)


class TransactionLog:
    """Per-vertex transaction ids of one data instance (DVID's ``transactionLog``)."""

    def __init__(self) -> None:
        self._ids: dict[int, int] = {}  # 0 while a request holds the vertex
        self._next = 1
        self._lock = threading.Lock()

    def begin(self, wanted: list[tuple[int, int]], *, readonly: bool) -> TransactionGroup:
        """Lock ``(vertex, transaction id)`` pairs as DVID's ``createTransactionGroup``.

        A read locks any vertex not held by another request and reports its current
        id (a vertex never seen gets a new one). A write locks a vertex only if the
        id given is its current one, and gives it a new id.
        """
        if len(wanted) > MAX_LOCKS:
            raise BadRequestError(f"Do not support transaction with over {MAX_LOCKS} ids")
        group = TransactionGroup()
        with self._lock:
            for v, trans in wanted:
                cur = self._ids.get(v)
                if cur is None and readonly:
                    cur = self._take()
                elif cur is None or (not readonly and cur != trans):
                    group.outdated.append(v)
                    continue
                elif cur == 0:
                    group.busy.append(v)
                    continue
                elif not readonly:
                    cur = self._take()
                self._ids[v] = 0
                group.locked[v] = cur
        return group

    def close(self, group: TransactionGroup) -> None:
        """Release the group's vertices; each keeps the id the group gave it."""
        with self._lock:
            self._ids.update(group.locked)

    def _take(self) -> int:
        n = self._next
        self._next += 1
        return n


_LOGS: dict[str, TransactionLog] = {}
_LOGS_LOCK = threading.Lock()


def log_for(data_uuid: str) -> TransactionLog:
    """The transaction log of the instance with ``data_uuid`` (made on first use)."""
    with _LOGS_LOCK:
        log = _LOGS.get(data_uuid)
        if log is None:
            log = _LOGS[data_uuid] = TransactionLog()
        return log


@dataclass
class PropertyRequest:
    """A decoded ``propertytransaction`` body."""

    locks: list[tuple[int, int]]
    #: ``(id1, id2 or None, value or None)``: values only in a POST.
    items: list[tuple[int, int | None, bytes | None]]


def parse_request(
    body: bytes | bytearray | memoryview, *, edges: bool, post: bool
) -> PropertyRequest:
    """Decode a ``propertytransaction`` request; BadRequestError if it is cut short."""
    data = memoryview(body)
    pos = 0

    def u64() -> int:
        nonlocal pos
        if pos + 8 > len(data):
            raise BadRequestError(
                f"propertytransaction body ends at byte {len(data)}, inside a number at {pos}"
            )
        (v,) = _U64.unpack_from(data, pos)
        pos += 8
        return int(v)

    nlock = u64()
    if nlock > MAX_LOCKS:
        raise BadRequestError(f"Do not support transaction with over {MAX_LOCKS} ids")
    locks = [(u64(), u64()) for _ in range(nlock)]
    nprops = u64()
    if nprops * (16 if edges else 8) > len(data) - pos:
        raise BadRequestError(f"propertytransaction body is too short for {nprops} properties")
    items: list[tuple[int, int | None, bytes | None]] = []
    for _ in range(nprops):
        a = u64()
        b = u64() if edges else None
        value = None
        if post:
            size = u64()
            if size > len(data) - pos:
                raise BadRequestError(
                    f"propertytransaction value of {size} bytes runs past the body's end"
                )
            value = bytes(data[pos : pos + size])
            pos += size
        items.append((a, b, value))
    return PropertyRequest(locks, items)


def encode_values(items: list[tuple[int, int | None, bytes | None]]) -> bytes:
    """The GET response's property part: ``nProps`` then ``id1 [id2] size bytes`` each."""
    out = [_U64.pack(len(items))]
    for a, b, value in items:
        out.append(_U64.pack(a))
        if b is not None:
            out.append(_U64.pack(b))
        v = value or b""
        out += [_U64.pack(len(v)), v]
    return b"".join(out)


__all__ = [
    "MAX_LOCKS",
    "PropertyRequest",
    "TransactionGroup",
    "TransactionLog",
    "encode_values",
    "log_for",
    "parse_request",
]
