"""The files of a RocksDB database, checked before anything opens it (reads only).

RocksDB finds its state through ``CURRENT``, a one-line file naming the live
``MANIFEST-NNNNNN``; the MANIFEST is a log of edits listing the table files.
Opening a database whose ``CURRENT`` is missing with ``create_if_missing``
replaces it with an empty one (and a read-write open deletes every table file
the MANIFEST does not list), so :class:`~dvidctl.store.rocks.RocksEngine`
checks here first and refuses, touching nothing:

- ``CURRENT`` is missing, unreadable, or does not name a manifest;
- the manifest it names is missing or empty;
- the manifest ends inside a record. RocksDB reads such a manifest without an
  error, dropping the edits after the cut: a MANIFEST cut in half opened with
  a third of the data, and the read-write open then deleted the newer table
  files. A process crash cannot leave a partial record (each record is one
  ``write()``); a power loss during a manifest write can, and then the edit it
  held was never acknowledged, which the message says.

Deeper damage (a missing or truncated table file, a flipped byte in the
manifest) is found by RocksDB's own open, which the engine runs read-only first.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

from dvidctl.errors import CorruptDataError

#: RocksDB's log format (``db/log_format.h``): 32 KiB blocks of records, each
#: ``crc32c (4) | length (2, LE) | type (1)`` then the payload; a block tail too
#: short for a header is zero padding. Types 5-8 and 11-12 are the recyclable
#: formats, whose header adds a 4-byte log number.
BLOCK_SIZE = 32768
HEADER_SIZE = 7
RECYCLABLE_HEADER_SIZE = 11
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
_RECYCLABLE = {5: FULL, 6: FIRST, 7: MIDDLE, 8: LAST, 11: 11, 12: 12}
_CURRENT_RE = re.compile(r"MANIFEST-[0-9]+")
_HDR = struct.Struct("<IHB")


def _damaged(db: Path, what: str, hint: str) -> CorruptDataError:
    return CorruptDataError(f"the repository database {db} is damaged: {what}", hint=hint)


def manifests(db: Path) -> list[str]:
    """The ``MANIFEST-*`` file names in ``db``, newest (highest number) last."""
    found = [p.name for p in db.glob("MANIFEST-*") if _CURRENT_RE.fullmatch(p.name)]
    return sorted(found, key=lambda n: int(n.split("-")[1]))


def check(db: Path) -> str:
    """Raise :class:`CorruptDataError` unless ``db`` looks openable; return the manifest name.

    Reads ``CURRENT`` and walks the manifest's record framing (no checksums: RocksDB
    checks them when it opens the database). Writes nothing.
    """
    if not db.is_dir():
        what = "it is not a directory" if db.exists() else "it is missing"
        raise _damaged(db, what, "restore .dvid/db from a copy of the repository")
    current = db / "CURRENT"
    try:
        text = current.read_bytes()
    except FileNotFoundError:
        raise _missing_current(db) from None
    except OSError as exc:
        raise CorruptDataError(
            f"cannot read {current}: {exc.strerror}", hint="check the file's permissions"
        ) from None
    name = text.decode("ascii", "replace").strip()
    if not text.endswith(b"\n") or not _CURRENT_RE.fullmatch(name):
        raise _damaged(
            db,
            f"its CURRENT file does not name a manifest (it holds {text[:40]!r})",
            _restore_current_hint(db),
        )
    manifest = db / name
    try:
        data = manifest.read_bytes()
    except FileNotFoundError:
        raise _damaged(
            db,
            f"CURRENT names {name}, which is missing",
            "restore .dvid/db from a copy of the repository (the manifest lists its files); "
            "nothing was changed",
        ) from None
    except OSError as exc:
        raise CorruptDataError(
            f"cannot read {manifest}: {exc.strerror}", hint="check the file's permissions"
        ) from None
    problem = walk_log(data)
    if problem is not None:
        raise _damaged(
            db,
            f"{name} {problem}",
            "restore .dvid/db from a copy of the repository; nothing was changed",
        )
    return name


def _missing_current(db: Path) -> CorruptDataError:
    names = manifests(db)
    if not names and not any(db.glob("*.sst")):
        return _damaged(
            db,
            "the directory holds no database (no CURRENT, no MANIFEST, no table files)",
            "restore .dvid/db from a copy of the repository",
        )
    return _damaged(db, "its CURRENT file is missing", _restore_current_hint(db))


def _restore_current_hint(db: Path) -> str:
    names = manifests(db)
    if not names:
        return "no MANIFEST file is left either: restore .dvid/db from a copy"
    newest = names[-1]
    others = f" (the newest of {', '.join(names)})" if len(names) > 1 else ""
    return (
        f"restore CURRENT from a copy, or recreate it naming the manifest here, {newest}"
        f"{others}: printf '{newest}\\n' > {db / 'CURRENT'}"
    )


def walk_log(data: bytes) -> str | None:
    """Check the record framing of a RocksDB log file; None if it is whole, else what is wrong.

    Every record must fit in its block and in the file; a record split over blocks
    must be complete (FIRST, MIDDLE..., LAST); trailing zero bytes are allowed
    (preallocated space).
    """
    size = len(data)
    if size == 0:
        return "is empty"
    pos = 0
    in_fragment = False
    records = 0
    while pos < size:
        left_in_block = BLOCK_SIZE - pos % BLOCK_SIZE
        if left_in_block < HEADER_SIZE:
            pos += left_in_block  # zero padding at a block's end
            continue
        if pos + HEADER_SIZE > size:
            if not data[pos:].strip(b"\0"):
                break
            return f"is cut inside a record header at byte {pos} of {size}"
        _, length, rtype = _HDR.unpack_from(data, pos)
        if rtype == 0 and length == 0:
            if not data[pos:].strip(b"\0"):
                break  # preallocated, never written
            return f"has a zero record header followed by data at byte {pos} of {size}"
        header = HEADER_SIZE
        if rtype in _RECYCLABLE:
            header, rtype = RECYCLABLE_HEADER_SIZE, _RECYCLABLE[rtype]
        end = pos + header + length
        if end > size:
            return f"is cut inside a record at byte {size} (the record at {pos} needs {end})"
        if end > pos + left_in_block:
            return f"has a record at byte {pos} that runs past its block"
        if rtype == FIRST:
            if in_fragment:
                return f"has a record at byte {pos} that starts before the previous one ended"
            in_fragment = True
        elif rtype in (MIDDLE, LAST):
            if not in_fragment:
                return f"has a record fragment at byte {pos} without its start"
            in_fragment = rtype == MIDDLE
        elif rtype == FULL and in_fragment:
            return f"has a record at byte {pos} inside an unfinished one"
        records += 1
        pos = end
    if in_fragment:
        return f"is cut inside a record that spans blocks (the file ends at byte {size})"
    if records == 0:
        return "holds no records"
    return None
