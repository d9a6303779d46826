"""The roi datatype: spans, versions, mask, point queries, partition, merges, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dvidctl import Repository
from dvidctl.datatypes import registry
from dvidctl.datatypes.roi import keys, merge_rule
from dvidctl.datatypes.roi import spans as sp
from dvidctl.datatypes.roi.ops import ROI
from dvidctl.errors import BadRequestError, LockedNodeError
from dvidctl.geometry import INT32_MAX, INT32_MIN, Box

# The span set of DVID's datatype/roi/roi_test.go, and what DVID answers for it.
DVID_SPANS = [
    [100, 101, 200, 210], [100, 102, 200, 210], [100, 103, 201, 212],
    [101, 101, 201, 213], [101, 102, 202, 215], [101, 103, 202, 216],
    [102, 101, 200, 210], [102, 103, 201, 216], [102, 104, 203, 217],
    [103, 101, 200, 210], [103, 103, 200, 210], [103, 105, 201, 212],
]  # fmt: skip
DVID_POINTS = [
    [6400, 3232, 3167], [6400, 3232, 3200], [6719, 3232, 3200], [6720, 3232, 3200],
    [6720, 4100, 3263], [6720, 3233, 3201], [6720, 3234, 3200],
]  # fmt: skip
DVID_INCLUDED = [False, True, True, True, False, True, True]
# (MinChunk, MaxChunk, TotalBlocks, ActiveBlocks) of each subvolume, batchsize 5.
DVID_OPTIMIZED = [
    ([200, 101, 100], [205, 105, 104], 150, 61),
    ([206, 101, 100], [211, 105, 104], 150, 67),
    ([212, 101, 100], [217, 105, 104], 150, 24),
]
DVID_SIMPLE = [
    ([199, 99, 98], [203, 103, 102], 25), ([204, 99, 98], [208, 103, 102], 40),
    ([209, 99, 98], [213, 103, 102], 30), ([214, 99, 98], [218, 103, 102], 8),
    ([203, 104, 98], [207, 108, 102], 5), ([208, 104, 98], [212, 108, 102], 5),
    ([213, 104, 98], [217, 108, 102], 5), ([199, 101, 103], [203, 105, 107], 11),
    ([204, 101, 103], [208, 105, 107], 15), ([209, 101, 103], [213, 105, 107], 8),
]  # fmt: skip


def new_roi(repo: Repository, name: str = "roi", **config: Any) -> ROI:
    repo.new_instance("roi", name, config)
    inst = repo.head.instance(name)
    assert isinstance(inst, ROI)
    return inst


def roi_at(node: Any, name: str = "roi") -> ROI:
    inst = node.instance(name)
    assert isinstance(inst, ROI)
    return inst


def block_set(spans: Any) -> set[tuple[int, int, int]]:
    """Reference: the ZYX blocks of spans, by plain Python loops."""
    return {(z, y, x) for z, y, x0, x1 in spans for x in range(x0, x1 + 1)}


def random_spans(rng: np.random.Generator, n: int, lo: int = -6, hi: int = 6) -> list[list[int]]:
    out = []
    for _ in range(n):
        z, y, x0 = (int(v) for v in rng.integers(lo, hi, 3))
        out.append([z, y, x0, x0 + int(rng.integers(0, 5))])
    return out


# ---------------------------------------------------------------- DVID's own test
def test_dvid_roundtrip_ptquery_and_info(mem_repo: Repository) -> None:
    roi = new_roi(mem_repo)
    assert roi.put_spans(DVID_SPANS) == len(DVID_SPANS)
    assert roi.get_spans() == DVID_SPANS
    assert roi.contains_points(DVID_POINTS).tolist() == DVID_INCLUDED
    assert roi.info()["Extended"] == {"BlockSize": [32, 32, 32], "MinZ": 100, "MaxZ": 103}
    assert roi.info()["Base"]["TypeName"] == "roi"
    assert roi.info()["Base"]["TypeURL"] == "github.com/janelia-flyem/dvid/datatype/roi"


def test_dvid_mask(mem_repo: Repository) -> None:
    roi = new_roi(mem_repo)
    roi.put_spans(DVID_SPANS)
    assert not roi.mask(Box.from_xyz((10, 40, 70), (100, 100, 100))).any()
    m = roi.mask(Box.from_xyz((6350, 3232, 3200), (100, 100, 100)))
    assert m.shape == (100, 100, 100) and m.dtype == np.uint8
    # First block plane (z block 100): x < 50 is before the ROI, y rows 101-102 are full,
    # row 103 starts at block 201 = voxel 6432 = x index 82.
    assert not m[0, :, :50].any()
    assert m[0, :64, 50:].all()
    assert not m[0, 64:96, :82].any() and m[0, 64:96, 82:].all()
    assert not m[32, 32:, :].any() and m[32, :32, 82:].all() and not m[32, :32, :82].any()


@pytest.mark.parametrize("optimized", [True, False])
def test_dvid_partition(mem_repo: Repository, optimized: bool) -> None:
    roi = new_roi(mem_repo)
    roi.put_spans(DVID_SPANS)
    got = roi.partition(5, optimized=optimized)
    assert list(got) == ["NumTotalBlocks", "NumActiveBlocks", "NumSubvolumes", "ROI", "Subvolumes"]
    assert got["ROI"] == {"MinChunk": [0, 0, 100], "MaxChunk": [217, 105, 103]}
    assert got["NumActiveBlocks"] == 152
    assert json.loads(json.dumps(got)) == got  # plain JSON types
    if optimized:
        assert got["NumTotalBlocks"] == 450
        want = DVID_OPTIMIZED
    else:
        assert got["NumTotalBlocks"] == 1375  # 11 cells of 125, one of them empty
        want = [(a, b, 125, n) for a, b, n in DVID_SIMPLE]
    assert got["NumSubvolumes"] == len(want)
    assert [
        (s["MinChunk"], s["MaxChunk"], s["TotalBlocks"], s["ActiveBlocks"])
        for s in got["Subvolumes"]
    ] == want
    for s in got["Subvolumes"]:
        assert s["MinPoint"] == [c * 32 for c in s["MinChunk"]]
        assert s["MaxPoint"] == [c * 32 + 31 for c in s["MaxChunk"]]


# ------------------------------------------------------------ spans and storage
def test_roundtrip_on_disk_survives_reopen(tmp_path: Path) -> None:
    spans = [
        [-3, -2, -10, -4],
        [-3, 5, 0, 0],
        [0, 0, INT32_MIN, INT32_MIN + 2],
        [7, 1, INT32_MAX - 1, INT32_MAX],
    ]
    with Repository.init(tmp_path) as repo:
        roi = new_roi(repo, BlockSize="16,8,4")
        roi.put_spans(spans)
        assert roi.get_spans() == spans
    with Repository.open(tmp_path) as repo:
        roi2 = repo.head.instance("roi")
        assert isinstance(roi2, ROI)
        assert roi2.get_spans() == spans
        assert roi2.block_size == (16, 8, 4)
        assert roi2.extended() == {"BlockSize": [16, 8, 4], "MinZ": -3, "MaxZ": 7}


def test_keys_encode_decode_and_describe() -> None:
    s = np.array([[-1, 2, -3, 4], [INT32_MIN, INT32_MAX, 0, 0]], dtype=np.int64)
    ks = keys.encode_spans(s)
    assert ks[0] == keys.tkey(-1, 2, -3, 8) and len(ks[0]) == keys.KEY_LEN and ks[0][0] == 90
    assert ks[0][1:5] == (0x7FFFFFFF).to_bytes(4, "big")  # -1 sign-flipped
    assert ks[0][-4:] == (8).to_bytes(4, "big")
    assert keys.decode_keys(ks).tolist() == s.tolist()
    assert keys.describe(ks[0]) == "span z=-1 y=2 x=-3..4"
    assert registry.get("roi").describe_key(b"\x01") == "01"
    assert sorted(ks) == [keys.tkey(INT32_MIN, INT32_MAX, 0, 1), ks[0]]  # key order = z, y, x


def test_spans_are_stored_as_posted(mem_repo: Repository) -> None:
    """DVID's PutSpans keeps one key per posted span; getSpans returns them in key order."""
    roi = new_roi(mem_repo)
    n = roi.put_spans(
        [
            [1, 0, 5, 6],
            [0, 0, 0, 3],
            [1, 0, 0, 2],
            [1, 0, 3, 4],
            [0, 0, 2, 8],
            [0, 0, 0, 1],
            [0, 1, 9, 9],
            [1, 0, 5, 6],  # the same key again
        ]
    )
    assert roi.get_spans() == [
        [0, 0, 0, 1],
        [0, 0, 0, 3],
        [0, 0, 2, 8],
        [0, 1, 9, 9],
        [1, 0, 0, 2],
        [1, 0, 3, 4],
        [1, 0, 5, 6],
    ]
    assert n == 7
    # every other read is the union of the spans
    assert roi.span_array().tolist() == [[0, 0, 0, 8], [0, 1, 9, 9], [1, 0, 0, 6]]
    assert roi.num_blocks() == 9 + 1 + 7
    assert roi.put_spans([]) == 0 and roi.get_spans() == []
    with pytest.raises(BadRequestError, match="more than 2"):
        roi.put_spans([[0, 0, INT32_MIN, INT32_MAX]])


