"""Shared fixtures: in-memory and on-disk repositories, and the DVID test data directory.

Hypothesis runs the deterministic ``ci`` profile unless ``HYPOTHESIS_PROFILE=dev``
asks for fresh random examples (STYLE.md rule 22).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from dvidctl import Repository
from tests.testdata import find_testdata

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _build_each_cli_once() -> None:
    """Make typer's ``CliRunner`` build the click command of an app once, not per invoke.

    ``CliRunner.invoke(app, ...)`` calls ``typer.main.get_command(app)`` every time; for
    dvidctl's app with every command registered that costs 0.3 s (over 1 s on a busy
    2-core box) per invoke, most of the in-process CLI tests' time. The tests never add
    commands to an app after invoking it, so the command built first stays right.
    """
    import typer.testing

    build = getattr(typer.testing, "_get_command", None)
    if build is None or getattr(build, "cached", False):
        return  # another typer: invoke as it does
    built: dict[int, tuple[Any, Any]] = {}

    def get_command(app: Any) -> Any:
        hit = built.get(id(app))
        if hit is None or hit[0] is not app:
            hit = built[id(app)] = (app, build(app))
        return hit[1]

    get_command.cached = True  # type: ignore[attr-defined]
    typer.testing._get_command = get_command  # type: ignore[attr-defined]


_build_each_cli_once()


@pytest.fixture
def mem_repo() -> Iterator[Repository]:
    """A fresh repository on the in-memory engine."""
    repo = Repository.memory()
    yield repo
    repo.close()


@pytest.fixture
def disk_repo(tmp_path: Path) -> Iterator[Repository]:
    """A fresh repository on RocksDB under ``tmp_path`` (closed at teardown)."""
    repo = Repository.init(tmp_path)
    yield repo
    repo.close()


@pytest.fixture(scope="session")
def testdata_dir() -> Path:
    """The DVID test data directory, ``tests/data/dvid`` (see tests/testdata.py)."""
    return find_testdata()
