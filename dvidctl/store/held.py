"""What a partial clone holds of its voxel instances: a box, an ROI's blocks, some scales.

``clone --bbox X0,Y0,Z0:X1,Y1,Z1 --roi NAME --scales LIST`` brings only the blocks
of the voxel instances (uint8blk, labelmap) that meet the selection; this record,
kept in the repository metadata (``meta`` key ``held``), says which, so that every
read of such an instance can refuse what is not here instead of answering the
background (:meth:`Held.check_rows`), and so that later fetches keep the selection.

The selection is in scale-0 voxel space (ZYX):

* ``box``: a voxel box; at scale ``s`` the blocks that meet ``box / 2**s``;
* ``spans``: an ROI's block spans ``(z, y, x0, x1)`` (x1 inclusive, as DVID's ROI)
  at the ROI's block size; at scale ``s`` the blocks that meet any span's voxels
  ``/ 2**s``;
* ``scales``: the pyramid levels held (None: all).

Box and ROI together hold the blocks that meet both. A block is held whole (its
stored value is the source's), so reads anywhere inside held blocks are exact.
``instances`` are the data UUIDs the selection limits (instances created here later
are whole).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dvidctl.errors import BadRequestError
from dvidctl.geometry import Box
from dvidctl.store.engine import CF_META, KVEngine, WriteBatch

if TYPE_CHECKING:
    import numpy as np

HELD_KEY = b"held"
Triple = tuple[int, int, int]
Span = tuple[int, int, int, int]


class OutsideHeldError(BadRequestError):
    """A read (or write) of blocks that a partial clone does not hold."""


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _scaled_blocks(
    lo: Sequence[int], hi: Sequence[int], f: int, bs: Triple
) -> tuple[Triple, Triple]:
    """Block range ``[start, stop)`` at block shape ``bs`` of voxels ``[lo, hi) / f``."""
    start = tuple((lo[i] // f) // bs[i] for i in range(3))
    stop = tuple(_ceil_div(_ceil_div(hi[i], f), bs[i]) for i in range(3))
    return start, stop  # type: ignore[return-value]


@dataclass(frozen=True)
class Held:
    """A partial clone's voxel selection (see the module doc)."""

    box: Box | None = None
    roi: str | None = None
    spans: tuple[Span, ...] = ()
    roi_block: Triple | None = None
    scales: tuple[int, ...] | None = None
    instances: tuple[str, ...] = ()
    _rows: dict[tuple[int, Triple], dict[tuple[int, int], np.ndarray]] = field(
        default_factory=dict, compare=False, repr=False
    )

    # ----------------------------------------------------------------- forms
    def to_dict(self) -> dict[str, Any]:
        """The stored (and ``status --json``) form; boxes and coordinates are XYZ."""
        return {
            "bbox": None if self.box is None else _bbox_text(self.box),
            "roi": self.roi,
            "roi_spans": len(self.spans) if self.roi else None,
            "scales": None if self.scales is None else list(self.scales),
            "instances": list(self.instances),
        }

    def encode(self) -> bytes:
        doc = {
            "box": None if self.box is None else [list(self.box.start), list(self.box.stop)],
            "roi": self.roi,
            "spans": [list(s) for s in self.spans],
            "roi_block": None if self.roi_block is None else list(self.roi_block),
            "scales": None if self.scales is None else list(self.scales),
            "instances": list(self.instances),
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes) -> Held:
        doc = json.loads(raw)
        box = doc.get("box")
        rb = doc.get("roi_block")
        scales = doc.get("scales")
        return cls(
            box=None if box is None else Box(tuple(box[0]), tuple(box[1])),
            roi=doc.get("roi"),
            spans=tuple(tuple(int(v) for v in s) for s in doc.get("spans") or ()),  # type: ignore[misc]
            roi_block=None if rb is None else (int(rb[0]), int(rb[1]), int(rb[2])),
            scales=None if scales is None else tuple(int(s) for s in scales),
            instances=tuple(doc.get("instances") or ()),
        )

    def describe(self) -> str:
        """``bbox 0,0,0:64,64,64; roi cells (12 spans); scales 0,1``."""
        parts = []
        if self.box is not None:
            parts.append("bbox " + _bbox_text(self.box))
        if self.roi is not None:
            parts.append(f"roi {self.roi} ({len(self.spans)} spans)")
        if self.scales is not None:
            parts.append("scales " + ",".join(map(str, self.scales)))
        return "; ".join(parts)

    def with_instances(self, data_uuids: Sequence[str]) -> Held:
        """The same selection over ``data_uuids`` as well."""
        merged = tuple(dict.fromkeys([*self.instances, *data_uuids]))
        return Held(self.box, self.roi, self.spans, self.roi_block, self.scales, merged)

    # ----------------------------------------------------------------- blocks
    def holds_scale(self, scale: int) -> bool:
        return self.scales is None or scale in self.scales

    def box_blocks(self, scale: int, bs: Triple) -> tuple[Triple, Triple] | None:
        """The block range the box holds at ``scale`` (None: no box limit)."""
        if self.box is None:
            return None
        return _scaled_blocks(self.box.start, self.box.stop, 2**scale, bs)

    def roi_rows(self, scale: int, bs: Triple) -> dict[tuple[int, int], np.ndarray] | None:
        """Per block row ``(z, y)``, the merged x intervals ``(n, 2)`` the ROI holds."""
        if self.roi_block is None:
            return None
        key = (scale, bs)
        got = self._rows.get(key)
        if got is not None:
            return got
        f, rb = 2**scale, self.roi_block
        acc: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for z, y, x0, x1 in self.spans:
            lo = (z * rb[0], y * rb[1], x0 * rb[2])
            hi = ((z + 1) * rb[0], (y + 1) * rb[1], (x1 + 1) * rb[2])
            (bz0, by0, bx0), (bz1, by1, bx1) = _scaled_blocks(lo, hi, f, bs)
            for bz in range(bz0, bz1):
                for by in range(by0, by1):
                    acc.setdefault((bz, by), []).append((bx0, bx1))
        rows = {k: _merge(v) for k, v in acc.items()}
        self._rows[key] = rows
        return rows

    def keep(self, scale: int, coords: np.ndarray, bs: Triple) -> np.ndarray:
        """Which blocks ``coords`` (``(n, 3)`` ZYX at ``scale``) are held: a bool mask."""
        import numpy as np  # not at import: metadata loads this module for every command

        c = np.asarray(coords, dtype=np.int64).reshape(-1, 3)
        mask = np.full(len(c), self.holds_scale(scale))
        if not mask.any():
            return mask
        rng = self.box_blocks(scale, bs)
        if rng is not None:
            lo, hi = np.asarray(rng[0]), np.asarray(rng[1])
            mask &= np.all((c >= lo) & (c < hi), axis=1)
        rows = self.roi_rows(scale, bs)
        if rows is not None and mask.any():
            idx = np.nonzero(mask)[0]
            zy = c[idx, :2]
            uniq, inv = np.unique(zy, axis=0, return_inverse=True)
            inv = inv.reshape(-1)
            order = np.argsort(inv, kind="stable")
            bounds = np.searchsorted(inv[order], np.arange(len(uniq) + 1))
            for i, (z, y) in enumerate(uniq.tolist()):  # per block row, not per key
                sel = idx[order[bounds[i] : bounds[i + 1]]]
                iv = rows.get((z, y))
                if iv is None:
                    mask[sel] = False
                    continue
                x = c[sel, 2]
                j = np.searchsorted(iv[:, 0], x, side="right") - 1
                ok = (j >= 0) & (x < iv[np.maximum(j, 0), 1])
                mask[sel] = ok
        return mask

    def covers_row(self, scale: int, bs: Triple, z: int, y: int, x0: int, x1: int) -> bool:
        """Whether every block ``(z, y, x0 <= x < x1)`` at ``scale`` is held."""
        if x1 <= x0:
            return True
        if not self.holds_scale(scale):
            return False
        rng = self.box_blocks(scale, bs)
        if rng is not None:
            (bz0, by0, bx0), (bz1, by1, bx1) = rng
            if not (bz0 <= z < bz1 and by0 <= y < by1 and bx0 <= x0 and x1 <= bx1):
                return False
        rows = self.roi_rows(scale, bs)
        if rows is not None:
            import numpy as np

            iv = rows.get((z, y))
            if iv is None:
                return False
            j = int(np.searchsorted(iv[:, 0], x0, side="right")) - 1
            if j < 0 or x1 > int(iv[j, 1]):
                return False
        return True

    def check_rows(
        self, name: str, scale: int, bs: Triple, rows: Sequence[tuple[int, int, int, int]]
    ) -> None:
        """Raise :class:`OutsideHeldError` unless every block of ``rows`` is held."""
        for z, y, x0, x1 in rows:
            if not self.covers_row(scale, bs, z, y, x0, x1):
                raise self.outside(name, scale, bs, (z, y, x0, x1))

    def outside(
        self, name: str, scale: int, bs: Triple, row: Span | None = None
    ) -> OutsideHeldError:
        """The error for a read of ``name`` outside the selection."""
        where = ""
        if row is not None:
            z, y, x0, x1 = row
            lo = (x0 * bs[2], y * bs[1], z * bs[0])
            where = f" (blocks from voxel {','.join(map(str, lo))} at scale {scale})"
        what = (
            f"scale {scale} is not held (scales {','.join(map(str, self.scales or ()))})"
            if not self.holds_scale(scale)
            else f"outside the partial clone's {self.describe()}"
        )
        return OutsideHeldError(
            f"{name}: the read is {what}{where}; this partial clone does not hold it",
            hint="read inside the selection ('dvidctl status' shows it), or clone without "
            "--bbox/--roi/--scales",
        )


