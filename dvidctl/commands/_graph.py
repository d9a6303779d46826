"""Draw the commit DAG as lanes, git-log style (``dvidctl log --graph``)."""

from __future__ import annotations

from collections.abc import Sequence


def graph_rows(nodes: Sequence[tuple[int, Sequence[int]]]) -> list[tuple[str, int | None]]:
    """Lay out ``(vid, parents)`` given newest first.

    Returns rows ``(lane prefix, vid)``; connector rows have ``vid`` None.
    """
    lanes: list[int | None] = []
    rows: list[tuple[str, int | None]] = []

    def draw(marks: dict[int, str]) -> str:
        width = max(len(lanes), max(marks, default=-1) + 1)
        cells = []
        for i in range(width):
            if i in marks:
                cells.append(marks[i])
            elif i < len(lanes) and lanes[i] is not None:
                cells.append("|")
            else:
                cells.append(" ")
        return " ".join(cells).rstrip()

    for vid, parents in nodes:
        hits = [i for i, v in enumerate(lanes) if v == vid]
        if hits:
            col = hits[0]
            if len(hits) > 1:
                # Several children's lanes converge on this node.
                rows.append((draw({i: "/" for i in hits[1:]}), None))
                for i in hits[1:]:
                    lanes[i] = None
        else:
            free = [i for i, v in enumerate(lanes) if v is None]
            col = free[0] if free else len(lanes)
            if col == len(lanes):
                lanes.append(None)
        rows.append((draw({col: "*"}), vid))
        lanes[col] = parents[0] if parents else None
        extra = [p for p in parents[1:] if p not in lanes]
        forks: dict[int, str] = {}
        for p in extra:
            free = [i for i, v in enumerate(lanes) if v is None and i > col]
            slot = free[0] if free else len(lanes)
            if slot == len(lanes):
                lanes.append(None)
            lanes[slot] = p
            forks[slot] = "\\"
        for p in parents[1:]:
            if p not in extra:
                forks[lanes.index(p)] = "\\"
        if forks:
            rows.append((draw(forks), None))
        while lanes and lanes[-1] is None:
            lanes.pop()
    return rows
