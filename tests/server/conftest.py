"""Fixtures for server tests: an app over in-memory repositories, driven in-process."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

from dvidctl.api.repository import Repository
from dvidctl.server.app import create_app
from dvidctl.server.state import RepoSet, ServerSettings, ServerState

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def make_client(
    repos: list[Repository], settings: ServerSettings | None = None, store_dir=None
) -> TestClient:  # type: ignore[no-untyped-def]
    """A TestClient over a fresh ServerState holding ``repos``."""
    state = ServerState(RepoSet(repos, store_dir), settings or ServerSettings())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return TestClient(create_app(state), raise_server_exceptions=False)


@pytest.fixture
def repo() -> Iterator[Repository]:
    r = Repository.memory(alias="demo", description="demo repo")
    yield r
    r.close()


@pytest.fixture
def client(repo: Repository) -> TestClient:
    return make_client([repo])


@pytest.fixture
def kv(client: TestClient, repo: Repository) -> str:
    """Create keyvalue instance ``kv`` at the root; returns the root UUID."""
    r = client.post(
        f"/api/repo/{repo.root_uuid}/instance", json={"typename": "keyvalue", "dataname": "kv"}
    )
    assert r.status_code == 200, r.text
    return repo.root_uuid


@pytest.fixture
def client_factory():  # type: ignore[no-untyped-def]
    """``client_factory(repos, settings=None, store_dir=None)`` -> TestClient."""
    return make_client
