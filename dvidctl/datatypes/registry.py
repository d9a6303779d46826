"""The datatype registry: one :func:`register` call per type.

A :class:`DatatypeSpec` says everything the rest of dvidctl needs to know about
a type: its DVID name and URL, the class that implements its operations, how
to validate its config, how to print its keys, how to merge its keys, and
(filled in by later layers) its CLI verbs and HTTP routes. Enabling a type is
one import line in :mod:`dvidctl.datatypes` (as DVID's ``datastore.Register``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dvidctl.errors import NotFoundError

if TYPE_CHECKING:
    from dvidctl.datatypes.base import Instance
    from dvidctl.store.merge import MergeRule


@dataclass(frozen=True)
class DatatypeSpec:
    """Everything the registry knows about one datatype."""

    name: str
    type_url: str
    version: str
    instance_class: type[Instance]
    #: Validate and normalise a config mapping (DVID keys, case-insensitive).
    parse_config: Callable[[Mapping[str, Any]], dict[str, Any]]
    #: Short description for ``dvidctl types`` and ``/api/help``.
    summary: str = ""
    #: Plain-text help served at ``/api/help/<type>`` and rendered into man pages.
    help: str = ""
    #: Other names that create this type (e.g. DVID's ``labelarray``).
    aliases: tuple[str, ...] = ()
    #: Readable form of a type key, for diff and debugging.
    describe_key: Callable[[bytes], str] = field(default=lambda tk: tk.hex())
    #: Resolution of keys two merge sides changed differently (None = conflict).
    merge_rule: MergeRule | None = None
    #: Extra attributes set by later layers (``routes``, ``cli``).
    extras: dict[str, Any] = field(default_factory=dict)


_TYPES: dict[str, DatatypeSpec] = {}
_ALIASES: dict[str, str] = {}


def register(spec: DatatypeSpec) -> DatatypeSpec:
    """Add ``spec`` to the registry (re-registering the same name replaces it)."""
    _TYPES[spec.name] = spec
    for alias in spec.aliases:
        _ALIASES[alias] = spec.name
    return spec


def get(name: str) -> DatatypeSpec:
    """Return the spec for a type name or alias; NotFoundError lists the known ones."""
    key = _ALIASES.get(name, name)
    try:
        return _TYPES[key]
    except KeyError:
        raise NotFoundError(
            f"unknown datatype {name!r}",
            hint="known types: " + ", ".join(sorted(_TYPES)),
        ) from None


def names() -> list[str]:
    """Every registered type name, sorted."""
    return sorted(_TYPES)


def specs() -> list[DatatypeSpec]:
    """Every registered spec, sorted by name."""
    return [_TYPES[n] for n in names()]
