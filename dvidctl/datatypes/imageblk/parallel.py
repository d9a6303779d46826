"""A small shared thread pool for block decoding and encoding.

zstd releases the GIL while it works and rocksdict does not, so callers fetch
blocks first and then hand them to :func:`parallel_map`, which runs on the
caller's thread plus the pool; ``threads`` counts the caller's thread too
(default: the CPU count, at most 4).
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from dvidctl.errors import BadRequestError

T = TypeVar("T")
R = TypeVar("R")

_threads = max(1, min(4, os.cpu_count() or 1))
_pool: ThreadPoolExecutor | None = None
_pool_guard = threading.Lock()


def set_threads(n: int) -> None:
    """Set how many threads (the caller's included) decode and encode blocks."""
    global _threads, _pool
    if n < 1:
        raise BadRequestError("thread count must be at least 1")
    with _pool_guard:
        _threads = n
        if _pool is not None:
            _pool.shutdown(wait=False)
            _pool = None


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_guard:
        if _pool is None:
            _pool = ThreadPoolExecutor(max(1, _threads - 1), thread_name_prefix="dvidctl-blocks")
        return _pool


def parallel_map(fn: Callable[[T], R], items: Sequence[T], *, min_items: int = 2) -> list[R]:
    """``[fn(x) for x in items]`` on the caller's thread plus the pool, order kept.

    Work is handed out one item at a time, so uneven items still balance. The
    first exception raised by any ``fn`` call is re-raised after every thread stops.
    """
    n = len(items)
    if _threads <= 1 or n < min_items:
        return [fn(x) for x in items]
    results: list[Any] = [None] * n
    counter = itertools.count()
    failed: list[BaseException] = []

    def work() -> None:
        while not failed:
            i = next(counter)
            if i >= n:
                return
            try:
                results[i] = fn(items[i])
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                failed.append(exc)
                return

    helpers = [_executor().submit(work) for _ in range(min(_threads - 1, n - 1))]
    work()
    for h in helpers:
        h.result()
    if failed:
        raise failed[0]
    return results


def threads() -> int:
    """How many threads decode and encode blocks (the caller's included)."""
    return _threads


__all__ = ["parallel_map", "set_threads", "threads"]
