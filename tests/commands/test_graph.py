"""``log --graph`` draws what ``git log --graph --date-order`` draws (issue #8, part 6).

The expected drawings below are git 2.39's for the same DAGs. When ``git`` is
installed, the same DAGs (and a few dozen seeded random ones) are also built in
a scratch git repository with ``git commit-tree`` (commit times following
creation order, so git's ``--date-order`` is dvidctl's newest-first order) and
compared with git's own output.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from dvidctl.commands._graph import graph_rows
from tests.commands.cli_helpers import invoker

Spec = list[tuple[str, list[str]]]  # (subject, parents first-parent first), oldest first

DAGS: dict[str, tuple[Spec, str]] = {
    "linear": (
        [("c0", []), ("c1", ["c0"]), ("c2", ["c1"])],
        """
* c2
* c1
* c0
""",
    ),
    "merge": (
        [("c0", []), ("m1", ["c0"]), ("s1", ["c0"]), ("m2", ["m1", "s1"])],
        """
*   m2
|\\
| * s1
* | m1
|/
* c0
""",
    ),
    # The issue's DAG: master m1 merges a1 and b1; both branches keep an open node.
    "issue-octopus": (
        [
            ("c0", []),
            ("m1", ["c0"]),
            ("a1", ["c0"]),
            ("a-open", ["a1"]),
            ("b1", ["c0"]),
            ("b-open", ["b1"]),
            ("merge", ["m1", "a1", "b1"]),
        ],
        """
*-.   merge
|\\ \\
| | | * b-open
| | |/
| | * b1
| | | * a-open
| | |/
| |/|
| * | a1
| |/
* / m1
|/
* c0
""",
    ),
    "octopus-of-four": (
        [
            ("c0", []),
            ("a1", ["c0"]),
            ("b1", ["c0"]),
            ("c1", ["c0"]),
            ("m1", ["c0"]),
            ("m", ["m1", "a1", "b1", "c1"]),
            ("after", ["m"]),
        ],
        """
* after
*---.   m
|\\ \\ \\
* | | | m1
| | | * c1
| |_|/
|/| |
| | * b1
| |/
|/|
| * a1
|/
* c0
""",
    ),
    "criss-cross": (
        [
            ("c0", []),
            ("a1", ["c0"]),
            ("b1", ["c0"]),
            ("a2", ["a1", "b1"]),
            ("b2", ["b1", "a1"]),
            ("a3", ["a2"]),
            ("b3", ["b2"]),
            ("m", ["a3", "b3"]),
        ],
        """
*   m
|\\
| * b3
* | a3
| *   b2
| |\\
* | | a2
|\\| |
| |/
|/|
| * b1
* | a1
|/
* c0
""",
    ),
}


def drawing(spec: Spec) -> list[str]:
    """dvidctl's drawing of ``spec``, one string per line, the subject after the graph."""
    rows = graph_rows([(name, parents) for name, parents in reversed(spec)])
    return [(text + name).rstrip() if name is not None else text for text, name in rows]


def git_drawing(spec: Spec, tmp: Path) -> list[str]:
    """``git log --graph --date-order --all --format=%s`` of ``spec`` built in a scratch repo."""
    env = {
        **os.environ,
        "HOME": str(tmp),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
    }

    def git(*args: str, stdin: str | None = None, **extra: str) -> str:
        return subprocess.run(
            ["git", "-C", str(tmp), *args],
            env={**env, **extra},
            input=stdin,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    git("init", "-q")
    tree = git("mktree", stdin="")
    ids: dict[str, str] = {}
    for t, (name, parents) in enumerate(spec):
        date = f"{1_600_000_000 + t} +0000"
        parent_args = [a for p in parents for a in ("-p", ids[p])]
        ids[name] = git(
            "commit-tree",
            tree,
            "-m",
            name,
            *parent_args,
            GIT_AUTHOR_DATE=date,
            GIT_COMMITTER_DATE=date,
        )
        git("update-ref", f"refs/heads/r{t}", ids[name])
    out = git("log", "--graph", "--date-order", "--all", "--format=%s")
    return [line.rstrip() for line in out.splitlines()]


def random_spec(seed: int) -> Spec:
    """A DAG of 2-14 nodes; each new node has 1-4 parents among the earlier ones."""
    rng = random.Random(seed)
    spec: Spec = [("n0", [])]
    for i in range(1, rng.randint(2, 14)):
        k = rng.choices([1, 2, 3, 4], weights=[6, 3, 1, 1])[0]
        spec.append((f"n{i}", rng.sample([s for s, _ in spec], min(k, len(spec)))))
    return spec


@pytest.mark.parametrize("name", list(DAGS))
def test_drawing_is_gits(name: str) -> None:
    spec, expected = DAGS[name]
    assert drawing(spec) == expected.strip("\n").splitlines()


needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@needs_git
@pytest.mark.parametrize("name", list(DAGS))
def test_named_dags_against_git(name: str, tmp_path: Path) -> None:
    spec, _ = DAGS[name]
    assert drawing(spec) == git_drawing(spec, tmp_path)


@needs_git
@pytest.mark.parametrize("seed", range(30))
def test_random_dags_against_git(seed: int, tmp_path: Path) -> None:
    spec = random_spec(seed)
    assert drawing(spec) == git_drawing(spec, tmp_path), spec


def test_rows_carry_ids_and_pad_commit_rows() -> None:
    rows = graph_rows([(3, [1, 2]), (2, [1]), (1, [])])
    assert rows == [("*   ", 3), ("|\\", None), ("| * ", 2), ("|/", None), ("* ", 1)]


def test_cli_log_graph_of_the_issues_dag(tmp_path: Path) -> None:
    """The issue's commands (branches renamed: 'a' and 'b' are hex, so refused now)."""
    invoke = invoker(tmp_path)

    def run(*args: str) -> str:
        return invoke(*args).stdout

    run("init", str(tmp_path))
    for args in (
        ("commit", "-m", "c0"),
        ("branch", "pa", "-c"),
        ("commit", "-m", "a1"),
        ("checkout", "master"),
        ("branch", "pb", "-c"),
        ("commit", "-m", "b1"),
        ("checkout", "master"),
        ("commit", "-m", "m1"),
        ("merge", "pa", "pb"),
    ):
        run(*args)
    label = {
        n["uuid"][:10]: n["note"] or f"{n['branch']}-open"
        for n in json.loads(run("log", "--all", "--json"))
    }
    lines = []
    for line in run("log", "--graph", "--all").splitlines():
        graph, sep, rest = line.partition(next((u for u in label if u in line), "\0"))
        lines.append(graph + label[sep] if sep else line.rstrip())
    # a1's open child joins a1's line, not b1's; the merge's left parent is drawn '|\ \'.
    assert lines == [
        "*-.   merge pa, pb",
        "|\\ \\",
        "| | | * pb-open",
        "| | |/",
        "| | * b1",
        "| | | * pa-open",
        "| | |/",
        "| |/|",
        "| * | a1",
        "| |/",
        "* / m1",
        "|/",
        "* c0",
    ]
