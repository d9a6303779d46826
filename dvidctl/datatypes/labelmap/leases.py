"""Label leases: ranges of labels a clone reserved on its remote, so clones never collide.

Within one repository new labels come from one repo-wide counter. A clone is another
repository: left to its own counter it would hand out the labels its siblings hand
out (a merge then refuses them, :mod:`.collisions`). So ``clone`` (and ``fetch`` /
``pull`` when the lease runs low) reserves a range on the remote, DVID's
``POST nextlabel/{count}`` or dvidctl's sync ``lease``, and records it here; every
local reservation (split, cleave, split-supervoxel, ``nextlabel``) then draws from it.

The lease lives in the instance record under ``local_label_lease`` (``local_`` config
never travels in a sync): ``{"remote": NAME, "size": N, "ranges": [[next, end], ...]}``,
each range the labels still free, oldest first. A reservation takes the first range
with room for all its labels (a reservation is one contiguous run). When no range has
room, the reservation is refused, as git refuses what would diverge silently: the hint
says to fetch from the remote (which renews the lease) or to drop the lease (then the
local counter is used, and a merge with another clone may refuse colliding labels).
"""

from __future__ import annotations

from typing import Any

from dvidctl.errors import BadRequestError

LEASE_KEY = "local_label_lease"
#: Labels a clone reserves at a time, unless told otherwise.
DEFAULT_LEASE = 1 << 20
#: A fetch renews a lease once fewer than this part of its size is left.
RENEW_FRACTION = 4


def lease_of(config: dict[str, Any]) -> dict[str, Any] | None:
    """The instance's lease (a copy), or None."""
    got = config.get(LEASE_KEY)
    if not isinstance(got, dict):
        return None
    return {**got, "ranges": [list(r) for r in got.get("ranges", [])]}


def free(lease: dict[str, Any]) -> int:
    """Labels the lease still holds."""
    return sum(end - nxt + 1 for nxt, end in lease["ranges"])


def needs_renewal(lease: dict[str, Any] | None) -> bool:
    """Whether a fetch from the lease's remote should reserve more."""
    return lease is not None and free(lease) * RENEW_FRACTION < int(lease.get("size", 1))


def added(
    lease: dict[str, Any] | None, remote: str, start: int, end: int, size: int
) -> dict[str, Any]:
    """The lease with the range ``start..end`` reserved on ``remote`` added."""
    if not 0 < start <= end:
        raise BadRequestError(f"bad label lease {start}..{end}")
    ranges = [] if lease is None else [r for r in lease["ranges"] if r[0] <= r[1]]
    return {"remote": remote, "size": size, "ranges": [*ranges, [start, end]]}


def drawn(lease: dict[str, Any], count: int, name: str) -> tuple[int, int, dict[str, Any]]:
    """``(first, last, lease after)`` for ``count`` labels from the lease, or refuse."""
    for i, (nxt, end) in enumerate(lease["ranges"]):
        if end - nxt + 1 >= count:
            ranges = [list(r) for r in lease["ranges"]]
            ranges[i][0] = nxt + count
            ranges = [r for r in ranges if r[0] <= r[1]]
            return nxt, nxt + count - 1, {**lease, "ranges": ranges}
    remote = lease.get("remote", "origin")
    raise BadRequestError(
        f"the label lease of {name!r} from remote {remote!r} has {free(lease)} free label(s) "
        f"in one run at most {max((e - n + 1 for n, e in lease['ranges']), default=0)}, "
        f"{count} asked",
        hint=f"'dvidctl fetch {remote}' reserves more there; without the remote, "
        f"'dvidctl label lease {name} --drop' uses this clone's own counter "
        "(a merge then refuses labels another clone also handed out)",
    )


def next_of(lease: dict[str, Any]) -> int:
    """The first label the lease hands out next (0 when used up)."""
    return int(lease["ranges"][0][0]) if lease["ranges"] else 0


__all__ = [
    "DEFAULT_LEASE",
    "LEASE_KEY",
    "added",
    "drawn",
    "free",
    "lease_of",
    "needs_renewal",
    "next_of",
]
