"""Damaged databases and bad input: one ``error:`` line, an exit code from the README's table.

Before, each of these printed ``internal error: ...`` and exited 70, and a write
command on a repository without ``db/CURRENT`` replaced the database with an
empty one. Every case runs once through a real ``python -m dvidctl`` process
(all of them at once, a few in parallel); the full matrix of damage x command
runs in-process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dvidctl import Repository
from dvidctl.commands.main import app
from dvidctl.store import rocksfiles
from tests.factories import tree_hashes

DVIDCTL = [sys.executable, "-m", "dvidctl"]
README_EXIT_CODES = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 130}


@pytest.fixture(scope="module")
def base_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository with keyvalue ``kv`` (k = important) and uint8blk ``g`` (16^3 voxels)."""
    path = tmp_path_factory.mktemp("base")
    with Repository.init(path) as r:
        r.new_instance("keyvalue", "kv")
        r.new_instance("uint8blk", "g", {"BlockSize": "16,16,16"})
        r.head.instance("kv").put("k", b"important")
        r.head.instance("g").put_subvolume(np.ones((16, 16, 16), np.uint8), (0, 0, 0))
    Repository.open(path).close()  # the next open flushes the log into table files
    np.save(path / "vol.npy", np.ones((16, 16, 16), np.uint8))
    return path


def _copy(base: Path, dest: Path) -> Path:
    shutil.copytree(base, dest)
    return dest


def _db(repo: Path) -> Path:
    return repo / ".dvid" / "db"


def _biggest_sst(repo: Path) -> Path:
    return max(_db(repo).glob("*.sst"), key=lambda p: p.stat().st_size)


def _cut_manifest(repo: Path) -> None:
    m = _db(repo) / rocksfiles.manifests(_db(repo))[-1]
    data = m.read_bytes()
    n = len(data) // 2
    while rocksfiles.walk_log(data[:n]) is None:
        n += 1
    os.truncate(m, n)


