"""Backends for the contract tests: fresh instances, local or behind a real ``dvidctl serve``.

Each contract class (``*Contract``) asks its ``backend`` fixture for a fresh
instance; each implementation subclasses the contract with :class:`LocalSide` or
:class:`RemoteSide`, which pick the backend:

- :class:`LocalBackend`: a RocksDB repository (one per session, a new instance per test);
- :class:`RemoteBackend`: the remote classes against a ``dvidctl serve`` subprocess on a
  free loopback port, started once per session (readiness: ``/api/server/info``).

Both create instances with the same DVID config strings and commit nodes the same
way, so a test cannot tell which side it runs on.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest

from dvidctl.api.remote import RemoteRepository
from dvidctl.api.repository import Repository
from dvidctl.datatypes.protocol import InstanceAPI

_names = itertools.count()


def fresh_name(typename: str) -> str:
    """An instance name no other test uses."""
    return f"{typename}_{next(_names)}"


class Backend:
    """Makes fresh data instances at an open node, and commits nodes."""

    def new(self, typename: str, config: Mapping[str, str] | None = None) -> InstanceAPI:
        """A new instance of ``typename`` at an open node (config as DVID's strings)."""
        raise NotImplementedError

    def commit(self, inst: InstanceAPI) -> InstanceAPI:
        """Commit the node ``inst`` is at; returns ``inst`` as seen at that (now locked) node.

        Later instances are created at a new open child.
        """
        raise NotImplementedError


class LocalBackend(Backend):
    """Instances of a local RocksDB repository."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo

    def new(self, typename: str, config: Mapping[str, str] | None = None) -> InstanceAPI:
        name = fresh_name(typename)
        self.repo.new_instance(typename, name, dict(config or {}))
        return self.repo.head.instance(name)

    def commit(self, inst: InstanceAPI) -> InstanceAPI:
        committed, _child = self.repo.commit("contract test")
        return committed.instance(inst.name)


class RemoteBackend(Backend):
    """Remote instances on a ``dvidctl serve`` of a repository with root ``root``."""

    def __init__(self, url: str, root: str) -> None:
        self.remote = RemoteRepository(url)
        self.open_uuid = root

    def new(self, typename: str, config: Mapping[str, str] | None = None) -> InstanceAPI:
        name = fresh_name(typename)
        body = {"typename": typename, "dataname": name, **(config or {})}
        self.remote.request("POST", f"repo/{self.open_uuid}/instance", json=body)
        return self.remote.node(self.open_uuid).instance(name)

    def commit(self, inst: InstanceAPI) -> InstanceAPI:
        locked = self.open_uuid
        self.remote.request("POST", f"node/{locked}/commit", json={"note": "contract test"})
        child = self.remote.request("POST", f"node/{locked}/newversion", json={}).json()
        self.open_uuid = child["child"]
        return self.remote.node(locked).instance(inst.name)


@pytest.fixture(scope="session")
def local_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBackend]:
    """Fresh instances on a RocksDB repository."""
    repo = Repository.init(tmp_path_factory.mktemp("local"))
    yield LocalBackend(repo)
    repo.close()


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dvidctl serve exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/api/server/info", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"dvidctl serve did not answer at {url} within {timeout} s")


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """``(url, root uuid)`` of a real ``dvidctl serve`` subprocess on a free loopback port."""
    path: Path = tmp_path_factory.mktemp("served")
    repo = Repository.init(path)
    root = repo.root_uuid
    repo.close()
    log = (path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dvidctl", "serve", "--repo", str(path), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=log,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        found = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert found, f"no URL in the serve announcement {line!r}"
        url = found.group(0)
        _wait_ready(url, proc)
        yield url, root
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="session")
def remote_backend(served: tuple[str, str]) -> Iterator[RemoteBackend]:
    """Fresh remote instances on the served repository."""
    backend = RemoteBackend(*served)
    yield backend
    backend.remote.close()


class LocalSide:
    """Mixed into a contract: run it on the local instance classes."""

    @pytest.fixture
    def backend(self, local_backend: LocalBackend) -> Backend:
        return local_backend


class RemoteSide:
    """Mixed into a contract: run it on the remote classes against ``dvidctl serve``."""

    @pytest.fixture
    def backend(self, remote_backend: RemoteBackend) -> Backend:
        return remote_backend