@given(
    st.lists(
        st.tuples(st.integers(-4, 4), st.integers(-4, 4), st.integers(-9, 9), st.integers(0, 6)),
        max_size=30,
    )
)
def test_normalize_is_the_canonical_block_set(raw: list[tuple[int, int, int, int]]) -> None:
    spans = [[z, y, x, x + n] for z, y, x, n in raw]
    norm = sp.normalize(sp.parse_spans(spans)).tolist()
    assert block_set(norm) == block_set(spans)
    assert norm == sorted(norm)
    for a, b in zip(norm, norm[1:], strict=False):
        assert a[:2] != b[:2] or b[2] > a[3] + 1  # no overlap, no touching
    blocks = np.array(sorted(block_set(spans)), dtype=np.int64).reshape(-1, 3)
    assert sp.from_blocks(blocks).tolist() == norm
    assert sp.to_blocks(np.array(norm).reshape(-1, 4)).tolist() == blocks.tolist()


def test_blocks_and_put_blocks(mem_repo: Repository) -> None:
    roi = new_roi(mem_repo)
    coords = np.array([[0, 0, 3], [0, 0, 1], [0, 0, 2], [-1, 5, -7], [0, 0, 2]])
    roi.put_blocks(coords)
    assert roi.get_spans() == [[-1, 5, -7, -7], [0, 0, 1, 3]]
    assert roi.blocks().tolist() == [[-1, 5, -7], [0, 0, 1], [0, 0, 2], [0, 0, 3]]
    assert roi.blocks().dtype == np.int32
    assert ROI.from_blocks(coords).tolist() == roi.get_spans()


