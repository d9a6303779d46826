"""Pause Python's cyclic garbage collector while a bulk step allocates millions of objects.

A write that touches 10^6 label indexes makes millions of small tuples, bytes and
dict entries that all live until the write ends. CPython's collector runs a full
collection each time the surviving objects grow by a quarter, and each one walks
every live container: over one such write that is seconds of work that frees
nothing. :func:`paused` turns the collector off for the duration of a step (the
reference counts still free everything that is not a cycle) and back on after.

Pauses nest and may overlap across threads: the collector is turned off by the
first entry and on again by the last exit, and only if it was on at the first.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def paused(active: bool = True) -> Iterator[None]:
    """Keep the cyclic collector off inside the block (``active=False``: a no-op)."""
    global _depth, _was_enabled
    if not active:
        yield
        return
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
