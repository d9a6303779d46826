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


def ordered_ahead(
    n: int, produce: Callable[[int, int], None], consume: Callable[[int, int], None], slots: int
) -> None:
    """``produce(i, slot)`` on the pool, ahead of ``consume(i, slot)`` on the caller's thread.

    ``consume`` runs for ``i = 0 .. n - 1`` in order; ``produce(i, ...)`` has finished
    before ``consume(i, ...)`` starts, and at most ``slots`` items are produced and not
    yet consumed, so ``slot = i % slots`` names a buffer of the caller's that the two
    hand over (a decoder fills it, the caller reads it). When item ``i`` is not ready
    the caller produces the next one itself rather than wait. The first exception of
    either is raised once no ``produce`` is running.
    """
    helpers = min(_threads - 1, n - 1)
    if helpers < 1 or slots < 2:
        for i in range(n):
            produce(i, i % slots)
            consume(i, i % slots)
        return
    free = threading.Semaphore(slots)  # a permit per slot; taken before an item is
    counter = itertools.count()  # ... so the items taken and not consumed are < slots
    ready = [threading.Event() for _ in range(n)]
    errors: list[BaseException | None] = [None] * n
    stop = threading.Event()

    def take(wait: bool) -> int | None:
        if not free.acquire(blocking=wait):
            return None
        i = next(counter)
        if i >= n or stop.is_set():
            free.release()
            return None
        return i

    def run(i: int) -> None:
        try:
            produce(i, i % slots)
        except BaseException as exc:  # noqa: BLE001 - raised by the caller, in order
            errors[i] = exc
        ready[i].set()

    def helper() -> None:
        while (i := take(True)) is not None:
            run(i)

    futures = [_executor().submit(helper) for _ in range(helpers)]
    try:
        for i in range(n):
            while not ready[i].is_set():
                j = take(False)
                if j is None:  # every slot is taken: item i is on its way
                    ready[i].wait()
                else:
                    run(j)
            if errors[i] is not None:
                raise errors[i]  # type: ignore[misc]
            consume(i, i % slots)
            free.release()
    finally:
        stop.set()
        free.release(helpers)  # wake helpers waiting for a slot: they see stop and return
        for f in futures:
            f.result()


def threads() -> int:
    """How many threads decode and encode blocks (the caller's included)."""
    return _threads


__all__ = ["ordered_ahead", "parallel_map", "set_threads", "threads"]