# ------------------------------------------------------------------ versions
def test_replace_semantics_across_versions(mem_repo: Repository) -> None:
    roi = new_roi(mem_repo)
    a = [[0, 0, 0, 9], [1, 1, 1, 1], [2, 2, 2, 4]]
    roi.put_spans(a)
    parent, child = mem_repo.commit("A")
    b = [[0, 0, 0, 9], [3, 3, 3, 3]]
    roi_at(child).put_spans(b)
    assert roi_at(child).get_spans() == b
    assert roi_at(parent).get_spans() == a
    # Only what changed was written: 2 spans removed (tombstones) + 1 added.
    assert child.changes_by_instance() == {"roi": 3}
    assert roi_at(child).extended()["MaxZ"] == 3
    assert roi_at(parent).extended()["MaxZ"] == 2
    assert roi_at(child).delete() == 2
    assert roi_at(child).get_spans() == []
    assert roi_at(child).extended()["MinZ"] == INT32_MAX
    assert roi_at(child).extended()["MaxZ"] == INT32_MIN
    assert roi_at(parent).get_spans() == a


def test_locked_node_refuses_writes_but_answers_reads(mem_repo: Repository) -> None:
    roi = new_roi(mem_repo)
    roi.put_spans(DVID_SPANS)
    locked, _ = mem_repo.commit("done")
    old = roi_at(locked)
    with pytest.raises(LockedNodeError):
        old.put_spans([[0, 0, 0, 0]])
    with pytest.raises(LockedNodeError):
        old.put_spans(DVID_SPANS)  # even when nothing would change
    with pytest.raises(LockedNodeError):
        old.delete()
    assert old.get_spans() == DVID_SPANS
    assert old.contains_points(DVID_POINTS).tolist() == DVID_INCLUDED
    assert old.partition(5)["NumActiveBlocks"] == 152


