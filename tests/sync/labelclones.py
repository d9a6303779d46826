"""Shared fixtures of the label-collision and label-lease tests: a small labelmap with two
bodies of two supervoxels each, committed, and split RLEs from masks."""

from __future__ import annotations

from typing import Any

import numpy as np

from dvidctl import Repository
from dvidctl.datatypes.labelmap.sparsevol import Runs
from dvidctl.geometry import Box

BOX = Box((0, 0, 0), (32, 32, 64))


def volume() -> np.ndarray:
    """Supervoxels 1..4 in four 16-wide slabs along x."""
    vol = np.zeros(BOX.shape, np.uint64)
    for i in range(4):
        vol[:, :, 16 * i : 16 * (i + 1)] = i + 1
    return vol


def base(repo: Repository) -> None:
    """Body 1 = supervoxels 1, 2; body 3 = supervoxels 3, 4; committed."""
    repo.new_instance("labelmap", "seg", {"BlockSize": "16,16,16", "MaxDownresLevel": "1"})
    seg: Any = repo.head.instance("seg")
    seg.put_subvolume(volume())
    seg.merge(1, [2])
    seg.merge(3, [4])
    repo.commit("base")


def runs(mask: np.ndarray) -> Runs:
    """The voxels of ``mask`` as one-voxel runs (what a split takes)."""
    pts = np.argwhere(mask)
    return Runs(pts, np.ones(len(pts), np.int64))
