"""The small repository the console tests serve: branches, a merge, a tag, grayscale and labels.

Voxels (x, y, z), 64^3 in 32^3 blocks, two scales:

* ``grayscale`` (uint8blk): ``gray = 2x + y`` (so any voxel's value is known);
* ``segmentation`` (labelmap): label 7 in x, y 8..23 (z 8..55), label 2^40 + 5 (a uint64 id
  above 32 bits) in x, y 40..55 (z 8..55), 0 elsewhere; the branch ``proofread`` adds label 9
  in x 40..55, y 8..23 (z 8..55), merged back into master.
* ``notes`` (keyvalue): a JSON value, a text value and 3000 binary bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dvidctl import Repository

N = 64
BIG = 2**40 + 5
LABEL_BOXES = {  # label: (x0, x1, y0, y1), z 8..55 for all
    7: (8, 24, 8, 24),
    BIG: (40, 56, 40, 56),
}
BRANCH_LABEL = (9, (40, 56, 8, 24))
Z0, Z1 = 8, 56


def gray_volume() -> np.ndarray:
    zz, yy, xx = np.mgrid[0:N, 0:N, 0:N]
    return (2 * xx + yy).astype(np.uint8)


def label_volume(with_branch: bool) -> np.ndarray:
    vol = np.zeros((N, N, N), np.uint64)
    boxes = dict(LABEL_BOXES)
    if with_branch:
        boxes[BRANCH_LABEL[0]] = BRANCH_LABEL[1]
    for label, (x0, x1, y0, y1) in boxes.items():
        vol[Z0:Z1, y0:y1, x0:x1] = label
    return vol


@dataclass
class Demo:
    path: Path
    root: str
    imported: str  # the committed node with the data (tag v1)
    merge: str  # the merge node on master
    body9: str  # the committed node on proofread that adds body 9


def build_demo(path: Path) -> Demo:
    with Repository.init(path, alias="console-demo", description="grayscale and labels") as r:
        root = r.head.uuid
        r.new_instance("keyvalue", "notes")
        r.new_instance("uint8blk", "grayscale", {"BlockSize": "32,32,32", "MaxDownresLevel": "1"})
        r.new_instance(
            "labelmap", "segmentation", {"BlockSize": "32,32,32", "MaxDownresLevel": "1"}
        )
        head = r.head
        head.instance("grayscale").put_subvolume(gray_volume())
        head.instance("segmentation").put_subvolume(label_volume(False))
        head.instance("notes").put_many(
            {
                "config.json": json.dumps({"owner": "console", "levels": [0, 1]}).encode(),
                "readme": b"plain text value\nsecond line\n",
                "blob": bytes(range(256)) * 11 + bytes(184),
            }
        )
        imported, _ = r.commit(
            "import grayscale and labels", log=["grayscale 64^3 from gray.tif", "labels 7, 2^40+5"]
        )
        r.tag("v1", imported.uuid)
        r.branch("proofread", note="proofreading")
        r.checkout("proofread")
        x0, x1, y0, y1 = BRANCH_LABEL[1]
        r.head.instance("segmentation").put_subvolume(
            np.full((Z1 - Z0, y1 - y0, x1 - x0), BRANCH_LABEL[0], np.uint64), (Z0, y0, x0)
        )
        r.head.instance("notes").put("review", b"body 9 added")
        leaf, _ = r.commit("add body 9")
        r.checkout("master")
        r.head.instance("notes").put("readme", b"plain text value, edited on master\n")
        r.commit("edit readme")
        result = r.merge(["proofread"], "merge proofread")
        assert result.node is not None
        return Demo(path, root, imported.uuid, result.node.uuid, leaf.uuid)
