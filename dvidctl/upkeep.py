"""Telling the user about long upkeep a command does after its work (a foundation hook).

A read-write engine may compact what a command wrote as it closes
(:func:`dvidctl.store.space.reclaim`): after a clone of nodes that rewrote much of
their volume, or a volume overwritten in place, that is a rewrite of the range, as
long as the transfer was, or minutes for a large repository. It comes after the
command's own progress bar has gone, so the store announces it through
:func:`notice`. The console script points the hook at a spinner on stderr
(terminals only, not with ``--json``); elsewhere (the Python API, the server) it does
nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

Hook = Callable[[str], AbstractContextManager[object]]

_hook: Hook | None = None


def set_hook(hook: Hook | None) -> None:
    """Announce upkeep through ``hook(text)``, a context held while it runs (None: quiet)."""
    global _hook
    _hook = hook


def notice(text: str) -> AbstractContextManager[object]:
    """A context to hold while the upkeep ``text`` describes runs."""
    return nullcontext() if _hook is None else _hook(text)
