"""Label leases on clone and fetch: reserve labels on the remote for this repository to hand out.

Two clones of a repository allocating labels from their own counters would hand out
the same labels (a merge refuses them: :mod:`dvidctl.datatypes.labelmap.collisions`).
So ``clone`` reserves a range of each labelmap's labels on the remote (``size``,
default 2^20) and records it as this repository's lease
(:mod:`dvidctl.datatypes.labelmap.leases`); a ``fetch`` (and so ``pull``) from the
lease's remote reserves another range once less than a quarter of the size is free.

* a dvidctl server with the sync API: ``POST /api/sync/{root}/lease`` (repo-wide, no
  version written, so the remote's branch heads stay clean for pushes);
* DVID's endpoints (a DVID server, or dvidctl without the sync API): DVID's
  ``POST .../nextlabel/{count}`` at the remote's newest open node (else its newest node).

A remote that cannot reserve (read-only, no such endpoint, a committed node only,
unreachable) leaves the clone without a lease: it still works, with its own counter, and
the note says so. Each reservation is one request, never retried (a lost answer would
reserve twice: harmless, but wasted labels).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dvidctl.api.syncstate import RepoInfo
from dvidctl.errors import DvidError
from dvidctl.sync.endpoint import Endpoint

if TYPE_CHECKING:
    from dvidctl.api.repository import Repository
    from dvidctl.sync.fallback import Source


def renew(
    repo: Repository,
    remote: str,
    their: RepoInfo,
    *,
    size: int | None,
    ep: Endpoint | None = None,
    source: Source | None = None,
) -> list[dict[str, Any]]:
    """Take or renew the lease of each labelmap both sides hold; one note per reservation tried.

    ``size``: labels to reserve per lease (a clone's choice; 0: none); None keeps each
    lease's own size and only renews existing leases that run low.
    """
    notes: list[dict[str, Any]] = []
    here = [n.uuid for n in their.nodes if n.uuid in repo.dag.by_uuid]
    if size == 0 or not here:
        return notes
    for info in their.instances:
        rec = repo.state.instances.get(info.name)
        if info.typename != "labelmap" or rec is None or rec.typename != "labelmap":
            continue
        # Imported here: a repository without labelmaps syncs without loading them.
        from dvidctl.datatypes.labelmap.leases import lease_of, needs_renewal

        lease = lease_of(rec.config)  # read from the record: no instance opened to say no
        if lease is not None and lease.get("remote") != remote:
            continue  # leased elsewhere: that remote's counter is the one it draws from
        if lease is None and size is None:
            continue
        if lease is not None and not needs_renewal(lease):
            continue
        try:
            lm: Any = repo.node(here[-1]).instance(rec.name)  # the lease is repo-wide
        except DvidError:  # not at the remote's newest node (made on another branch)
            continue
        count = int(size if size is not None else lease["size"])  # type: ignore[index]
        try:
            start, end = _reserve(their, info.name, count, ep, source)
        except DvidError as exc:
            notes.append({"instance": info.name, "error": exc.message})
            continue
        lm.add_label_lease(remote, start, end, count)
        notes.append({"instance": info.name, "start": start, "end": end})
    return notes


def _reserve(
    their: RepoInfo, name: str, count: int, ep: Endpoint | None, source: Source | None
) -> tuple[int, int]:
    if source is not None:  # DVID's endpoints
        open_nodes = [n.uuid for n in their.nodes if not n.locked]
        at = (open_nodes or [n.uuid for n in their.nodes])[-1]
        got = source.remote.node(at).instance(name).reserve_labels(count)  # type: ignore[attr-defined]
        return int(got[0]), int(got[1])
    assert ep is not None
    return ep.lease_labels(name, count)


def describe(notes: list[dict[str, Any]]) -> list[str]:
    """One line per note, for the CLI."""
    out = []
    for n in notes:
        if "error" in n:
            out.append(f"no label lease for {n['instance']}: {n['error']} (own counter used)")
        else:
            out.append(f"label lease for {n['instance']}: {n['start']}..{n['end']}")
    return out


__all__ = ["describe", "renew"]
