"""Parsing DVID instance configs: case-insensitive keys, string values.

DVID lower-cases config keys and wants string values (``"BlockSize": "64,64,64"``);
we also accept JSON numbers, lists and booleans, which are friendlier.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from dvidctl.errors import BadRequestError

COMPRESSIONS = ("none", "snappy", "lz4", "gzip", "jpeg", "zstd", "labelblock")


def lower_keys(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``raw`` with every key lower-cased (and ``typename``/``dataname`` dropped)."""
    return {
        str(k).lower(): v for k, v in raw.items() if str(k).lower() not in ("typename", "dataname")
    }


def get_bool(cfg: Mapping[str, Any], key: str, default: bool) -> bool:
    """Read a boolean given as a bool or ``true/false/1/0`` string."""
    v = cfg.get(key)
    if v is None:
        return default
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in ("true", "1", "yes"):
        return True
    if s in ("false", "0", "no"):
        return False
    raise BadRequestError(f"config {key} must be true or false, not {v!r}")


def get_int(cfg: Mapping[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    """Read an integer in ``[lo, hi]``."""
    v = cfg.get(key)
    if v is None:
        return default
    try:
        n = int(str(v).strip())
    except ValueError:
        raise BadRequestError(f"config {key} must be an integer, not {v!r}") from None
    if not lo <= n <= hi:
        raise BadRequestError(f"config {key} must be between {lo} and {hi}, not {n}")
    return n


def get_triple(
    cfg: Mapping[str, Any], key: str, default: tuple[float, ...], *, integer: bool
) -> tuple[Any, ...]:
    """Read ``"x,y,z"`` (or a list) as a 3-tuple of ints or floats, XYZ order."""
    v = cfg.get(key)
    if v is None:
        return default
    parts = [p for p in str(v).replace("_", ",").strip("[] ").split(",") if p.strip()]
    if isinstance(v, (list, tuple)):
        parts = [str(p) for p in v]
    if len(parts) == 1:
        parts = parts * 3
    if len(parts) != 3:
        raise BadRequestError(f"config {key} needs 3 values x,y,z, not {v!r}")
    try:
        vals = tuple(int(p) if integer else float(p) for p in parts)
    except ValueError:
        raise BadRequestError(f"config {key} has a non-numeric value: {v!r}") from None
    if any(not math.isfinite(x) or x <= 0 for x in vals):
        raise BadRequestError(f"config {key} values must be positive and finite, not {v!r}")
    return vals


def common_config(cfg: Mapping[str, Any], default_compression: str) -> dict[str, Any]:
    """Parse the keys every instance accepts: versioned, Compression, Tags."""
    comp = str(cfg.get("compression", default_compression)).strip().lower()
    name = comp.split(":", 1)[0]
    if name not in COMPRESSIONS:
        raise BadRequestError(
            f"unknown Compression {comp!r}", hint="use one of " + ", ".join(COMPRESSIONS)
        )
    tags: dict[str, str] = {}
    raw_tags = cfg.get("tags")
    if raw_tags:
        for item in str(raw_tags).split(","):
            if "=" not in item:
                raise BadRequestError(f"config Tags needs k=v pairs, not {item!r}")
            k, v = item.split("=", 1)
            tags[k.strip()] = v.strip()
    return {
        "versioned": get_bool(cfg, "versioned", True),
        "compression": comp,
        "tags": tags,
    }


def reject_unknown(cfg: Mapping[str, Any], known: set[str], typename: str) -> None:
    """Refuse config keys a type does not know (DVID ignores them; typos deserve an error)."""
    extra = sorted(set(cfg) - known - {"versioned", "compression", "tags", "checksum", "sync"})
    if extra:
        raise BadRequestError(
            f"unknown config key(s) for {typename}: {', '.join(extra)}",
            hint="known: " + ", ".join(sorted(known)),
        )
