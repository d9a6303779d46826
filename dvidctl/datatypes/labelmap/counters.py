"""labelmap label counters as DVID: the versioned ``MaxLabel`` and repo-wide ``NextLabel``.

* ``MaxLabel`` (key 237, versioned; a merge takes the max): each scale-0 write raises
  it to the largest label written, a reservation to the last label reserved;
* ``NextLabel`` (the instance record, repo-wide): the last label handed out since a
  ``set-nextlabel`` (0: unset; reservations then continue from the repo-wide max),
  with an optional allocation ceiling (DVID's labelmap.go ``newLabels`` and
  ``SetNextLabelStart``);
* a **label lease** (:mod:`.leases`, a clone's range reserved on its remote): while one
  is recorded, reservations draw from it instead of the counters.
"""

from __future__ import annotations

from typing import Any

from dvidctl.datatypes.imageblk.blockkeys import MAXLABEL_TKEY
from dvidctl.datatypes.imageblk.checks import check_label_count
from dvidctl.datatypes.imageblk.config import pack_u64, unpack_u64
from dvidctl.datatypes.imageblk.instance import VoxelInstance
from dvidctl.datatypes.labelmap import leases
from dvidctl.errors import BadRequestError
from dvidctl.store.versioned import VersionedBatch

_LABEL_MAX = 2**64 - 1


