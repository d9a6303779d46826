"""Shared fixtures: in-memory and on-disk repositories, and the DVID test data directory.

Hypothesis runs the deterministic ``ci`` profile unless ``HYPOTHESIS_PROFILE=dev``
asks for fresh random examples (STYLE.md rule 22).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from dvidctl import Repository
from tests.testdata import find_testdata

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


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
