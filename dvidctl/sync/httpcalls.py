"""The requests under a sync endpoint: timeouts, retries, resumed streams, errors by kind.

No silent hangs, nothing lost on a dropped connection:

* timeouts on connecting and on every read: a response that stops sending for
  ``stall`` seconds is abandoned (the stall watchdog) and retried;
* every request is retried with exponential back-off on a connection failure, a
  stall, a cut-off or damaged body, or a 502/503/504, and a retried request
  rebuilds its body from scratch;
* streamed answers resume where they broke (:meth:`HttpCalls._resuming`; the
  caller's producer knows from where);
* one ``httpx.Client``: requests reuse one kept-alive connection (a transfer's
  other streams fork an endpoint of their own);
* the socket is read in pieces of :data:`READ_BYTES` (httpcore's own 64 KiB made
  an h11 event, and a piece for the frame reader to join, per 64 KiB);
* a body of bounded size (one batch of values) is read whole by :meth:`HttpCalls._body`:
  over a plain-http link without a proxy, through the standard library's
  ``http.client`` with ``readinto`` into one reused buffer (:mod:`.rawbody`): httpx
  copies every byte twice more on the way in (h11's receive buffer), which was half of
  a clone's receiving CPU.

A server answers errors on the sync routes as JSON with dvidctl's kinds; they are
raised here as the same error classes (a conflict stays a conflict). Failing to
reach the server, or a server without the sync API, is :class:`RemoteError`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.client import HTTPException
from typing import Any

import httpx

from dvidctl import errors
from dvidctl.errors import CorruptDataError, DvidError, RemoteError
from dvidctl.sync.rawbody import RawConnection, direct_http
from dvidctl.sync.results import Stats

#: Bytes asked of the socket per read of a response body.
READ_BYTES = 1 << 20


def _bigger_reads() -> None:
    """Read response bodies in pieces of up to :data:`READ_BYTES` (httpcore reads 64 KiB
    at a time: a class attribute, the one setting of it there is)."""
    from httpcore._sync.http11 import HTTP11Connection

    if HTTP11Connection.READ_NUM_BYTES < READ_BYTES:
        HTTP11Connection.READ_NUM_BYTES = READ_BYTES


_RETRY_STATUS = frozenset({502, 503, 504})
_KINDS: dict[str, type[DvidError]] = {
    cls.kind: cls
    for cls in (
        errors.BadRequestError,
        errors.CorruptDataError,
        errors.NotFoundError,
        errors.ConflictError,
        errors.MergeConflictError,
        errors.LockedNodeError,
        errors.PermissionDeniedError,
        errors.ReadOnlyError,
        errors.RepositoryBusyError,
    )
}


@dataclass(frozen=True)
class Policy:
    """Timeouts and retries of every request."""

    #: Seconds to connect.
    connect: float = 10.0
    #: Seconds without a byte before a response is abandoned (the stall watchdog).
    stall: float = 60.0
    #: Tries per request (the first included).
    attempts: int = 5
    #: Seconds before the first retry; doubled each time, at most ``max_backoff``.
    backoff: float = 0.5
    max_backoff: float = 8.0


class _Retry(Exception):
    """A failure worth another try."""


class NoSyncApiError(RemoteError):
    """The server answers, but has no ``/api/sync`` endpoints (DVID itself, or turned off)."""


class HttpCalls:
    """Requests to the repository ``repo_ref`` on the server at ``base_url``."""

    def __init__(
        self,
        base_url: str,
        repo_ref: str,
        *,
        token: str | None = None,
        policy: Policy | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        self.base = base_url.rstrip("/")
        self.name = self.base
        self.repo_ref = repo_ref
        self.token = token
        self.policy = policy or Policy()
        self.stats = Stats()
        p = self.policy
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        timeout = httpx.Timeout(p.stall, connect=p.connect, pool=p.stall)
        _bigger_reads()
        # A plain-http remote never uses TLS (redirects are not followed): loading the
        # certificate store for it took ~30 ms of every sync command's start.
        tls = self.base.startswith("https://")
        self.client = client or httpx.Client(timeout=timeout, headers=headers, verify=tls)
        #: The client belongs to the endpoint this one was forked from (not closed here).
        self.shared_client = False
        #: This endpoint's own connection for whole bodies (:meth:`_body`), made when first
        #: used; None where httpx reads them (https, or a proxy from the environment).
        #: Not when the caller brings its own client (its transport decides how bodies come).
        self._raw: RawConnection | None = None
        self._raw_ok = client is None and direct_http(self.base)

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        if not self.shared_client:
            self.client.close()

    @property
    def _repo(self) -> str:
        return f"/api/sync/{self.repo_ref}"

    # -------------------------------------------------------------- requests
    def _sleep(self, attempt: int) -> None:
        p = self.policy
        time.sleep(min(p.max_backoff, p.backoff * 2**attempt))

    def _raise_for(self, r: httpx.Response, method: str, path: str) -> None:
        if r.status_code < 400:
            return
        if r.status_code in _RETRY_STATUS:
            raise _Retry(f"{r.status_code} from the server")
        try:
            doc = json.loads(r.content)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("error"), str):
            cls = _KINDS.get(doc["error"], RemoteError)
            if cls is CorruptDataError:
                raise _Retry(f"the server found the body damaged: {doc.get('message')}")
            raise cls(f"{doc.get('message')} ({self.base})", hint=doc.get("hint"))
        text = r.text.strip()[:300]
        if r.status_code in (401, 403):
            raise errors.PermissionDeniedError(
                f"{self.base} refused {method} {path}: {text}",
                hint="give the server's token: 'dvidctl remote add NAME URL --token T' "
                "or DVIDCTL_REMOTE_TOKEN",
            )
        if r.status_code == 404:
            raise NoSyncApiError(
                f"{self.base} has no {path} ({text})",
                hint="is it a dvidctl server, and is the URL http://HOST:PORT/UUID?",
            )
        raise RemoteError(f"{method} {self.base}{path} failed with {r.status_code}: {text}")

    def _retrying(self, what: str, attempt_fn: Callable[[], Any]) -> Any:
        last = ""
        for attempt in range(self.policy.attempts):
            if attempt:
                self._sleep(attempt - 1)
            self.stats.requests += 1
            try:
                return attempt_fn()
            except (httpx.TransportError, _Retry) as exc:
                last = str(exc) or type(exc).__name__
        raise RemoteError(
            f"{what} failed after {self.policy.attempts} tries: {last}",
            hint=f"is the server at {self.base} running and reachable?",
        )

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json_body: Any = None,
        body: Callable[[], bytes] | None = None,
    ) -> Any:
        """One request with retries; the JSON answer. ``body`` is rebuilt for each try."""

        def attempt() -> Any:
            content = body() if body is not None else None
            if json_body is not None:
                content = json.dumps(json_body).encode()
            r = self.client.request(method, self.base + path, params=params, content=content)
            self.stats.up += len(content or b"")
            self.stats.down += len(r.content)
            self._raise_for(r, method, path)
            return r.json()

        return self._retrying(f"{method} {self.base}{path}", attempt)

    @contextmanager
    def _stream(
        self, method: str, path: str, params: dict[str, str], content: bytes | None = None
    ) -> Iterator[Iterator[bytes]]:
        """A streamed response body (raises on an error status)."""
        with self.client.stream(method, self.base + path, params=params, content=content) as r:
            if r.status_code >= 400:
                r.read()
                self._raise_for(r, method, path)
            yield r.iter_raw()

    def _body(
        self,
        method: str,
        path: str,
        params: dict[str, str],
        content: bytes | None = None,
        expect: int = 0,
    ) -> memoryview:
        """A whole response body of bounded size (raises on an error status); the view is
        into a buffer the next call reuses (``expect``: the bytes it is likely to reach).
        A failure to reach or read the server is a :class:`_Retry` (its caller,
        :meth:`_resuming`, tries again)."""
        if not self._raw_ok:
            with self._stream(method, path, params, content) as chunks:
                return memoryview(b"".join(chunks))
        if self._raw is None:
            self._raw = RawConnection(self.base, self.policy.connect, self.policy.stall)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            status, view = self._raw.request(method, path, params, headers, content, expect)
        except (OSError, HTTPException) as exc:
            self._raw.close()
            raise _Retry(str(exc) or type(exc).__name__) from None
        if status >= 400:
            self._raise_for(httpx.Response(status, content=bytes(view)), method, path)
        return view

    def _resuming(self, what: str, produce: Callable[[], Iterator[Any]]) -> Iterator[Any]:
        """Yield from ``produce()``, calling it again after a failure (it resumes itself)."""
        failures = 0
        while True:
            self.stats.requests += 1
            try:
                yield from produce()
                return
            except (httpx.TransportError, _Retry, CorruptDataError) as exc:
                failures += 1
                if failures >= self.policy.attempts:
                    raise RemoteError(
                        f"{what} failed after {failures} tries: {exc}",
                        hint=f"is the server at {self.base} running and reachable?",
                    ) from None
                self._sleep(failures - 1)
