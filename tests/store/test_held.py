"""The partial-clone selection (store/held.py): which blocks it holds at each scale."""

from __future__ import annotations

import numpy as np
import pytest

from dvidctl.errors import BadRequestError
from dvidctl.geometry import Box
from dvidctl.store.held import Held, OutsideHeldError, parse_bbox, parse_scales

BS = (16, 16, 16)


def test_a_box_holds_the_blocks_it_meets_at_each_scale() -> None:
    held = Held(box=parse_bbox("0,0,0:40,16,16"), scales=(0, 1))  # x 0..40: blocks 0..2
    coords = np.array([[0, 0, 0], [0, 0, 2], [0, 0, 3], [0, 1, 0], [-1, 0, 0]])
    assert held.keep(0, coords, BS).tolist() == [True, True, False, False, False]
    assert held.keep(1, np.array([[0, 0, 1], [0, 0, 2]]), BS).tolist() == [True, False]
    assert not held.keep(2, np.array([[0, 0, 0]]), BS).any()  # a scale it lacks
    assert held.covers_row(0, BS, 0, 0, 0, 3) and not held.covers_row(0, BS, 0, 0, 0, 4)
    with pytest.raises(OutsideHeldError, match="scale 2 is not held"):
        held.check_rows("seg", 2, BS, [(0, 0, 0, 1)])


def test_an_roi_and_a_box_hold_the_blocks_in_both() -> None:
    spans = ((0, 0, 0, 0), (1, 1, 2, 5))  # ROI blocks of 16: (z, y, x0..x1 inclusive)
    held = Held(box=Box((0, 0, 0), (32, 32, 64)), roi="r", spans=spans, roi_block=BS)
    c = np.array([[0, 0, 0], [0, 0, 1], [1, 1, 2], [1, 1, 3], [1, 1, 4], [1, 1, 1]])
    assert held.keep(0, c, BS).tolist() == [True, False, True, True, False, False]
    assert held.covers_row(0, BS, 1, 1, 2, 4) and not held.covers_row(0, BS, 1, 1, 2, 5)
    with pytest.raises(OutsideHeldError, match="outside the partial clone's bbox"):
        held.check_rows("gray", 0, BS, [(0, 0, 0, 2)])


def test_the_record_round_trips_and_bad_text_is_refused() -> None:
    held = Held(box=parse_bbox("1,2,3:4,5,6"), roi="r", spans=((1, 2, 3, 4),), roi_block=BS,
                scales=parse_scales("1,0,1"), instances=("abc",))  # fmt: skip
    assert Held.decode(held.encode()) == held and held.scales == (0, 1)
    assert held.to_dict()["bbox"] == "1,2,3:4,5,6"
    for bad in ("1,2,3", "1,2:3,4", "0,0,0:0,5,5", "a,b,c:d,e,f"):
        with pytest.raises(BadRequestError):
            parse_bbox(bad)
    with pytest.raises(BadRequestError):
        parse_scales("-1")