def test_merge_is_three_way_per_span(mem_repo: Repository) -> None:
    roi = new_roi(mem_repo)
    roi.put_spans([[0, 0, 0, 0], [0, 1, 0, 0]])
    mem_repo.commit("base")
    mem_repo.branch("other")
    mem_repo.checkout("other")
    roi_at(mem_repo.head).put_spans([[0, 1, 0, 0], [0, 3, 0, 0]])
    mem_repo.commit("other side")
    mem_repo.checkout("master")
    roi_at(mem_repo.head).put_spans([[0, 0, 0, 0], [0, 2, 0, 0]])
    mem_repo.commit("our side")
    result = mem_repo.merge(["other"], "merge")
    assert result.node is not None
    merged = roi_at(result.node)
    # Each side's removal and addition survive: [0,0] removed by other, [0,1] removed by ours.
    assert merged.get_spans() == [[0, 2, 0, 0], [0, 3, 0, 0]]


def test_merge_rule_keeps_a_disputed_span() -> None:
    tk = keys.tkey(0, 0, 0, 1)
    live = b"\x00"
    assert merge_rule(1, tk, [None, live]) == live
    assert merge_rule(1, tk, [live, None]) == live
    assert merge_rule(1, b"\xb1key\x00", [None, live]) is None  # not a span key
    assert registry.get("roi").merge_rule is merge_rule