class LabelCounters(VoxelInstance):
    """The label counters of a labelmap (mixed into :class:`~.ops.LabelMap`)."""

    def max_label(self) -> int:
        """The largest label written or reserved along this node's ancestry (0 if none)."""
        got = self._get(MAXLABEL_TKEY)
        return 0 if got is None else unpack_u64(got)

    def has_max_label(self) -> bool:
        """Whether any label was written or reserved along this node's ancestry."""
        return self._get(MAXLABEL_TKEY) is not None

    def max_labels_by_version(self) -> dict[int, int]:
        """The max label stored at each version that raised it (DVID's ``MaxLabel`` map)."""
        return {
            vid: unpack_u64(payload)
            for vid, payload in self.node.store.payload_versions(self.iid, MAXLABEL_TKEY)
        }

    def max_repo_label(self) -> int:
        """The largest label written or reserved in any version."""
        return max(self.max_labels_by_version().values(), default=0)

    @property
    def _next_label_issued(self) -> int:
        return int(self.config.get("next_label", 0))

    def next_label(self) -> int:
        """The first label :meth:`reserve_labels` would hand out."""
        lease = self.label_lease()
        if lease is not None and leases.next_of(lease):
            return leases.next_of(lease)
        issued = self._next_label_issued
        return issued + 1 if issued else self.max_repo_label() + 1

    def label_lease(self) -> dict[str, Any] | None:
        """This repository's lease of labels reserved on a remote (:mod:`.leases`), or None."""
        return leases.lease_of(self.config)

    def add_label_lease(self, remote: str, start: int, end: int, size: int) -> dict[str, Any]:
        """Record labels ``start..end``, reserved on ``remote``, as this repository's own."""
        with self.lock:
            lease = leases.added(self.label_lease(), remote, start, end, size)
            self._save_config(**{leases.LEASE_KEY: lease})
        return lease

    def drop_label_lease(self) -> dict[str, Any] | None:
        """Forget the lease (reservations use this repository's counters again); the old one."""
        with self.lock:
            lease = self.label_lease()
            if lease is not None:
                config = {k: v for k, v in self.config.items() if k != leases.LEASE_KEY}
                self._save_record(config=config)
        return lease

    def lease_labels(self, count: int) -> tuple[int, int]:
        """Reserve ``count`` labels for another repository (a clone's lease): ``(first, last)``.

        Repo-wide, as a reservation after ``set-nextlabel``: one past the last label
        issued or the repo-wide max label, whichever is larger, and NextLabel moves to
        the last one, so this repository never hands them out. No version is written:
        the branch heads stay clean (a push to them is not refused).
        """
        check_label_count(count)
        with self.lock:
            base = max(self._next_label_issued, self.max_repo_label())
            lease = self.label_lease()
            if lease is not None:  # a clone leasing on to its own clones: from its lease
                start, end, after = leases.drawn(lease, count, self.name)
                self._save_config(**{leases.LEASE_KEY: after})
                return start, end
            if count >= _LABEL_MAX - base:
                raise BadRequestError(f"allocating {count} labels would overflow the label space")
            start, end = base + 1, base + count
            ceiling = int(self.config.get("next_label_ceiling", 0))
            if ceiling and end > ceiling:
                raise BadRequestError(
                    f"leasing {count} labels would exceed the next label ceiling {ceiling}"
                )
            self._save_config(next_label=end)
        return start, end

    def reserve_labels(self, count: int) -> tuple[int, int]:
        """Reserve ``count`` new labels for the whole repository; returns ``(first, last)``.

        As DVID's ``newLabels``: after ``set-nextlabel`` the range starts one past
        the last label issued (and must stay under the ceiling), else one past the
        repo-wide max label; the version's max label is raised to the last one.
        A mutation: refused on a committed node (LockedNodeError).
        """
        check_label_count(count)
        self.node.store.check_writable(self.vid, check_locked=not self.writable_anywhere)
        with self.lock:
            lease = self.label_lease()
            if lease is not None:
                start, end, after = leases.drawn(lease, count, self.name)
                self._save_config(**{leases.LEASE_KEY: after})
                if end > self.max_label():
                    b = self._batch()
                    b.put(self.iid, MAXLABEL_TKEY, pack_u64(end))
                    b.commit()
                return start, end
            issued = self._next_label_issued
            base = issued if issued else self.max_repo_label()
            if count >= _LABEL_MAX - base:
                raise BadRequestError(f"allocating {count} labels would overflow the label space")
            start, end = base + 1, base + count
            ceiling = int(self.config.get("next_label_ceiling", 0))
            if issued and ceiling and end > ceiling:
                raise BadRequestError(
                    f"allocating {count} new labels would exceed the next label ceiling {ceiling}"
                )
            if issued:
                self._save_config(next_label=end)
            if end > self.max_label():
                b = self._batch()
                b.put(self.iid, MAXLABEL_TKEY, pack_u64(end))
                b.commit()
        return start, end

    def set_next_label(self, label: int, ceiling: int | None = None) -> None:
        """DVID's ``set-nextlabel``: the next reservation starts at ``label + 1``.

        ``ceiling``: None leaves the allocation ceiling, 0 clears it, else sets it.
        """
        if label == 0:
            raise BadRequestError("label 0 is protected background and cannot be the next label")
        if not 0 < label < _LABEL_MAX:
            raise BadRequestError(f"next label must be in 1..2^64-2, got {label}")
        if ceiling is not None and not 0 <= ceiling <= _LABEL_MAX:
            raise BadRequestError(f"ceiling must be a uint64, got {ceiling}")
        with self.lock:
            eff = int(self.config.get("next_label_ceiling", 0)) if ceiling is None else ceiling
            if eff and label > eff:
                raise BadRequestError(f"next label {label} would exceed the ceiling {eff}")
            changes: dict[str, int] = {"next_label": label}
            if ceiling is not None:
                changes["next_label_ceiling"] = ceiling
            self._save_config(**changes)

    def raise_max_label(self, label: int) -> None:
        """Raise the max label at this node to ``label`` (no change unless it is larger)."""
        if not 0 < label <= 2**48:
            raise BadRequestError(f"max label must be in 1..2^48, got {label}")
        with self.lock:
            if label > self.max_label():
                b = self._batch()
                b.put(self.iid, MAXLABEL_TKEY, pack_u64(label))
                b.commit()

    def _after_write(self, batch: VersionedBatch, stat: int | None) -> None:
        if stat is not None and stat > self.max_label():
            batch.put(self.iid, MAXLABEL_TKEY, pack_u64(stat))
