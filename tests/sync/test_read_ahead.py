"""A large unit reads its next batch ahead on a slot the other streams leave idle, never
holding more batches on the way than the transfer has streams (the resume bound)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from dvidctl import Repository
from dvidctl.sync.clone import clone
from dvidctl.sync.push import push
from dvidctl.sync.results import Stats
from dvidctl.sync.transfer import Options, Transfer
from tests.sync.helpers import assert_same_nodes, remote, server


def _transfer(streams: int) -> Transfer:
    # Only the slots are used here: the endpoints are never called.
    placeholder: Any = object()
    return Transfer(placeholder, placeholder, [], stats=Stats(), options=Options(streams=streams))


def test_slots_never_exceed_the_streams() -> None:
    t = _transfer(2)
    t.enter()  # a unit runs
    assert t.borrow()  # the idle stream's slot reads a batch ahead
    assert not t.borrow()  # both slots are on the way
    started = threading.Event()

    def second_unit() -> None:
        t.enter()  # waits for a slot
        started.set()
        t.leave()

    th = threading.Thread(target=second_unit)
    th.start()
    time.sleep(0.05)
    assert not started.is_set()  # no third batch on the way
    t.leave()  # the first unit ends: the waiting one runs
    assert started.wait(5)
    th.join()
    t.give_back()
    t.enter()
    t.enter()
    assert not t.borrow()  # two units run: nothing to borrow
    assert t.stats.ahead == 1


def test_one_stream_never_reads_ahead() -> None:
    t = _transfer(1)
    t.enter()
    assert not t.borrow()


def test_waiting_units_go_before_reading_ahead() -> None:
    t = _transfer(2)
    t.enter()
    assert t.borrow()
    waiting = threading.Thread(target=t.enter)
    waiting.start()
    time.sleep(0.05)
    t.give_back()  # the slot goes to the waiting unit, not to the next read ahead
    waiting.join(5)
    assert not waiting.is_alive() and not t.borrow()


@pytest.mark.parametrize("streams", [1, 2])
def test_a_large_unit_clones_exactly_with_batches_read_ahead(tmp_path: Path, streams: int) -> None:
    with Repository.init(tmp_path / "src") as src:
        src.new_instance("keyvalue", "kv")
        kv = src.head.instance("kv")
        kv.put_many({f"key{i:05d}": bytes([i % 251]) * (i % 700) for i in range(2000)})
        src.commit("one large unit")
        root = src.root_uuid
        with server(tmp_path / "store") as srv:
            push(src, remote(srv, root))
            res = clone(
                f"{srv.url}/{root}",
                tmp_path / "dst",
                options=Options(batch_values=128, streams=streams),
            )
            stats = res.fetch.stats
            assert stats.keys == 2000 and stats.batches >= 2000 // 128
            assert (stats.ahead > 0) == (streams > 1)
            locked = [n.uuid for n in src.dag.nodes.values() if n.locked]
            with Repository.open(tmp_path / "dst") as dst:
                assert assert_same_nodes(src, dst, locked) == 2000