DAMAGE: dict[str, Callable[[Path], None]] = {
    "truncated sst": lambda r: os.truncate(_biggest_sst(r), _biggest_sst(r).stat().st_size // 2),
    "deleted sst": lambda r: _biggest_sst(r).unlink(),
    "deleted MANIFEST": lambda r: (_db(r) / rocksfiles.manifests(_db(r))[-1]).unlink(),
    "truncated MANIFEST": _cut_manifest,
    "deleted CURRENT": lambda r: (_db(r) / "CURRENT").unlink(),
}


def _check_one_error_line(code: int, stderr: str, want_code: int, *words: str) -> None:
    assert code == want_code, stderr
    assert code in README_EXIT_CODES
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert sum(line.startswith("error: ") for line in lines) == 1, stderr
    assert all(line.startswith(("error: ", "hint: ")) for line in lines), stderr
    for w in words:
        assert w in lines[0], stderr


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DVIDCTL_REPO"}
    return subprocess.run(
        DVIDCTL + args, cwd=cwd, capture_output=True, text=True, env=env, input="x", timeout=120
    )


def test_missing_current_no_longer_destroys_the_repository(base_repo: Path, tmp_path: Path) -> None:
    """The issue's reproduction: two writes after ``rm .dvid/db/CURRENT``."""
    repo = _copy(base_repo, tmp_path / "r")
    current = (_db(repo) / "CURRENT").read_bytes()
    (_db(repo) / "CURRENT").unlink()
    before = tree_hashes(repo)
    for _ in range(2):
        p = _run(["put", "key", "kv", "k2"], repo)
        _check_one_error_line(p.returncode, p.stderr, 2, "damaged", "CURRENT")
        assert current.decode().strip() in p.stderr  # the hint names the manifest to restore
        assert tree_hashes(repo) == before
    (_db(repo) / "CURRENT").write_bytes(current)
    with Repository.open(repo, read_only=True) as r:
        assert r.head.instance("kv").get("k") == b"important"


def test_each_case_through_a_subprocess(base_repo: Path, tmp_path: Path) -> None:
    """Each damage with one command (a deleted CURRENT is the test above), and each bad
    input; a few processes at a time."""
    cases: list[tuple[str, list[str], Path, int, tuple[str, ...]]] = []
    damaged_commands = {
        "truncated sst": ["status"],
        "deleted sst": ["log"],
        "deleted MANIFEST": ["get", "key", "kv", "k"],
        "truncated MANIFEST": ["serve", "--port", "0"],
    }
    trees = {}
    for name, args in damaged_commands.items():
        repo = _copy(base_repo, tmp_path / name.replace(" ", "-"))
        DAMAGE[name](repo)
        trees[repo] = tree_hashes(repo)
        cases.append((name, args, repo, 2, ("damaged",)))
    ok = _copy(base_repo, tmp_path / "ok")
    (tmp_path / "a-file").write_text("not a directory")
    vol = str(ok / "vol.npy")
    box = ["--offset", "0,0,0", "--size", "16,16,16"]
    cases += [
        ("get -o a directory", ["get", "key", "kv", "k", "-o", "."], ok, 2, ("cannot write .",)),
        (
            "get -o missing dir",
            ["get", "key", "kv", "k", "-o", "/nonexistent/dir/f"],
            ok,
            2,
            ("/nonexistent/dir/f",),
        ),
        ("get subvolume -o .", ["get", "subvolume", "g", *box, "-o", "."], ok, 2, ("cannot",)),
        (
            "put --dtype nonsense",
            ["put", "subvolume", "g", vol, "--dtype", "nonsense"],
            ok,
            2,
            ("nonsense",),
        ),
        ("init on a file", ["init", str(tmp_path / "a-file")], ok, 2, ("a-file",)),
        ("serve --port 99999", ["serve", "--port", "99999"], ok, 2, ("--port", "65535")),
    ]
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda c: _run(c[1], c[2]), cases))
    for (name, _, _, code, words), p in zip(cases, results, strict=True):
        try:
            _check_one_error_line(p.returncode, p.stderr, code, *words)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None
    for repo, tree in trees.items():
        assert tree_hashes(repo) == tree, f"{repo.name}: a damaged repository was changed"
    assert (tmp_path / "a-file").read_text() == "not a directory"


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_every_command_on_every_damage(base_repo: Path, tmp_path: Path, damage: str) -> None:
    """In-process: each command refuses with corrupt-data and changes nothing."""
    repo = _copy(base_repo, tmp_path / "r")
    DAMAGE[damage](repo)
    before = tree_hashes(repo)
    runner = CliRunner()
    commands = [
        ["status"],
        ["log"],
        ["get", "subvolume", "g", "--offset", "0,0,0", "--size", "4,4,4", "-o", "-"],
        ["put", "key", "kv", "k2"],
        ["serve", "--port", "0"],
        ["fsck"],
    ]
    for args in commands:
        res = runner.invoke(app, args, input=b"x", env={"DVIDCTL_REPO": str(repo)})
        try:
            _check_one_error_line(res.exit_code, res.stderr, 2, "damaged")
        except AssertionError as exc:
            raise AssertionError(f"{args}: {exc}") from None
    assert tree_hashes(repo) == before


def test_an_os_error_nothing_else_caught_is_one_bad_request_line(
    base_repo: Path, tmp_path: Path
) -> None:
    """The last resort in commands/main.py: no 'internal error' for an OSError."""
    repo = _copy(base_repo, tmp_path / "r")
    (repo / ".dvid" / "HEAD.tmp").mkdir()  # checkout writes HEAD through this name
    res = CliRunner().invoke(app, ["checkout", "master"], env={"DVIDCTL_REPO": str(repo)})
    _check_one_error_line(res.exit_code, res.stderr, 2, "HEAD.tmp", "Is a directory")


def test_every_exit_code_is_in_the_readme_table() -> None:
    import re

    import dvidctl.server.errors  # noqa: F401  (its error classes too)
    from dvidctl.errors import DvidError

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = {int(m) for m in re.findall(r"^\| (\d+) \|", readme, re.MULTILINE)}
    classes, todo = set(), [DvidError]
    while todo:
        c = todo.pop()
        classes.add(c)
        todo.extend(c.__subclasses__())
    codes = {c.exit_code for c in classes} | {0, 2, 70, 130}  # success, usage, bug, Ctrl-C
    assert codes <= table, sorted(codes - table)
    assert README_EXIT_CODES | {70} == table
