"""URL convertors: DVID path segments turned into typed values before a handler runs.

Registered with Starlette once (``{size:xyz}``, ``{coord:xyz}``, ``{dims:dims}``,
``{ref:ref}``), so route templates in every datatype's table say what a segment
is and handlers receive Python values:

* ``xyz`` — ``x_y_z`` (or ``x_y`` for 2D sizes) into a tuple of ints, XYZ order.
* ``dims`` — DVID's plane names (``xy``, ``0_1``, ``0_1_2``, ``vol``, ...) into a
  canonical ``"xy" | "xz" | "yz" | "xyz"``.
* ``floats`` — ``x_y_z`` with real numbers (``arb`` corners).
"""

from __future__ import annotations

import re

from starlette.convertors import Convertor, register_url_convertor

_DIMS = {
    "xy": "xy",
    "0_1": "xy",
    "0,1": "xy",
    "xz": "xz",
    "0_2": "xz",
    "0,2": "xz",
    "yz": "yz",
    "1_2": "yz",
    "1,2": "yz",
    "0_1_2": "xyz",
    "0,1,2": "xyz",
    "xyz": "xyz",
    "vol": "xyz",
}


class XYZConvertor(Convertor[tuple[int, ...]]):
    """``12_34_56`` (2 or 3 signed ints, ``_`` or ``,`` separated) -> ``(12, 34, 56)``."""

    regex = r"-?[0-9]+(?:[_,]-?[0-9]+){1,2}"

    def convert(self, value: str) -> tuple[int, ...]:
        return tuple(int(v) for v in re.split(r"[_,]", value))

    def to_string(self, value: tuple[int, ...]) -> str:
        return "_".join(str(int(v)) for v in value)


class FloatsConvertor(Convertor[tuple[float, ...]]):
    """``1.5_2_-3e2`` -> ``(1.5, 2.0, -300.0)`` (arbitrary-plane corners)."""

    regex = r"[-+0-9.eE]+(?:[_,][-+0-9.eE]+){2}"

    def convert(self, value: str) -> tuple[float, ...]:
        try:
            return tuple(float(v) for v in re.split(r"[_,]", value))
        except ValueError:
            from dvidctl.errors import BadRequestError

            raise BadRequestError(f"bad real-valued point {value!r}") from None

    def to_string(self, value: tuple[float, ...]) -> str:
        return "_".join(repr(float(v)) for v in value)


class DimsConvertor(Convertor[str]):
    """DVID plane spellings -> ``xy``, ``xz``, ``yz`` or ``xyz``."""

    regex = "|".join(re.escape(k) for k in sorted(_DIMS, key=len, reverse=True))

    def convert(self, value: str) -> str:
        return _DIMS[value]

    def to_string(self, value: str) -> str:
        return value


def dims_of(text: str) -> str | None:
    """Canonical plane name for a DVID dims string, None if unknown."""
    return _DIMS.get(text)


_REGISTERED = False


def register() -> None:
    """Register the convertors with Starlette (idempotent)."""
    global _REGISTERED
    if _REGISTERED:
        return
    register_url_convertor("xyz", XYZConvertor())
    register_url_convertor("floats", FloatsConvertor())
    register_url_convertor("dims", DimsConvertor())
    _REGISTERED = True
