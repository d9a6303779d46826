"""``ordered_ahead``: produce on the pool ahead of an in-order consumer, through a ring.

Each case runs real threads: produced items are written into a shared ring of
slots and read back by the consumer, so an item overwritten before it was
consumed, consumed out of order, or produced more than ``slots`` ahead fails.
Errors on either side are raised with no producer left running, and the pool
works afterwards.
"""

from __future__ import annotations

import random
import threading
import time

import pytest

from dvidctl.datatypes.imageblk import parallel
from dvidctl.datatypes.imageblk.parallel import ordered_ahead, parallel_map


class _Ring:
    def __init__(self, slots: int, seed: int) -> None:
        self.slots = [-1] * slots
        self.lock = threading.Lock()
        self.active = 0  # producers running now
        self.ahead = 0  # produced, not consumed
        self.most_ahead = 0
        self.consumed: list[int] = []
        self.rng = random.Random(seed)

    def produce(self, i: int, slot: int) -> None:
        with self.lock:
            self.active += 1
            delay = self.rng.random() * 2e-4
        time.sleep(delay)
        assert self.slots[slot] == -1, f"slot {slot} overwritten before it was consumed"
        self.slots[slot] = i
        with self.lock:
            self.active -= 1
            self.ahead += 1
            self.most_ahead = max(self.most_ahead, self.ahead)

    def consume(self, i: int, slot: int) -> None:
        assert self.slots[slot] == i
        self.slots[slot] = -1
        with self.lock:
            self.ahead -= 1
            delay = self.rng.random() * 2e-4
        self.consumed.append(i)
        time.sleep(delay)


@pytest.fixture(params=[1, 2, 3], ids=lambda n: f"threads{n}")
def threads(request):  # type: ignore[no-untyped-def]
    before = parallel.threads()
    parallel.set_threads(request.param)
    yield request.param
    parallel.set_threads(before)


@pytest.mark.parametrize("n", [0, 1, 2, 57])
@pytest.mark.parametrize("slots", [1, 2, 5])
def test_in_order_and_never_more_than_slots_ahead(threads: int, n: int, slots: int) -> None:
    ring = _Ring(slots, seed=n * 10 + slots)
    ordered_ahead(n, ring.produce, ring.consume, slots)
    assert ring.consumed == list(range(n))
    assert ring.most_ahead <= slots
    assert ring.active == 0 and ring.ahead == 0


def test_a_producer_error_is_raised_in_order_with_no_producer_left(threads: int) -> None:
    ring = _Ring(4, seed=1)

    def produce(i: int, slot: int) -> None:
        if i == 17:
            raise ValueError("frame 17 is corrupt")
        ring.produce(i, slot)

    with pytest.raises(ValueError, match="frame 17"):
        ordered_ahead(40, produce, ring.consume, 4)
    assert ring.consumed == list(range(17))
    assert ring.active == 0
    assert parallel_map(lambda v: v + 1, list(range(20))) == list(range(1, 21))


def test_a_consumer_error_stops_the_producers(threads: int) -> None:
    ring = _Ring(3, seed=2)

    def consume(i: int, slot: int) -> None:
        ring.consume(i, slot)
        if i == 5:
            raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        ordered_ahead(100, ring.produce, consume, 3)
    assert ring.consumed == list(range(6))
    assert ring.active == 0
    ring2 = _Ring(3, seed=3)
    ordered_ahead(30, ring2.produce, ring2.consume, 3)  # the pool is free again
    assert ring2.consumed == list(range(30))


def test_concurrent_callers_share_the_pool() -> None:
    """Two callers on their own threads (two server requests) each get their items."""
    results: dict[int, list[int]] = {}
    errors: list[BaseException] = []

    def call(k: int) -> None:
        try:
            ring = _Ring(4, seed=k)
            ordered_ahead(60, ring.produce, ring.consume, 4)
            results[k] = ring.consumed
        except BaseException as exc:  # noqa: BLE001 - checked below
            errors.append(exc)

    workers = [threading.Thread(target=call, args=(k,)) for k in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert not errors
    assert results == {k: list(range(60)) for k in range(3)}
