"""Repository-wide properties: alias, description and the repository log."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from dvidctl.store import metadata
from dvidctl.store.dag import now_iso
from dvidctl.store.engine import WriteBatch

if TYPE_CHECKING:
    from dvidctl.api.repository import Repository


def update_repo_record(repo: Repository, **changes: Any) -> None:
    """Persist changes to the repo record (``alias``, ``description``, ``log``)."""
    with repo.store.write_lock:
        rec = dataclasses.replace(repo.state.repo, **changes, updated=now_iso())
        wb = WriteBatch()
        metadata.put_repo(wb, rec)
        repo.engine.write(wb)
        repo.state.repo = rec


def append_repo_log(repo: Repository, lines: list[str]) -> None:
    """Append time-stamped lines to the repository log."""
    stamp = now_iso()
    with repo.store.write_lock:
        update_repo_record(repo, log=[*repo.state.repo.log, *(f"{stamp}  {x}" for x in lines)])