def _merge(intervals: list[tuple[int, int]]) -> np.ndarray:
    import numpy as np

    intervals.sort()
    out: list[list[int]] = []
    for a, b in intervals:
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return np.asarray(out, dtype=np.int64).reshape(-1, 2)


def _bbox_text(box: Box) -> str:
    (z0, y0, x0), (z1, y1, x1) = box.start, box.stop
    return f"{x0},{y0},{z0}:{x1},{y1},{z1}"


def parse_bbox(text: str) -> Box:
    """``X0,Y0,Z0:X1,Y1,Z1`` (end exclusive) as a ZYX :class:`Box`."""
    try:
        a, b = text.split(":")
        lo = [int(v) for v in a.split(",")]
        hi = [int(v) for v in b.split(",")]
    except ValueError:
        raise BadRequestError(
            f"--bbox {text!r} is not X0,Y0,Z0:X1,Y1,Z1", hint="e.g. --bbox 0,0,0:256,256,128"
        ) from None
    if len(lo) != 3 or len(hi) != 3 or any(b <= a for a, b in zip(lo, hi, strict=True)):
        raise BadRequestError(
            f"--bbox {text!r}: need 3 numbers each side, each end above its start"
        )
    return Box((lo[2], lo[1], lo[0]), (hi[2], hi[1], hi[0]))


def parse_scales(text: str) -> tuple[int, ...]:
    """``0,1,3`` as sorted unique scales."""
    try:
        got = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise BadRequestError(f"--scales {text!r} is not a list of numbers like 0,1") from None
    if not got or got[0] < 0 or got[-1] > 255:
        raise BadRequestError(f"--scales {text!r}: scales are 0..255")
    return tuple(got)


def load(engine: KVEngine) -> Held | None:
    """The held record of a repository (None: it holds whole instances)."""
    raw = engine.get(CF_META, HELD_KEY)
    return None if raw is None else Held.decode(bytes(raw))


def put(batch: WriteBatch, held: Held | None) -> None:
    """Queue the record (or its removal)."""
    if held is None:
        batch.delete(CF_META, HELD_KEY)
    else:
        batch.put(CF_META, HELD_KEY, held.encode())
