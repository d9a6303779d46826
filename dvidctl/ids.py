"""UUIDs and names: generation and validation."""

from __future__ import annotations

import re
import uuid as _uuid

from dvidctl.errors import BadRequestError

_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
#: Instance names DVID forbids (they collide with node endpoints).
RESERVED_INSTANCE_NAMES = frozenset(
    {"log", "branch", "note", "commit", "newversion", "status", "tag"}
)


def new_uuid() -> str:
    """A fresh 32-hex-digit lowercase UUID (random v4), as DVID makes them."""
    return _uuid.uuid4().hex


def check_uuid(text: str) -> str:
    """Validate an explicit full UUID (32 lowercase hex digits)."""
    if not _HEX32.match(text):
        raise BadRequestError(f"{text!r} is not a UUID of 32 lowercase hex digits")
    return text


def check_name(text: str, what: str) -> str:
    """Validate a branch, tag or remote name."""
    if not _NAME.match(text) or text == "HEAD" or _HEX32.match(text):
        raise BadRequestError(
            f"{what} name {text!r} is not allowed",
            hint="use letters, digits, '.', '_' and '-' (not HEAD, not a UUID)",
        )
    return text


def check_instance_name(text: str) -> str:
    """Validate a data instance name (DVID rules, no '/')."""
    if not _NAME.match(text) or text in RESERVED_INSTANCE_NAMES:
        raise BadRequestError(
            f"instance name {text!r} is not allowed",
            hint="use letters, digits, '.', '_' and '-'; not one of "
            + ", ".join(sorted(RESERVED_INSTANCE_NAMES)),
        )
    return text
