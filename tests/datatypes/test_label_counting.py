"""Run-based label counting (labelmap/counting.py) against numpy, on blocky and random arrays."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dvidctl.datatypes.labelmap.counting import label_counts, member_runs, relabel, unique_labels
from dvidctl.datatypes.labelmap.sparsevol import mask_runs

shapes = st.tuples(st.integers(1, 9), st.integers(1, 9), st.integers(1, 9))


@settings(max_examples=60, deadline=None)
@given(shapes, st.integers(1, 6), st.integers(0, 2**32 - 1), st.booleans())
def test_counts_unique_runs_relabel_match_numpy(shape, n, seed, strided) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    big = rng.integers(0, n, (shape[0] + 2, shape[1] + 2, shape[2] + 2)).astype(np.uint64) * 2**40
    big = big.repeat(2, axis=1)  # equal neighbouring rows, as segmentation has
    vol = big[1:-1, 1 : shape[1] + 1, 1:-1] if strided else np.ascontiguousarray(big[: shape[0]])
    u, c = np.unique(vol, return_counts=True)
    got_u, got_c = label_counts(vol)
    assert got_u.tolist() == u.tolist() and got_c.tolist() == c.tolist()
    assert unique_labels(vol).tolist() == u.tolist()
    assert unique_labels(vol[0]).tolist() == np.unique(vol[0]).tolist()  # 2D (slices)
    labels = np.sort(rng.choice(u, min(len(u), 2), replace=False))
    s, ln = member_runs(np.ascontiguousarray(vol), labels)
    mask = np.zeros(vol.shape, bool)
    for (z, y, x), k in zip(s.tolist(), ln.tolist(), strict=True):
        assert not mask[z, y, x : x + k].any()
        mask[z, y, x : x + k] = True
    assert (mask == np.isin(vol, labels)).all()
    runs = mask_runs(mask, (3, -2, 5))
    np.testing.assert_array_equal(runs.voxels_zyx(), np.argwhere(mask) + (3, -2, 5))
    out = np.ascontiguousarray(vol).copy()
    relabel(out, labels, labels + np.uint64(1))
    want = vol.copy()
    for v in labels.tolist():
        want[vol == v] = v + 1
    assert (out == want).all()
