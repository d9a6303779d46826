"""The one exception tree of dvidctl.

Every error a user can cause or meet is a :class:`DvidError`. Each class has a
stable ``kind`` string (for ``--json`` output and HTTP bodies), a CLI exit
code and an HTTP status, and also inherits the builtin that matches it, so
``except KeyError`` still works for a missing key.

::

    DvidError (exit 1, HTTP 500)
    ├── BadRequestError (ValueError)          exit 2, 400  bad input of any kind
    │   ├── AmbiguousRefError                 exit 2, 400  a ref matches several nodes
    │   └── CorruptDataError                  exit 2, 400  stored or sent bytes do not decode
    ├── NotFoundError (KeyError)              exit 3, 404  unknown ref, instance, key, type
    │   └── KeyNotFoundError                  exit 3, 404  a key without a value (DVID: 404 too)
    ├── LockedNodeError (PermissionError)     exit 4, 400  write to a committed node
    ├── ConflictError                         exit 5, 409  merge conflicts, branch already exists
    │   └── MergeConflictError                exit 5, 409  versions changed a key differently
    ├── PermissionDeniedError (PermissionError) exit 6, 403  missing or wrong token
    │   └── ReadOnlyError                     exit 6, 400  write to a read-only server (DVID: 400)
    ├── RepositoryBusyError (OSError)         exit 7, 503  another process holds the database
    ├── RepositoryNotFoundError (FileNotFoundError) exit 8, 404  no .dvid here
    └── RemoteError (OSError)                 exit 9, 502  a remote server failed or is unreachable

The HTTP status is dvidctl's own; on DVID's API paths the server answers as DVID
does (``dvidctl.server.errors``): 400 for every error but a missing key or URL
(404), and 409 kept for merge conflicts.
"""

from __future__ import annotations

from typing import Any


class DvidError(Exception):
    """Base of every dvidctl error.

    Args:
        message: One line that says what went wrong.
        hint: Optional one line that says what to do about it.
        details: Optional structured data (e.g. the list of conflicts) for ``--json``.
    """

    kind: str = "error"
    exit_code: int = 1
    http_status: int = 500

    def __init__(self, message: str, *, hint: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        """Return the stable JSON form ``{"error": kind, "message": ..., "hint": ...}``."""
        out: dict[str, Any] = {"error": self.kind, "message": self.message}
        if self.hint:
            out["hint"] = self.hint
        if self.details is not None:
            out["details"] = self.details
        return out


class BadRequestError(DvidError, ValueError):
    """Input that cannot be used: malformed, out of range, inconsistent."""

    kind = "bad-request"
    exit_code = 2
    http_status = 400


class AmbiguousRefError(BadRequestError):
    """A version reference matches more than one node."""

    kind = "ambiguous-ref"


class CorruptDataError(BadRequestError):
    """Bytes (stored or sent) that do not decode as their format says."""

    kind = "corrupt-data"


class NotFoundError(DvidError, KeyError):
    """Unknown ref, instance, key, datatype or route."""

    kind = "not-found"
    exit_code = 3
    http_status = 404

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class KeyNotFoundError(NotFoundError):
    """A key that has no value at the node (the one not-found DVID's API answers with 404)."""


class LockedNodeError(DvidError, PermissionError):
    """A write to a committed (locked) node."""

    kind = "locked-node"
    exit_code = 4
    http_status = 400


class ConflictError(DvidError):
    """Merge conflicts, or a name that is already taken."""

    kind = "conflict"
    exit_code = 5
    http_status = 409


class MergeConflictError(ConflictError):
    """Versions being merged (or read through a merge) changed the same key differently.

    dvidctl finds these eagerly, at merge time; its HTTP API keeps 409 for them.
    """


class PermissionDeniedError(DvidError, PermissionError):
    """The operation is not allowed here (read-only server, missing token)."""

    kind = "permission-denied"
    exit_code = 6
    http_status = 403


class ReadOnlyError(PermissionDeniedError):
    """A write to a server or repository opened read-only (DVID answers 400)."""

    kind = "read-only"
    http_status = 400


class RepositoryBusyError(DvidError, OSError):
    """Another process (e.g. ``dvidctl serve``) holds the repository open."""

    kind = "repository-busy"
    exit_code = 7
    http_status = 503


class ReopenRequiredError(RepositoryBusyError):
    """A large write failed half-way: writes are refused until the repository is reopened."""

    kind = "reopen-required"


class RepositoryNotFoundError(DvidError, FileNotFoundError):
    """No repository at or above the given path."""

    kind = "no-repository"
    exit_code = 8
    http_status = 404


class RemoteError(DvidError, OSError):
    """A remote server failed, answered with an error, or could not be reached."""

    kind = "remote"
    exit_code = 9
    http_status = 502


__all__ = [
    "AmbiguousRefError",
    "BadRequestError",
    "ConflictError",
    "CorruptDataError",
    "DvidError",
    "KeyNotFoundError",
    "LockedNodeError",
    "MergeConflictError",
    "NotFoundError",
    "PermissionDeniedError",
    "ReadOnlyError",
    "RemoteError",
    "RepositoryBusyError",
    "RepositoryNotFoundError",
]
