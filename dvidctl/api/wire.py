"""Wire encodings of sync values: which ones this side speaks, and values to and from them.

A sync value normally travels as the stored bytes (``V`` records). A datatype may
offer smaller forms (:attr:`DatatypeSpec.wire_encodings`; labelmap's
``labelblock``: DVID's label Block under zstd). Each side lists the encodings it
speaks in its state document (``RepoInfo.wire``); the client picks one per
transfer and instance, asks for values in it (``values?encoding=NAME``) or sends
batches with ``W`` records. Either way the *receiver* turns a wire payload back
into the stored value it keeps and checks that value against the sender's digest
(the digest of the stored value, so node digests stay comparable whatever
encoding carried them). A value that does not come out the same -- the sender
stored it with other codec settings -- is not applied but asked for again as it
is stored (:func:`decode_values` returns it in ``again``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from dvidctl.datatypes import registry
from dvidctl.datatypes.registry import WireEncoding
from dvidctl.errors import BadRequestError
from dvidctl.store.keys import digest

#: Encoding numbers on the wire (``W`` records), by name; 0 is the stored form.
NUMBERS: dict[str, int] = {"labelblock": 1}
NAMES: dict[int, str] = {v: k for k, v in NUMBERS.items()}
#: What this side speaks, for its state document.
SPOKEN: list[str] = sorted(NUMBERS)
#: Values converted at a time (on the block thread pool).
CHUNK = 32

#: ``(tkey, digest, stored)``; digest and stored None for a key the sender lacks.
Value = tuple[bytes, bytes | None, bytes | None]


def check_name(name: str) -> str:
    """``name`` if this side speaks it (``stored`` too), else BadRequestError."""
    if name != "stored" and name not in NUMBERS:
        raise BadRequestError(
            f"unknown sync wire encoding {name!r}", hint="one of stored, " + ", ".join(SPOKEN)
        )
    return name


def encoding_for(typename: str, config: Mapping[str, Any], name: str) -> WireEncoding | None:
    """Instance type ``typename`` with ``config``'s encoding ``name``, or None if it has none."""
    if name == "stored" or name not in NUMBERS:
        return None
    spec = registry.get(typename)
    factory = spec.wire_encodings
    if factory is None:
        return None
    if name in spec.wire_encoding_names:  # built (its codec imported) when first used
        return _Lazy(name, lambda: factory(config)[name])
    return factory(config).get(name)


class _Lazy:
    """A :class:`WireEncoding` made on first use: a transfer asks which encodings an
    instance offers before it knows whether it will convert anything (on a fast link
    ``auto`` keeps stored bytes), and making one imports its codec (~3 ms of a pull)."""

    def __init__(self, name: str, build: Callable[[], WireEncoding]) -> None:
        self.name = name
        self._build = build
        self._made: WireEncoding | None = None

    def _enc(self) -> WireEncoding:
        if self._made is None:
            self._made = self._build()
        return self._made

    def encode_many(self, items: Sequence[tuple[bytes, bytes]]) -> list[bytes | None]:
        return self._enc().encode_many(items)

    def decode_many(self, items: Sequence[tuple[bytes, bytes]]) -> list[bytes]:
        return self._enc().decode_many(items)

    def floor_seconds(self, tkey: bytes, stored: bytes) -> float | None:
        return self._enc().floor_seconds(tkey, stored)


def encodings_of(typename: str, config: Mapping[str, Any]) -> dict[int, WireEncoding]:
    """Every wire encoding this side speaks for such an instance, by number."""
    spec = registry.get(typename)
    if spec.wire_encodings is None:
        return {}
    return {NUMBERS[n]: e for n, e in spec.wire_encodings(config).items() if n in NUMBERS}


def encode_values(
    enc: WireEncoding | None, values: Iterable[Value]
) -> Iterator[tuple[bytes, bytes | None, bytes | None, int]]:
    """``(tkey, digest, payload, encoding number)``: each value in ``enc`` where it applies.

    Number 0: the payload is the stored value as it is (or None for a missing key).
    """
    if enc is None:
        for tk, d, s in values:
            yield tk, d, s, 0
        return
    number = NUMBERS[enc.name]
    pending: list[Value] = []

    def flush() -> Iterator[tuple[bytes, bytes | None, bytes | None, int]]:
        todo = [(tk, s) for tk, _, s in pending if s is not None]
        wired = iter(enc.encode_many(todo))
        for tk, d, s in pending:
            w = next(wired) if s is not None else None
            yield (tk, d, s, 0) if w is None else (tk, d, w, number)

    for v in values:
        pending.append(v)
        if len(pending) >= CHUNK:
            yield from flush()
            pending = []
    if pending:
        yield from flush()


def decode_values(
    enc_for: Mapping[int, WireEncoding],
    items: Sequence[tuple[bytes, bytes, bytes, int]],
    suffix: int = 0,
) -> tuple[list[tuple[bytes, bytes, bytes]], list[bytes]]:
    """``(tkey, digest, payload, number)`` to stored ``(tkey, digest, stored)`` values.

    Returns the values whose stored form this side made with the sender's digest,
    and ``again``: the keys whose did not (to be sent again as stored). A number
    this side was not offered is a BadRequestError. ``suffix``: the keys end in that
    many bytes after the type key (a span's node position), which decoding leaves out.
    """
    out: list[tuple[bytes, bytes, bytes]] = []
    again: list[bytes] = []
    by_number: dict[int, list[int]] = {}
    for i, (_, _, _, n) in enumerate(items):
        by_number.setdefault(n, []).append(i)
    stored: dict[int, bytes] = {i: items[i][2] for i in by_number.pop(0, [])}
    for n, idx in by_number.items():
        enc = enc_for.get(n)
        if enc is None:
            what = NAMES.get(n, str(n))
            raise BadRequestError(f"a sync value in wire encoding {what!r} was not agreed")
        for start in range(0, len(idx), CHUNK):
            part = idx[start : start + CHUNK]
            made = enc.decode_many(
                [(items[i][0][: len(items[i][0]) - suffix], items[i][2]) for i in part]
            )
            stored.update(zip(part, made, strict=True))
    for i, (tk, d, _, n) in enumerate(items):
        s = stored[i]
        if n and digest(s) != d:
            again.append(tk)
        else:
            out.append((tk, d, s))
    return out, again


__all__ = [
    "CHUNK",
    "NAMES",
    "NUMBERS",
    "SPOKEN",
    "check_name",
    "decode_values",
    "encode_values",
    "encoding_for",
    "encodings_of",
]
