"""labelgraph type keys: one key per vertex, edge, adjacency entry and property.

Every element of the graph is its own versioned key, so that two branches editing
different vertices or edges write different keys and merge without conflict, and
sync moves a graph change as the few keys it touched::

    vertex      0xA0 | v                       -> weight (float64 LE)
    edge        0xA1 | a | b          (a < b)  -> weight (float64 LE)
    adjacency   0xA2 | v | w          (both ways, derived from the edge keys) -> empty
    vertex prop 0xA3 | v | name | 0x00         -> the property's bytes
    edge prop   0xA4 | a | b | name | 0x00     -> the property's bytes

Vertex ids are uint64 big-endian, so a scan walks vertices, edges and a vertex's
neighbours in ascending id order (DVID's graph index ``graphIndex`` sorts the same
way, smaller id first in an edge). Property names end with a NUL (they may not
contain one), which keeps the type key space prefix-free. Adjacency keys let
``neighbors`` be one prefix scan; they are *derived* keys: a merge never compares
them and rebuilds them from the edges it merged (see ``ops.LabelGraph.rebuild_derived``).
"""

from __future__ import annotations

import math
import struct

from dvidctl.errors import BadRequestError, CorruptDataError

CLASS_VERTEX = 0xA0
CLASS_EDGE = 0xA1
CLASS_ADJ = 0xA2
CLASS_VPROP = 0xA3
CLASS_EPROP = 0xA4
#: Scan bounds over every key of an instance.
ALL_START = bytes([CLASS_VERTEX])
ALL_STOP = bytes([CLASS_EPROP + 1])

MAX_ID = (1 << 64) - 1
_U64 = struct.Struct(">Q")
_PAIR = struct.Struct(">QQ")
_F64 = struct.Struct("<d")


def check_id(v: object, what: str = "vertex id") -> int:
    """A vertex id: an integer in ``1 .. 2**64-1`` (bools and floats refused)."""
    if isinstance(v, bool) or not isinstance(v, int):
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        else:
            raise BadRequestError(f"{what} must be an integer, not {v!r}")
    if not 0 < v <= MAX_ID:
        raise BadRequestError(f"{what} {v} is out of range (1 .. 2^64-1)")
    return v


def check_weight(w: object, what: str = "weight") -> float:
    """A finite float weight."""
    if isinstance(w, bool) or not isinstance(w, (int, float)):
        raise BadRequestError(f"{what} must be a number, not {w!r}")
    f = float(w)
    if not math.isfinite(f):
        raise BadRequestError(f"{what} {w!r} is not finite")
    return f


def check_prop(name: object) -> str:
    """A property name: a non-empty string without NUL or ``/``."""
    if not isinstance(name, str) or not name:
        raise BadRequestError("a property name must be a non-empty string")
    if "\x00" in name or "/" in name:
        raise BadRequestError(f"property name {name!r} contains '/' or NUL")
    return name


def ordered(a: int, b: int) -> tuple[int, int]:
    """The edge ``(a, b)`` with the smaller id first; a self-loop is refused."""
    if a == b:
        raise BadRequestError(f"an edge needs two different vertices, got {a}-{b}")
    return (a, b) if a < b else (b, a)


def vertex(v: int) -> bytes:
    """Type key of vertex ``v``."""
    return bytes([CLASS_VERTEX]) + _U64.pack(v)


def edge(a: int, b: int) -> bytes:
    """Type key of the edge between ``a`` and ``b`` (either order)."""
    lo, hi = ordered(a, b)
    return bytes([CLASS_EDGE]) + _PAIR.pack(lo, hi)


def adj(v: int, w: int) -> bytes:
    """Type key of the adjacency entry ``v -> w``."""
    return bytes([CLASS_ADJ]) + _PAIR.pack(v, w)


def adj_range(v: int) -> tuple[bytes, bytes]:
    """Scan bounds of ``v``'s adjacency entries."""
    start = bytes([CLASS_ADJ]) + _U64.pack(v)
    return start, _after(start)


def vprop(v: int, name: str) -> bytes:
    """Type key of vertex ``v``'s property ``name``."""
    return bytes([CLASS_VPROP]) + _U64.pack(v) + check_prop(name).encode() + b"\x00"


def vprop_range(v: int) -> tuple[bytes, bytes]:
    """Scan bounds of vertex ``v``'s properties."""
    start = bytes([CLASS_VPROP]) + _U64.pack(v)
    return start, _after(start)


def eprop(a: int, b: int, name: str) -> bytes:
    """Type key of edge ``a-b``'s property ``name``."""
    lo, hi = ordered(a, b)
    return bytes([CLASS_EPROP]) + _PAIR.pack(lo, hi) + check_prop(name).encode() + b"\x00"


def eprop_range(a: int, b: int) -> tuple[bytes, bytes]:
    """Scan bounds of edge ``a-b``'s properties."""
    lo, hi = ordered(a, b)
    start = bytes([CLASS_EPROP]) + _PAIR.pack(lo, hi)
    return start, _after(start)


def class_range(cls: int) -> tuple[bytes, bytes]:
    """Scan bounds of every key of one class."""
    return bytes([cls]), bytes([cls + 1])


def _after(prefix: bytes) -> bytes:
    """The smallest key after every key that starts with ``prefix`` (no 0xFF tail here:
    ``prefix`` ends with a uint64 id, and ids of 2**64-1 roll over into the next field)."""
    n = int.from_bytes(prefix, "big") + 1
    return n.to_bytes(len(prefix), "big")


# ------------------------------------------------------------------ decoding
def id_of(tk: bytes, offset: int = 1) -> int:
    """The uint64 id at ``offset`` of a type key."""
    return int(_U64.unpack_from(tk, offset)[0])


def pair_of(tk: bytes) -> tuple[int, int]:
    """The two ids of an edge, adjacency or edge-property key."""
    a, b = _PAIR.unpack_from(tk, 1)
    return int(a), int(b)


def prop_name(tk: bytes) -> str:
    """The property name of a vertex- or edge-property key."""
    start = 9 if tk[0] == CLASS_VPROP else 17
    return bytes(tk[start:-1]).decode()


def pack_weight(w: float) -> bytes:
    """A weight as stored (float64 little-endian, as DVID's graph store)."""
    return _F64.pack(w)


def weight_of(payload: bytes | memoryview, what: str = "graph element") -> float:
    """Decode a stored weight."""
    if len(payload) != 8:
        raise CorruptDataError(f"stored {what} weight has {len(payload)} bytes, not 8")
    return float(_F64.unpack(payload)[0])


def describe(tk: bytes) -> str:
    """Readable form of a labelgraph type key (for diff)."""
    cls = tk[0] if tk else -1
    try:
        if cls == CLASS_VERTEX and len(tk) == 9:
            return f"vertex {id_of(tk)}"
        if cls == CLASS_EDGE and len(tk) == 17:
            return "edge {}-{}".format(*pair_of(tk))
        if cls == CLASS_ADJ and len(tk) == 17:
            return "adjacency {}->{}".format(*pair_of(tk))
        if cls == CLASS_VPROP and len(tk) > 10:
            return f"vertex {id_of(tk)} property {prop_name(tk)!r}"
        if cls == CLASS_EPROP and len(tk) > 18:
            a, b = pair_of(tk)
            return f"edge {a}-{b} property {prop_name(tk)!r}"
    except (struct.error, UnicodeDecodeError):
        pass
    return bytes(tk).hex()


def is_derived(tk: bytes) -> bool:
    """Whether a type key is derived data (adjacency entries, rebuilt on merge)."""
    return bool(tk) and tk[0] == CLASS_ADJ
