"""Running the server: ``serve()`` for the CLI, ``BackgroundServer`` for tests and benchmarks.

``serve`` opens the repositories, serves them with uvicorn until SIGINT or
SIGTERM (uvicorn's handlers), then closes every repository so the RocksDB locks
are released. While it runs, each served repository holds ``.dvid/SERVER``
with the URL, so the CLI can tell a user where the database is being served
instead of failing on the lock.
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import uvicorn

from dvidctl.api.repository import Repository
from dvidctl.errors import BadRequestError, RepositoryNotFoundError
from dvidctl.server.app import create_app
from dvidctl.server.state import RepoSet, ServerSettings, ServerState, open_store_repos

log = logging.getLogger("dvidctl.server")
SERVER_FILE = "SERVER"


def _setup_logging() -> None:
    if not log.handlers:
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
        log.addHandler(h)
        log.setLevel(logging.INFO)
        log.propagate = False


def open_state(
    repo_paths: Sequence[Path | str] = (),
    store: Path | str | None = None,
    settings: ServerSettings | None = None,
) -> ServerState:
    """Open the repositories to serve and build the server state.

    Args:
        repo_paths: Repositories to serve (none: the one at or above the working directory,
            unless ``store`` is given and none is found).
        store: Directory for ``POST /api/repos`` (default: ``.dvid/repos`` of the first repository);
            repositories created there earlier (``<root uuid>/``) are served too.
        settings: Server options.
    """
    repos: list[Repository] = []
    try:
        if repo_paths:
            repos = [Repository.open(p) for p in repo_paths]
        else:
            try:
                repos = [Repository.open(None)]
            except RepositoryNotFoundError:
                if store is None:
                    raise
        store_dir = Path(store).resolve() if store is not None else None
        if store_dir is None and repos and repos[0].dvid_dir is not None:
            store_dir = repos[0].dvid_dir / "repos"
        skip = {r.dvid_dir.parent.resolve() for r in repos if r.dvid_dir is not None}
        if store_dir is not None:
            if store is not None:
                store_dir.mkdir(parents=True, exist_ok=True)
            repos += open_store_repos(store_dir, skip)
        return ServerState(RepoSet(repos, store_dir), settings or ServerSettings())
    except BaseException:
        for r in repos:
            r.close()
        raise


def _server_files(state: ServerState, url: str | None) -> None:
    for repo in state.repos:
        if repo.dvid_dir is None:
            continue
        f = repo.dvid_dir / SERVER_FILE
        try:
            if url is None:
                f.unlink(missing_ok=True)
            else:
                f.write_text(url + "\n")
        except OSError:
            pass


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only then
    # (with proto 0 every small response waited ~40 ms for a delayed ACK).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise BadRequestError(
            f"cannot listen on {host}:{port}: {exc.strerror}", hint="choose another --port"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _config(state: ServerState) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(state),
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_keep_alive=30,
        h11_max_incomplete_event_size=1 << 20,
    )


def serve(
    state: ServerState,
    *,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Serve ``state`` until SIGINT/SIGTERM, then close every repository."""
    _setup_logging()
    s = state.settings
    sock = _bind(s.host, s.port)
    s.port = sock.getsockname()[1]
    host = f"[{s.host}]" if ":" in s.host else s.host
    url = f"http://{host}:{s.port}"
    server = uvicorn.Server(_config(state))
    # uvicorn re-raises SIGTERM after its graceful shutdown; make that a normal exit so
    # the cleanup below runs (SIGINT already arrives as KeyboardInterrupt).
    previous = signal.signal(signal.SIGTERM, _exit_on_term)
    try:
        _server_files(state, url)
        if announce is not None:
            announce(url)
        try:
            server.run(sockets=[sock])
        except KeyboardInterrupt:
            pass  # uvicorn re-raises SIGINT after its graceful shutdown: a normal stop
    finally:
        signal.signal(signal.SIGTERM, previous)
        _server_files(state, None)
        sock.close()
        state.close()


def _exit_on_term(signum: int, frame: object) -> None:
    raise SystemExit(0)


class BackgroundServer:
    """A real uvicorn server on a free loopback port, in a thread (tests, benchmarks).

    Use as a context manager; ``url`` is set once it accepts connections.
    """

    def __init__(self, state: ServerState, host: str = "127.0.0.1") -> None:
        self.state = state
        self.sock = _bind(host, 0)
        state.settings.host, state.settings.port = host, self.sock.getsockname()[1]
        self.url = f"http://{host}:{state.settings.port}"
        self.server = uvicorn.Server(_config(state))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the background server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)
        self.sock.close()
