"""DVID's labelgraph JSON, in and out (``LabelGraph`` in DVID's ``labelgraph.go``)::

    {"Transactions": [{"Id": 12, "Trans": 3}],
     "Vertices": [{"Id": 12, "Weight": 100}],
     "Edges": [{"Id1": 12, "Id2": 15, "Weight": 3.5}]}

Input is checked as DVID checks it: against its JSON schema (``Vertices`` and
``Edges`` required, each vertex an object with a numeric ``Id``, each edge with
``Id1`` and ``Id2``, no two identical items in an array) unless ``unsafe`` is asked
for, then decoded as Go's ``encoding/json`` does (field names matched
case-insensitively, a missing ``Weight`` is 0). Ids must be integers in
``1 .. 2**64-1`` and weights finite. Local and remote instances parse with the
same function, so bad input is the same error on either side.

Output is Go's: fields in DVID's order and floats written as Go writes them
(``100``, not ``100.0``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dvidctl.datatypes.labelgraph.keys import check_id, check_weight
from dvidctl.errors import BadRequestError
from dvidctl.httpkit.jsonio import loads_body


@dataclass
class GraphBody:
    """A decoded graph JSON: ``(id, weight)`` vertices, ``(id1, id2, weight)`` edges."""

    vertices: list[tuple[int, float]] = field(default_factory=list)
    edges: list[tuple[int, int, float]] = field(default_factory=list)
    transactions: list[tuple[int, int]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """No vertex and no edge (a DELETE of everything, a GET of the whole graph)."""
        return not self.vertices and not self.edges

    def vertex_ids(self) -> list[int]:
        """Distinct ids named by the vertices and the edges, in order of first mention."""
        seen: dict[int, None] = {}
        for v, _ in self.vertices:
            seen.setdefault(v)
        for a, b, _ in self.edges:
            seen.setdefault(a)
            seen.setdefault(b)
        return list(seen)


def _field(obj: Mapping[str, Any], name: str) -> Any:
    """``obj[name]`` matched as Go's decoder does: exactly, else case-insensitively."""
    if name in obj:
        return obj[name]
    low = name.lower()
    for k, v in obj.items():
        if isinstance(k, str) and k.lower() == low:
            return v
    return None


def _check_schema(obj: Any) -> None:
    """DVID's ``graphSchema`` (gojsonschema): the error DVID gives is one line too."""

    def fail(why: str) -> None:
        raise BadRequestError(f"JSON did not pass validation: {why}")

    if not isinstance(obj, dict):
        fail("a graph must be a JSON object")
    for name in ("Vertices", "Edges"):
        if name not in obj:
            fail(f"{name} is required")
    specs = (("Transactions", ("Id", "Trans")), ("Vertices", ("Id",)), ("Edges", ("Id1", "Id2")))
    for name, required in specs:
        items = obj.get(name)
        if items is None and name == "Transactions":
            continue
        if not isinstance(items, list):
            fail(f"{name} must be an array")
        seen: set[object] = set()
        for item in items:
            if not isinstance(item, dict):
                fail(f"each of {name} must be an object")
            for r in required:
                v = item.get(r)
                if r not in item or isinstance(v, bool) or not isinstance(v, (int, float)):
                    fail(f"each of {name} needs a numeric {r}")
            if "Weight" in item and (
                isinstance(item["Weight"], bool) or not isinstance(item["Weight"], (int, float))
            ):
                fail(f"a Weight in {name} must be a number")
            canon = _canonical(item)
            if canon in seen:
                fail(f"{name} has two identical items (uniqueItems)")
            seen.add(canon)


def _canonical(item: dict[str, Any]) -> object:
    """A hashable form of a JSON object, equal for equal objects (for uniqueItems)."""
    try:
        return frozenset(item.items())
    except TypeError:  # nested values (extra fields): compare their JSON text
        return json.dumps(item, sort_keys=True)


