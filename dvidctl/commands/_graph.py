"""Draw the commit DAG as git does (``dvidctl log --graph``).

A port of git's ``graph.c`` (as of git 2.39): one column per line of history,
a ``mapping`` from screen positions to the columns they must reach, merge
commits laid out left- or right-skewed by where their first parent already is,
``|\\`` / ``|/`` edges after merges, octopus merges (``*-.``) with expansion rows,
and collapsing rows (``/``, ``_``) until every line is in place. Given the same
rows in the same order (dvidctl: newest first, which is ``git log --graph
--date-order`` for commit times that follow creation), the drawing is git's,
character for character. Colours are left out.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from enum import Enum, auto
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class _State(Enum):
    PADDING = auto()
    SKIP = auto()
    PRE_COMMIT = auto()
    COMMIT = auto()
    POST_MERGE = auto()
    COLLAPSING = auto()


_MERGE_CHARS = "/|\\"


class GitGraph(Generic[K]):
    """git's ``struct git_graph``: feed commits newest first with :meth:`update`, then draw lines.

    ``mapping`` and ``old_mapping`` are the two buffers of graph.c, swapped the
    same way, because a commit line reads entries the last collapsing line left.
    """

    def __init__(self) -> None:
        self.commit: K | None = None
        self.parents: list[K] = []
        self.width = 0
        self.expansion_row = 0
        self.state = _State.PADDING
        self.prev_state = _State.PADDING
        self.commit_index = 0
        self.prev_commit_index = 0
        self.merge_layout = 0
        self.edges_added = 0
        self.prev_edges_added = 0
        self.columns: list[K] = []
        self.new_columns: list[K] = []
        self.mapping: list[int] = []
        self.old_mapping: list[int] = []
        self.mapping_size = 0

    @property
    def num_parents(self) -> int:
        """The commit's parents that are shown (git's "interesting" parents)."""
        return len(self.parents)

    # ------------------------------------------------------------ columns
    def _row(self) -> Iterator[tuple[int, K]]:
        """``(i, commit of column i)``, then the commit itself if no column holds it yet."""
        assert self.commit is not None
        yield from enumerate(self.columns)
        if self.commit not in self.columns:
            yield len(self.columns), self.commit

    def _ensure_capacity(self, num_columns: int) -> None:
        for buf in (self.mapping, self.old_mapping):
            if len(buf) < 2 * num_columns:
                buf.extend([-1] * (2 * num_columns - len(buf)))

    def _insert_into_new_columns(self, commit: K, idx: int) -> None:
        try:
            i = self.new_columns.index(commit)
        except ValueError:
            i = len(self.new_columns)
            self.new_columns.append(commit)
        if self.num_parents > 1 and idx > -1 and self.merge_layout == -1:
            # The first parent of a merge: skew left if it is already to the left.
            dist = idx - i
            shift = 2 * dist - 3 if dist > 1 else 1
            self.merge_layout = 0 if dist > 0 else 1
            self.edges_added = self.num_parents + self.merge_layout - 2
            mapping_idx = self.width + (self.merge_layout - 1) * shift
            self.width += 2 * self.merge_layout
        elif self.edges_added > 0 and i == self.mapping[self.width - 2]:
            # The merge's last edge joins the column just left: "|\\|" not "|\\ \\".
            mapping_idx = self.width - 2
            self.edges_added = -1
        else:
            mapping_idx = self.width
            self.width += 2
        self.mapping[mapping_idx] = i

    def _update_columns(self) -> None:
        self.columns, self.new_columns = self.new_columns, []
        max_new_columns = len(self.columns) + self.num_parents
        self._ensure_capacity(max_new_columns)
        self.mapping_size = 2 * max_new_columns
        for i in range(self.mapping_size):
            self.mapping[i] = -1
        self.width = 0
        self.prev_edges_added = self.edges_added
        self.edges_added = 0
        for i, col_commit in self._row():
            if col_commit == self.commit:
                self.commit_index = i
                self.merge_layout = -1
                for parent in self.parents:
                    self._insert_into_new_columns(parent, i)
                if self.num_parents == 0:
                    self.width += 2
            else:
                self._insert_into_new_columns(col_commit, -1)
        while self.mapping_size > 1 and self.mapping[self.mapping_size - 1] < 0:
            self.mapping_size -= 1

    def _num_expansion_rows(self) -> int:
        return (self.num_parents + self.merge_layout - 3) * 2

    def _needs_pre_commit_line(self) -> bool:
        return (
            self.num_parents >= 3
            and self.commit_index < len(self.columns) - 1
            and self.expansion_row < self._num_expansion_rows()
        )

    def update(self, commit: K, parents: Sequence[K]) -> None:
        """Make ``commit`` (with its shown ``parents``, first parent first) the next one drawn."""
        self.commit = commit
        self.parents = list(parents)
        self.prev_commit_index = self.commit_index
        self._update_columns()
        self.expansion_row = 0
        if self.state != _State.PADDING:
            self.state = _State.SKIP
        elif self._needs_pre_commit_line():
            self.state = _State.PRE_COMMIT
        else:
            self.state = _State.COMMIT

    def _is_mapping_correct(self) -> bool:
        return all(t < 0 or t == i // 2 for i, t in enumerate(self.mapping[: self.mapping_size]))

    def _set_state(self, state: _State) -> None:
        self.prev_state, self.state = self.state, state

    @property
    def finished(self) -> bool:
        """Whether every line of the current commit has been drawn."""
        return self.state == _State.PADDING

    # -------------------------------------------------------------- lines
    def next_line(self) -> tuple[str, bool]:
        """The next line (padded to the commit's width) and whether it holds the commit."""
        out: list[str] = []
        state = self.state
        if state == _State.PADDING:
            out.extend("| " for _ in self.new_columns)
        elif state == _State.SKIP:
            out.append("...")
            self._set_state(_State.PRE_COMMIT if self._needs_pre_commit_line() else _State.COMMIT)
        elif state == _State.PRE_COMMIT:
            self._pre_commit_line(out)
        elif state == _State.COMMIT:
            self._commit_line(out)
        elif state == _State.POST_MERGE:
            self._post_merge_line(out)
        else:
            self._collapsing_line(out)
        line = "".join(out)
        return line.ljust(self.width), state == _State.COMMIT

    def _pre_commit_line(self, out: list[str]) -> None:
        seen_this = False
        for i, col in enumerate(self.columns):
            if col == self.commit:
                seen_this = True
                out.append("|" + " " * self.expansion_row)
            elif seen_this and self.expansion_row == 0:
                after_merge = self.prev_state == _State.POST_MERGE and self.prev_commit_index < i
                out.append("\\" if after_merge else "|")
            elif seen_this:
                out.append("\\")
            else:
                out.append("|")
            out.append(" ")
        self.expansion_row += 1
        if not self._needs_pre_commit_line():
            self._set_state(_State.COMMIT)

    def _commit_line(self, out: list[str]) -> None:
        seen_this = False
        for i, col_commit in self._row():
            if col_commit == self.commit:
                seen_this = True
                out.append("*")
                if self.num_parents > 2:
                    dashed = self.num_parents + self.merge_layout - 3
                    out.extend("-" + ("." if k == dashed - 1 else "-") for k in range(dashed))
            elif seen_this and self.edges_added > 1:
                out.append("\\")
            elif seen_this and self.edges_added == 1:
                after_merge = (
                    self.prev_state == _State.POST_MERGE
                    and self.prev_edges_added > 0
                    and self.prev_commit_index < i
                )
                out.append("\\" if after_merge else "|")
            elif (
                self.prev_state == _State.COLLAPSING
                and self.old_mapping[2 * i + 1] == i
                and self.mapping[2 * i] < i
            ):
                out.append("/")
            else:
                out.append("|")
            out.append(" ")
        if self.num_parents > 1:
            self._set_state(_State.POST_MERGE)
        elif self._is_mapping_correct():
            self._set_state(_State.PADDING)
        else:
            self._set_state(_State.COLLAPSING)

    def _post_merge_line(self, out: list[str]) -> None:
        seen_this = False
        first_parent = self.parents[0]
        parent_col = False
        for i, col_commit in self._row():
            if col_commit == self.commit:
                seen_this = True
                idx = self.merge_layout
                for j in range(self.num_parents):
                    out.append(_MERGE_CHARS[idx])
                    if idx == 2:
                        if self.edges_added > 0 or j < self.num_parents - 1:
                            out.append(" ")
                    else:
                        idx += 1
                if self.edges_added == 0:
                    out.append(" ")
            elif seen_this:
                out.append("\\ " if self.edges_added > 0 else "| ")
            else:
                out.append("|")
                if self.merge_layout != 0 or i != self.commit_index - 1:
                    out.append("_" if parent_col else " ")
            if col_commit == first_parent:
                parent_col = True
        self._set_state(_State.PADDING if self._is_mapping_correct() else _State.COLLAPSING)

    def _collapsing_line(self, out: list[str]) -> None:
        self.mapping, self.old_mapping = self.old_mapping, self.mapping
        mapping, old = self.mapping, self.old_mapping
        size = self.mapping_size
        for i in range(size):
            mapping[i] = -1
        horizontal_edge = horizontal_edge_target = -1
        for i in range(size):
            target = old[i]
            if target < 0:
                continue
            assert target * 2 <= i, "branch lines only move left"
            if target * 2 == i:
                mapping[i] = target
            elif mapping[i - 1] < 0:
                mapping[i - 1] = target  # nothing to the left: move left by one
                if horizontal_edge == -1:
                    horizontal_edge, horizontal_edge_target = i, target
                    for j in range(target * 2 + 3, i - 2, 2):
                        mapping[j] = target
            elif mapping[i - 1] == target:
                pass  # joins the line to its left, which goes to the same column
            else:
                # Cross the line to the left, into the empty space beyond it.
                assert mapping[i - 1] > target and mapping[i - 2] < 0
                mapping[i - 2] = target
                if horizontal_edge == -1:
                    horizontal_edge_target, horizontal_edge = target, i - 1
                    for j in range(target * 2 + 3, i - 2, 2):
                        mapping[j] = target
        old[:size] = mapping[:size]
        if mapping[size - 1] < 0:
            self.mapping_size = size = size - 1
        used_horizontal = False
        for i in range(size):
            target = mapping[i]
            if target < 0:
                out.append(" ")
            elif target * 2 == i:
                out.append("|")
            elif target == horizontal_edge_target and i != horizontal_edge - 1:
                if i != target * 2 + 3:
                    mapping[i] = -1
                used_horizontal = True
                out.append("_")
            else:
                if used_horizontal and i < horizontal_edge:
                    mapping[i] = -1
                out.append("/")
        if self._is_mapping_correct():
            self._set_state(_State.PADDING)


def graph_rows(nodes: Sequence[tuple[K, Sequence[K]]]) -> list[tuple[str, K | None]]:
    """Lay out ``(id, shown parents)`` given newest first, as ``git log --graph`` does.

    Returns rows ``(graph text, id)``: the commit's own row carries its id and
    is padded to the graph's width (the text follows it directly); rows
    between commits carry None and have no trailing spaces.
    """
    graph: GitGraph[K] = GitGraph()
    rows: list[tuple[str, K | None]] = []
    for commit, parents in nodes:
        graph.update(commit, parents)
        shown = False
        while not shown:
            line, shown = graph.next_line()
            rows.append((line, commit) if shown else (line.rstrip(), None))
        while not graph.finished:
            rows.append((graph.next_line()[0].rstrip(), None))
    return rows
