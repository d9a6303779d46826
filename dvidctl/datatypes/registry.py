"""The datatype registry: one :func:`register` call per type.

A :class:`DatatypeSpec` says everything the rest of dvidctl needs to know about
a type: its DVID name and URL, the class that implements its operations, how
to validate its config, how to print its keys, how to merge its keys, and its
HTTP routes. Enabling a built-in type is one line in :data:`BUILTIN` (as DVID's
``datastore.Register``); its package is imported the first time the type is
named, so a command that touches only keyvalue data never loads the voxel code.
The class of its operations is loaded the first time an instance is opened
(:attr:`DatatypeSpec.instance_class`): naming a type, parsing its config or moving
its stored values (sync) does not load the code that reads and writes voxels.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from dvidctl.errors import NotFoundError

if TYPE_CHECKING:
    from dvidctl.datatypes.base import Instance
    from dvidctl.httpkit.routing import Route
    from dvidctl.store.mergeplan import MergeRule
    from dvidctl.store.versioned import VersionedStore

#: Built-in types: name -> the package whose import registers it.
BUILTIN: dict[str, str] = {
    "keyvalue": "dvidctl.datatypes.keyvalue",
    "labelgraph": "dvidctl.datatypes.labelgraph",
    "labelmap": "dvidctl.datatypes.labelmap",
    "roi": "dvidctl.datatypes.roi",
    "uint8blk": "dvidctl.datatypes.uint8blk",
}
#: Older DVID names of built-in types (each spec lists its own aliases too).
BUILTIN_ALIASES: dict[str, str] = {"labelblk": "labelmap", "labelarray": "labelmap"}


class WireEncoding(Protocol):
    """Another form of an instance's stored values on the sync wire (labelmap's ``labelblock``).

    ``encode_many`` gives, per ``(tkey, stored)``, the wire payload or None (send
    the stored value as it is); ``decode_many`` gives, per ``(tkey, wire)``, the
    stored value this side keeps, which the caller checks against the sender's digest;
    ``floor_seconds`` bounds what a conversion costs, cheaply, so that a link faster
    than any saving can pay for is told without converting anything.
    """

    name: str

    def encode_many(self, items: Sequence[tuple[bytes, bytes]]) -> list[bytes | None]: ...

    def decode_many(self, items: Sequence[tuple[bytes, bytes]]) -> list[bytes]: ...

    def floor_seconds(self, tkey: bytes, stored: bytes) -> float | None:
        """Seconds that converting one stored value takes at least (a bound on the work
        every conversion does, not timed), or None when it would go as stored."""
        ...


@dataclass(frozen=True)
class DatatypeSpec:
    """Everything the registry knows about one datatype."""

    name: str
    type_url: str
    version: str
    #: Loads the class that implements the type's operations (see :attr:`instance_class`).
    load_class: Callable[[], type[Instance]]
    #: Validate and normalise a config mapping (DVID keys, case-insensitive).
    parse_config: Callable[[Mapping[str, Any]], dict[str, Any]]
    #: Short description for ``dvidctl types`` and ``/api/help``.
    summary: str = ""
    #: Plain-text help served at ``/api/help/<type>`` and rendered into man pages.
    help: str = ""
    #: Other names that create this type (e.g. DVID's ``labelarray``).
    aliases: tuple[str, ...] = ()
    #: Config defaults per alias (DVID's labelblk has 32^3 blocks, labelmap 64^3).
    alias_defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: Readable form of a type key, for diff and debugging.
    describe_key: Callable[[bytes], str] = field(default=lambda tk: tk.hex())
    #: Resolution of keys two merge sides changed differently (None = conflict).
    merge_rule: MergeRule | None = None
    #: Which type keys hold derived data (rebuilt from the others, never merged or
    #: conflicted on; see ``Instance.rebuild_derived``). None: the type has none.
    derived_key: Callable[[bytes], bool] | None = None
    #: Which type keys are parts of another key's value (a large keyvalue value's
    #: pieces): never listed on their own, e.g. by diff. None: the type has none.
    hidden_key: Callable[[bytes], bool] | None = None
    #: ``dvidctl fsck``'s check of what the type stores beyond each key's own digest
    #: (e.g. that a large keyvalue value's pieces make it): ``check(store, iid)``
    #: yields ``(where, what is wrong)``. None: nothing more to check.
    check_values: Callable[[VersionedStore, int], Iterator[tuple[str, str]]] | None = None
    #: The type's HTTP routes below ``/api/node/{uuid}/{name}/`` (loaded when first served).
    routes: Callable[[], list[Route[Any]]] | None = None
    #: The sync wire encodings an instance offers, by name, from its parsed config.
    wire_encodings: Callable[[Mapping[str, Any]], Mapping[str, WireEncoding]] | None = None
    #: Their names, known without calling (importing) ``wire_encodings``: a transfer
    #: that never converts a value loads no codec.
    wire_encoding_names: tuple[str, ...] = ()

    @cached_property
    def instance_class(self) -> type[Instance]:
        """The class of the type's operations, imported on first use."""
        return self.load_class()


def lazy_class(
    package: str, name: str
) -> tuple[Callable[[], type[Instance]], Callable[[str], Any]]:
    """For a datatype package: a loader of its class ``name`` in ``<package>.ops`` (for
    :attr:`DatatypeSpec.load_class`), and the package's module ``__getattr__`` that
    gives the same class on first use (``from dvidctl.datatypes.x import Class``)."""

    def load() -> type[Instance]:
        return getattr(importlib.import_module(f"{package}.ops"), name)  # type: ignore[no-any-return]

    def attribute(attr: str) -> Any:
        if attr == name:
            return load()
        raise AttributeError(f"module {package!r} has no attribute {attr!r}")

    return load, attribute


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
    key = _ALIASES.get(name, BUILTIN_ALIASES.get(name, name))
    spec = _TYPES.get(key)
    if spec is None and key in BUILTIN:
        importlib.import_module(BUILTIN[key])
        spec = _TYPES.get(key)
    if spec is None:
        raise NotFoundError(
            f"unknown datatype {name!r}",
            hint="known types: " + ", ".join(names()),
        )
    return spec


def load_all() -> None:
    """Import every built-in type."""
    for name in BUILTIN:
        get(name)


def names() -> list[str]:
    """Every registered type name, sorted."""
    load_all()
    return sorted(_TYPES)


def specs() -> list[DatatypeSpec]:
    """Every registered spec, sorted by name."""
    return [_TYPES[n] for n in names()]
