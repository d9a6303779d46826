"""A partial clone's voxel selection, as the repository records it (:mod:`dvidctl.store.held`).

Sync sets it when a clone by ``--bbox``/``--roi``/``--scales`` starts, and widens it
to the remote's new voxel instances on each fetch; every read of a limited instance
checks it (``Instance.held_region``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dvidctl.store import held as held_store
from dvidctl.store.engine import WriteBatch
from dvidctl.store.held import Held

if TYPE_CHECKING:
    from dvidctl.api.repository import Repository


def set_held(repo: Repository, held: Held | None) -> None:
    """Record what a partial clone holds of its voxel instances (None: all of them).

    A node completed from then on keeps, for each instance the selection limits,
    the sender's digest (``receive.complete_node``): it holds part of the sender's
    node, and says which node.
    """
    with repo.store.write_lock:
        if held == repo.state.held:
            return
        wb = WriteBatch(sync=True)
        held_store.put(wb, held)
        repo.engine.write(wb)
        repo.state.held = held


def held_of(repo: Repository) -> Held | None:
    """The recorded selection (None: a whole copy)."""
    return repo.state.held
