"""The LabelGraphAPI contract, run on the local instance and on the remote one."""

from __future__ import annotations

from typing import Any

import pytest

from dvidctl.datatypes.labelgraph.protocol import LabelGraphAPI
from dvidctl.errors import BadRequestError, LockedNodeError, NotFoundError
from tests.contracts.conftest import Backend, LocalSide, RemoteSide

GRAPH = {
    "Vertices": [{"Id": 1, "Weight": 10}, {"Id": 2, "Weight": 2.5}, {"Id": 3}, {"Id": 9}],
    "Edges": [{"Id1": 2, "Id2": 1, "Weight": 1.5}, {"Id1": 2, "Id2": 3, "Weight": 4}],
}


def pairs(doc: dict[str, Any]) -> dict[tuple[int, int], float]:
    return {(e["Id1"], e["Id2"]): e["Weight"] for e in doc["Edges"] or []}


class LabelGraphContract:
    """What every :class:`LabelGraphAPI` must do. Subclasses provide ``backend``."""

    @pytest.fixture
    def backend(self) -> Backend:  # pragma: no cover - overridden
        raise NotImplementedError

    @pytest.fixture
    def graph(self, backend: Backend) -> LabelGraphAPI:
        inst = backend.new("labelgraph")
        assert isinstance(inst, LabelGraphAPI)
        inst.put_subgraph(GRAPH)
        return inst

    def test_reads(self, graph: LabelGraphAPI) -> None:
        assert graph.typename == "labelgraph"
        doc = graph.get_subgraph()
        assert doc["Transactions"] == []
        assert doc["Vertices"] == [
            {"Id": 1, "Weight": 10.0}, {"Id": 2, "Weight": 2.5},
            {"Id": 3, "Weight": 0.0}, {"Id": 9, "Weight": 0.0},
        ]  # fmt: skip
        assert all(isinstance(v["Weight"], float) for v in doc["Vertices"])
        assert pairs(doc) == {(1, 2): 1.5, (2, 3): 4.0}
        sub = graph.get_subgraph([3])
        assert [v["Id"] for v in sub["Vertices"]] == [3] and pairs(sub) == {(2, 3): 4.0}
        nb = graph.neighbors(2)
        assert [v["Id"] for v in nb["Vertices"]] == [2, 1, 3] and nb["Transactions"] is None
        assert graph.neighbors(9)["Edges"] is None
        assert graph.connected_components() == [[1, 2, 3], [9]]
        g = graph.to_networkx([1, 2])
        assert sorted(g.nodes) == [1, 2, 3] and g.edges[1, 2]["weight"] == 1.5

    def test_writes(self, graph: LabelGraphAPI) -> None:
        graph.add_weights({"Vertices": [{"Id": 1, "Weight": 1}], "Edges": [{"Id1": 1, "Id2": 9}]})
        assert pairs(graph.get_subgraph())[(1, 9)] == 0.0
        assert graph.merge({"Vertices": [{"Id": 1}, {"Id": 3}], "Edges": []}) == 3
        doc = graph.get_subgraph()
        assert {v["Id"]: v["Weight"] for v in doc["Vertices"]} == {2: 2.5, 3: 11.0, 9: 0.0}
        assert pairs(doc) == {(2, 3): 5.5, (3, 9): 0.0}
        graph.put_property(3, "name", b"\x00three")
        graph.put_property(9, "e", b"edge", 3)
        assert graph.get_property(3, "name") == b"\x00three"
        assert graph.get_property(3, "e", 9) == b"edge"
        assert graph.delete_property(3, "name") and not graph.delete_property(3, "name")
        graph.put_property(9, "e", b"", 3)  # empty is unset (DVID reads unset as empty)
        with pytest.raises(NotFoundError):
            graph.get_property(3, "e", 9)
        counts = graph.delete_subgraph({"Vertices": [{"Id": 9}], "Edges": []})
        assert counts == {"vertices": 1, "edges": 1}
        assert graph.delete_subgraph() == {"vertices": 2, "edges": 1}
        assert graph.get_subgraph()["Vertices"] == []

    def test_errors_are_the_same_on_both_sides(self, graph: LabelGraphAPI) -> None:
        with pytest.raises(NotFoundError):
            graph.neighbors(77)
        with pytest.raises(NotFoundError):
            graph.get_property(1, "missing")
        with pytest.raises(NotFoundError):
            graph.put_subgraph({"Vertices": [], "Edges": [{"Id1": 1, "Id2": 77}]})
        with pytest.raises(NotFoundError):
            graph.put_property(77, "p", b"x")
        with pytest.raises(BadRequestError, match="at least two"):
            graph.merge({"Vertices": [{"Id": 1}], "Edges": []})
        with pytest.raises(BadRequestError, match="validation"):
            graph.put_subgraph({"Vertices": []})
        with pytest.raises(BadRequestError):
            graph.put_subgraph({"Vertices": [{"Id": 0}], "Edges": []})
        with pytest.raises(BadRequestError):
            graph.neighbors(0)
        assert pairs(graph.get_subgraph()) == {(1, 2): 1.5, (2, 3): 4.0}

    def test_committed_nodes_refuse_writes(self, backend: Backend, graph: LabelGraphAPI) -> None:
        old = backend.commit(graph)
        assert isinstance(old, LabelGraphAPI)
        with pytest.raises(LockedNodeError):
            old.put_subgraph({"Vertices": [{"Id": 5}], "Edges": []})
        with pytest.raises(LockedNodeError):
            old.put_property(1, "p", b"x")
        assert old.connected_components() == [[1, 2, 3], [9]]


class TestLocalLabelGraph(LocalSide, LabelGraphContract):
    """The local instance."""


class TestRemoteLabelGraph(RemoteSide, LabelGraphContract):
    """The remote instance against ``dvidctl serve``."""