def parse_graph(obj: Any, *, unsafe: bool = False) -> GraphBody:
    """Decode a graph JSON value (already parsed); ``unsafe`` skips the schema (DVID's
    ``?unsafe=true``). Raises BadRequestError on anything DVID refuses or cannot store."""
    if not unsafe:
        _check_schema(obj)
    if obj is None:
        return GraphBody()
    if not isinstance(obj, dict):
        raise BadRequestError("a graph must be a JSON object")
    out = GraphBody()
    for item in _array(obj, "Transactions"):
        out.transactions.append(
            (check_id(_field(item, "Id"), "transaction vertex id"), _uint(_field(item, "Trans")))
        )
    for item in _array(obj, "Vertices"):
        v = check_id(_field(item, "Id"))
        out.vertices.append((v, _weight(item, f"vertex {v} weight")))
    for item in _array(obj, "Edges"):
        a = check_id(_field(item, "Id1"), "edge Id1")
        b = check_id(_field(item, "Id2"), "edge Id2")
        if a == b:
            raise BadRequestError(f"an edge needs two different vertices, got {a}-{b}")
        out.edges.append((a, b, _weight(item, f"edge {a}-{b} weight")))
    return out


def parse_graph_bytes(body: bytes | bytearray | memoryview, *, unsafe: bool = False) -> GraphBody:
    """Decode a request body; an empty body is an empty graph (DVID's ``ExtractGraph``)."""
    if not bytes(body).strip():
        return GraphBody()
    return parse_graph(loads_body(body, "graph JSON"), unsafe=unsafe)


def _array(obj: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    items = _field(obj, name)
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise BadRequestError(f"{name} must be an array of objects")
    return items


def _weight(item: Mapping[str, Any], what: str) -> float:
    w = _field(item, "Weight")
    return 0.0 if w is None else check_weight(w, what)


def _uint(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v) or not 0 <= v < 2**64:
        raise BadRequestError(f"transaction id {v!r} is not a uint64")
    return int(v)


def graph_doc(
    vertices: Iterable[tuple[int, float]],
    edges: Iterable[tuple[int, int, float]],
    *,
    transactions: Sequence[tuple[int, int]] | None = (),
    nil_empty: bool = False,
) -> dict[str, Any]:
    """The graph as DVID's JSON document (Python values).

    ``transactions=None`` and ``nil_empty`` give Go's ``null`` for a nil slice, as
    DVID's ``neighbors`` answers (its ``LabelGraph`` is not initialised there).
    """
    vs = [{"Id": v, "Weight": w} for v, w in vertices]
    es = [{"Id1": a, "Id2": b, "Weight": w} for a, b, w in edges]
    tr = None if transactions is None else [{"Id": v, "Trans": t} for v, t in transactions]
    return {
        "Transactions": tr,
        "Vertices": vs if vs or not nil_empty else None,
        "Edges": es if es or not nil_empty else None,
    }


def go_float(f: float) -> str:
    """``f`` as Go's ``encoding/json`` writes a float64 (shortest; ``e`` notation only
    below 1e-6 or from 1e21; ``e-7`` rather than ``e-07``)."""
    a = abs(f)
    if a != 0 and (a < 1e-6 or a >= 1e21):
        mant, _, exp = repr(f).partition("e")
        sign = exp[0] if exp[:1] in "+-" else "+"
        return f"{mant}e{sign}{exp.lstrip('+-').lstrip('0') or '0'}"
    return str(np.format_float_positional(f, unique=True, trim="-"))


def dumps_go(doc: Any) -> bytes:
    """Compact JSON with Go's float formatting (for graph documents)."""
    return _dump(doc).encode()


def _dump(v: Any) -> str:
    if isinstance(v, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_dump(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ",".join(_dump(x) for x in v) + "]"
    if isinstance(v, float) and math.isfinite(v):
        return go_float(v)
    return json.dumps(v)


__all__ = ["GraphBody", "dumps_go", "go_float", "graph_doc", "parse_graph", "parse_graph_bytes"]
