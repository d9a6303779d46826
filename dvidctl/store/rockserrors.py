"""RocksDB's error messages as dvidctl errors (for :mod:`dvidctl.store.rocks`).

rocksdict raises plain ``Exception``s whose text is RocksDB's status message;
these functions read that text and answer the error a user should see: a busy
repository, an OS problem (disk full, permissions), or damaged files
(:class:`~dvidctl.errors.CorruptDataError`, with what is wrong and how to recover).
"""

from __future__ import annotations

import re
from pathlib import Path

from dvidctl.errors import CorruptDataError, DvidError, RepositoryBusyError

_BUSY_RE = re.compile(r"While lock file|lock hold by current process")
_SST_RE = re.compile(r"([^\s:/]+\.sst)")
_SIZE_RE = re.compile(
    r"Sst file size mismatch: (\S+)\. (?:Expected|Size recorded in manifest) (\d+), "
    r"actual size (\d+)"
)
_CF_RE = re.compile(r"Column famil(?:y|ies) not (?:found|opened): ?([\w, ]+)")
_OS_TROUBLE = ("Permission denied", "No space left", "Read-only file system", "Too many open files")


def open_error(path: Path, text: str) -> DvidError:
    """The error for a failed open of the database at ``path`` (RocksDB's message ``text``)."""
    if _BUSY_RE.search(text):
        return RepositoryBusyError(
            f"the repository database {path} is in use by another process",
            hint="stop the other dvidctl (e.g. 'dvidctl serve'), or send the command "
            "to that server with --remote URL",
        )
    if any(t in text for t in _OS_TROUBLE):
        return DvidError(f"cannot open the repository database {path}: {first_line(text)}")
    hint = "restore .dvid/db from a copy of the repository; nothing was changed"
    if m := _SIZE_RE.search(text):
        name = Path(m[1]).name
        what = f"its table file {name} holds {m[3]} bytes where {m[2]} were written"
        hint = f"restore {name} (or all of .dvid/db) from a copy; nothing was changed"
    elif m := _SST_RE.search(text):
        name = m[1]
        if "No such file or directory" in text:
            what = f"its table file {name} is missing"
        else:
            what = f"its table file {name} cannot be read ({first_line(text)})"
        hint = f"restore {name} (or all of .dvid/db) from a copy; nothing was changed"
    elif m := _CF_RE.search(text):
        what = f"column family {m[1].strip()} is missing"
    else:
        what = first_line(text)
    return CorruptDataError(f"the repository database {path} is damaged: {what}", hint=hint)


def read_error(path: Path, text: str) -> DvidError:
    """The error for a failed read (RocksDB's message ``text``)."""
    if any(t in text for t in _OS_TROUBLE):
        return DvidError(f"reading the database {path} failed: {first_line(text)}")
    return CorruptDataError(
        f"reading the database {path} failed: {first_line(text)}",
        hint="its files are damaged: 'dvidctl fsck' lists what is wrong; restore .dvid/db "
        "from a copy",
    )


def write_error(path: Path, text: str) -> DvidError:
    """The error for a failed write (RocksDB's message ``text``); nothing was written."""
    if "Corruption" in text:
        return read_error(path, text)
    return DvidError(
        f"writing to the database {path} failed: {first_line(text)}",
        hint="nothing was written; free disk space or fix permissions, then try again",
    )


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "unknown error"