# ------------------------------------------------------------- mask and ptquery
def reference_mask(spans: list[list[int]], box: Box, bzyx: tuple[int, int, int]) -> np.ndarray:
    """Per-voxel reference built from a dense block grid filled span by span."""
    zz, yy, xx = (np.arange(box.start[i], box.stop[i]) // bzyx[i] + 64 for i in range(3))
    dense = np.zeros((128, 128, 128), dtype=bool)  # blocks -64..63 on each axis
    for z, y, x in block_set(spans):
        dense[z + 64, y + 64, x + 64] = True
    return dense[np.ix_(zz, yy, xx)].astype(np.uint8)


@pytest.mark.parametrize("seed", range(6))
def test_mask_matches_reference_on_random_spans(mem_repo: Repository, seed: int) -> None:
    rng = np.random.default_rng(seed)
    roi = new_roi(mem_repo, BlockSize="5,3,4")  # XYZ, so ZYX blocks are (4, 3, 5)
    spans = random_spans(rng, 40)
    roi.put_spans(spans)
    for _ in range(8):
        start = [int(v) for v in rng.integers(-30, 10, 3)]
        size = [int(v) for v in rng.integers(0, 25, 3)]
        box = Box.from_shape(size, start)
        got = roi.mask(box)
        assert got.shape == box.shape and got.dtype == np.uint8
        np.testing.assert_array_equal(got, reference_mask(spans, box, (4, 3, 5)))


def test_mask_with_many_z_layers_uses_the_slab_scan(mem_repo: Repository) -> None:
    roi = new_roi(mem_repo, BlockSize="1,1,1")
    spans = [[z, z % 3, -1, 1] for z in range(-50, 50, 2)]
    roi.put_spans(spans)
    box = Box((-60, -1, -2), (60, 4, 3))
    np.testing.assert_array_equal(roi.mask(box), reference_mask(spans, box, (1, 1, 1)))


@pytest.mark.parametrize("seed", range(4))
def test_ptquery_matches_reference(mem_repo: Repository, seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    roi = new_roi(mem_repo, BlockSize="4,8,2")
    spans = random_spans(rng, 60)
    roi.put_spans(spans)
    pts = rng.integers(-40, 40, (500, 3))
    blocks = block_set(spans)
    want = [(z // 2, y // 8, x // 4) in blocks for x, y, z in pts.tolist()]
    assert roi.contains_points(pts).tolist() == want
    assert roi.contains_points(pts.tolist()).tolist() == want
    assert roi.contains_points(pts + 0.5).tolist() == want  # floats are floored
    assert roi.contains_points(np.empty((0, 3))).tolist() == []
    bl = rng.integers(-8, 8, (300, 3))
    assert roi.contains_blocks(bl).tolist() == [tuple(b) in blocks for b in bl.tolist()]


def test_ptquery_after_merge_with_overlapping_spans(mem_repo: Repository) -> None:
    roi = new_roi(mem_repo, BlockSize="1,1,1")
    roi.put_spans([[0, 0, 0, 10]])
    mem_repo.commit("base")
    mem_repo.branch("side")
    mem_repo.checkout("side")
    roi_at(mem_repo.head).put_spans([[0, 0, 0, 15]])
    mem_repo.commit("b")
    mem_repo.checkout("master")
    roi_at(mem_repo.head).put_spans([[0, 0, 5, 12], [0, 0, 20, 20]])
    mem_repo.commit("a")
    merged = mem_repo.merge(["side"], "m").node
    assert merged is not None
    m = roi_at(merged)
    assert len(m._stored()) == 3  # overlapping spans are stored as they are
    assert m.get_spans() == [[0, 0, 0, 15], [0, 0, 5, 12], [0, 0, 20, 20]]
    pts = [[x, 0, 0] for x in range(-1, 22)]
    assert m.contains_points(pts).tolist() == [0 <= x <= 15 or x == 20 for x in range(-1, 22)]


# ------------------------------------------------------------------ partition
def brute_simple_total(blocks: set[tuple[int, int, int]], b: int) -> int:
    """NumTotalBlocks of DVID's simple grid, block by block from the definition."""
    zs = sorted({z for z, _, _ in blocks})
    minz, dz = zs[0], zs[-1] - zs[0] + 1
    beg = minz - (dz % b) // 2
    total = 0
    for k in sorted({(z - beg) // b for z in zs}):
        layer = [(y, x) for z, y, x in blocks if (z - beg) // b == k]
        ys = [y for y, _ in layer]
        yl = (max(ys) - min(ys) + 1) % b
        y0, endy = min(ys) - yl // 2, max(ys) + yl - yl // 2
        while y0 <= endy:
            xs = [x for y, x in layer if y0 <= y < y0 + b]
            if xs:
                xl = (max(xs) - min(xs) + 1) % b
                x0, endx = min(xs) - xl // 2, max(xs) + xl - xl // 2
                while x0 <= endx:
                    total += b**3
                    x0 += b
            y0 += b
    return total


@pytest.mark.parametrize("optimized", [False, True])
@pytest.mark.parametrize("seed", range(5))
def test_partition_counts_vs_brute_force(mem_repo: Repository, seed: int, optimized: bool) -> None:
    rng = np.random.default_rng(seed)
    roi = new_roi(mem_repo, BlockSize="2,3,4")
    spans = random_spans(rng, 50, -15, 15)
    if seed == 0:
        spans += [[40, 0, 0, 3], [41, 2, -30, -29]]  # a z gap larger than the batch
    roi.put_spans(spans)
    blocks = block_set(spans)
    batch = int(rng.integers(1, 6))
    got = roi.partition(batch, optimized=optimized)
    assert got["NumActiveBlocks"] == len(blocks)
    assert got["NumSubvolumes"] == len(got["Subvolumes"])
    owners = dict.fromkeys(blocks, 0)
    for sv in got["Subvolumes"]:
        (x0, y0, z0), (x1, y1, z1) = sv["MinChunk"], sv["MaxChunk"]
        inside = [k for k in blocks if z0 <= k[0] <= z1 and y0 <= k[1] <= y1 and x0 <= k[2] <= x1]
        assert sv["ActiveBlocks"] == len(inside) > 0
        assert sv["MinPoint"] == [x0 * 2, y0 * 3, z0 * 4]
        assert sv["MaxPoint"] == [x1 * 2 + 1, y1 * 3 + 2, z1 * 4 + 3]
        for k in inside:
            owners[k] += 1
    assert set(owners.values()) == {1}  # every block in exactly one subvolume
    zs = [z for z, _, _ in blocks]
    assert got["ROI"]["MinChunk"][2] == min(zs) and got["ROI"]["MaxChunk"][2] == max(zs)
    assert got["ROI"]["MinChunk"][:2] == [
        min(0, min(x for *_, x in blocks)),
        min(0, min(y for _, y, _ in blocks)),
    ]
    if optimized:
        assert got["NumTotalBlocks"] == sum(s["TotalBlocks"] for s in got["Subvolumes"])
    else:
        assert all(s["TotalBlocks"] == batch**3 for s in got["Subvolumes"])
        assert got["NumTotalBlocks"] == brute_simple_total(blocks, batch)


def test_partition_with_x_holes_extends_the_row(mem_repo: Repository) -> None:
    roi = new_roi(mem_repo, BlockSize="1,1,1")
    roi.put_spans([[0, 0, 0, 1], [0, 0, 4, 9], [0, 0, 12, 12]])
    got = roi.partition(4, optimized=True)
    chunks = [
        (s["MinChunk"][0], s["MaxChunk"][0], s["TotalBlocks"], s["ActiveBlocks"])
        for s in got["Subvolumes"]
    ]
    # x extent 13 = 3 * 4 + 1, so the first cell is [0, 4]: hole 2-3 -> new subvolume [0, 1];
    # [4, 7] is full; [8, 11] has hole 10-11 -> [8, 9] joins [4, 7]; [12, 15] has hole 13-15
    # -> [12, 12] joins it too. A row band is y 0..4 (extent 5 = 4 + 1) and a layer z 0..3.
    per_x = 5 * 4
    assert chunks == [(0, 1, 2 * per_x, 2), (4, 12, 7 * per_x, 7)]
    assert got["Subvolumes"][1]["MaxChunk"] == [12, 4, 3]
    assert got["Subvolumes"][1]["MaxPoint"] == [12, 4, 3]  # block size 1: DVID would say [12, 0, 0]


def test_partition_empty_and_bad_batchsize(mem_repo: Repository) -> None:
    roi = new_roi(mem_repo)
    assert roi.partition(8) == {
        "NumTotalBlocks": 0, "NumActiveBlocks": 0, "NumSubvolumes": 0,
        "ROI": {"MinChunk": [0, 0, INT32_MAX], "MaxChunk": [0, 0, INT32_MIN]}, "Subvolumes": [],
    }  # fmt: skip
    for bad in (0, -1, 2.5, True, "8"):
        with pytest.raises(BadRequestError):
            roi.partition(bad)  # type: ignore[arg-type]


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "bad",
    [
        [[0, 0, 5, 4]],  # x1 < x0
        [[0, 0, 0]],  # too short
        [[0, 0, 0, 1, 2]],  # too long
        [[0, 0, 0.0, 1]],  # float
        [[0, 0, 0, 1.5]],
        [[True, 0, 0, 1]],  # bool
        [[0, 0, "1", 2]],  # string
        [[0, 0, 0, 2**31]],  # outside int32
        [[0, 0, -(2**31) - 1, 0]],
        [[0, 0, 0, 10**30]],
        [0, 0, 0, 1],  # not nested
        "[[0,0,0,1]]",  # a string
        {"z": 0},
        [[0, 0, 0, 1], None],
        np.array([[0.0, 0, 0, 1]]),
        np.array([0, 0, 0, 1]),
        np.array([[0, 0, 0, 1]], dtype=bool),
    ],
)
def test_bad_spans_are_refused_and_nothing_is_written(mem_repo: Repository, bad: Any) -> None:
    roi = new_roi(mem_repo)
    roi.put_spans(DVID_SPANS)
    before = dict(mem_repo.head.changes_by_instance())
    with pytest.raises(BadRequestError):
        roi.put_spans(bad)
    assert roi.get_spans() == DVID_SPANS
    assert mem_repo.head.changes_by_instance() == before


def test_bad_points_and_blocks(mem_repo: Repository) -> None:
    roi = new_roi(mem_repo)
    for bad in (
        [[0, 0]],
        [[0, 0, float("nan")]],
        [[0, 0, 2**40]],
        [["a", "b", "c"]],
        np.zeros((2, 3), dtype=bool),
    ):
        with pytest.raises(BadRequestError):
            roi.contains_points(bad)
    for bad in (np.zeros((2, 2), dtype=int), np.zeros((2, 3)), np.array([[0, 0, 2**33]])):
        with pytest.raises(BadRequestError):
            roi.put_blocks(bad)
        with pytest.raises(BadRequestError):
            roi.contains_blocks(bad)


def test_config(mem_repo: Repository) -> None:
    assert new_roi(mem_repo, "a").block_size == (32, 32, 32)
    assert new_roi(mem_repo, "b", BlockSize="15,16,17").info()["Extended"]["BlockSize"] == [
        15,
        16,
        17,
    ]
    assert new_roi(mem_repo, "c", blocksize="8").block_size == (8, 8, 8)
    for cfg in (
        {"BlockSize": "0,1,1"},
        {"BlockSize": "1,2"},
        {"Blocksize": "a,b,c"},
        {"Bogus": "1"},
    ):
        with pytest.raises(BadRequestError):
            mem_repo.new_instance("roi", "bad", cfg)
    assert "roi" in registry.names() and registry.get("roi").version == "0.1"
    assert "ptquery" in registry.get("roi").help
