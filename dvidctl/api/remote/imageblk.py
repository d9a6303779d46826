"""Voxel instances over HTTP: the methods of the local uint8blk / labelmap classes.

Subvolumes travel as raw ZYX bytes (``raw/0_1_2``), streamed into a
preallocated array on GET; geometry goes out as DVID's XYZ strings.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np

from dvidctl.api.remote.base import RemoteInstance, check
from dvidctl.datatypes.imageblk.blockstream import StreamParser
from dvidctl.datatypes.imageblk.blockvolume import block_overlap
from dvidctl.datatypes.imageblk.codec import decode_into
from dvidctl.errors import BadRequestError, RemoteError
from dvidctl.geometry import Box, check_voxel_budget, iter_block_coords

CHUNK = 1 << 20


_POOL = ThreadPoolExecutor(max(2, min(4, os.cpu_count() or 2)), thread_name_prefix="dvidctl-remote")


def _xyz(values: Sequence[int]) -> str:
    return "_".join(str(int(v)) for v in values)


class RemoteVoxels(RemoteInstance):
    """A uint8blk-like instance on a server."""

    dtype: np.dtype[Any] = np.dtype(np.uint8)

    @property
    def block_shape(self) -> tuple[int, int, int]:
        """Block size, ZYX."""
        x, y, z = self._info.get("Extended", {}).get("BlockSize", [32, 32, 32])
        return int(z), int(y), int(x)

    stream_endpoint = "subvolblocks"
    #: Ship stored blocks from dvidctl servers? Not for grayscale: EM compresses ~1.1x
    #: losslessly, so it saves no bytes and only moves the decoding (bench_server.py).
    prefer_stored = False

    def get_subvolume(self, box: Box, scale: int = 0, out: np.ndarray | None = None) -> np.ndarray:
        """Read ``box`` (ZYX) at ``scale`` as a ZYX array.

        Labels from a dvidctl server come as the stored blocks and are decoded
        here, in parallel, while the rest arrives; otherwise ``raw/0_1_2``.
        """
        if self.prefer_stored and self.repo.is_dvidctl:
            return self._get_stored_blocks(box, scale, out)
        path = self.path("raw", "0_1_2", _xyz(box.size_xyz), _xyz(box.offset_xyz))
        params = {"scale": str(scale)} if scale else None
        got = self.repo.get_into(
            path, self.dtype.newbyteorder("<"), tuple(box.shape), params=params
        )
        if out is not None:
            out[...] = got
            return out
        return got

    def _get_stored_blocks(self, box: Box, scale: int, out: np.ndarray | None) -> np.ndarray:
        bs = self.block_shape
        dtype = self.dtype
        if out is None:
            check_voxel_budget(box.nvoxels, dtype.itemsize)
            out = np.empty(box.shape, dtype)
        if box.is_empty:
            return out
        aligned = box.aligned_to(bs)
        path = self.path(self.stream_endpoint, _xyz(aligned.size_xyz), _xyz(aligned.offset_xyz))
        params = {"compression": "stored", "scale": str(scale)}
        seen: set[tuple[int, int, int]] = set()
        jobs: list[Future[None]] = []

        def place(coord: tuple[int, int, int], payload: bytes) -> None:
            dst_sl, src_sl = block_overlap(coord, bs, box)
            dst = out[dst_sl]
            if dst.shape == bs and dst.flags.c_contiguous:
                decode_into(payload, dst)
            else:
                dst[...] = decode_into(payload, np.empty(bs, dtype))[src_sl]

        url = f"{self.repo.url}/api/{path}"
        try:
            with self.repo.client.stream("GET", url, params=params) as r:
                if r.status_code >= 400:
                    r.read()
                    check(r)
                parser = StreamParser()
                for chunk in r.iter_raw():
                    for (bx, by, bz), payload in parser.feed(chunk):
                        seen.add((bz, by, bx))
                        jobs.append(_POOL.submit(place, (bz, by, bx), payload))
                parser.finish()
        except httpx.HTTPError as exc:
            raise RemoteError(f"GET {url} failed: {exc}") from None
        finally:
            for j in jobs:
                j.result()
        bg = dtype.type(int(self._info.get("Extended", {}).get("Background", 0) or 0))
        bstart, bstop = box.block_range(bs)
        for c in iter_block_coords(bstart, bstop).tolist():
            if (c[0], c[1], c[2]) not in seen:
                out[block_overlap((c[0], c[1], c[2]), bs, box)[0]] = bg
        return out

    def put_subvolume(
        self, array: np.ndarray, offset_zyx: Sequence[int] = (0, 0, 0), scale: int = 0
    ) -> Box:
        """Write a ZYX array with its first voxel at ``offset_zyx``."""
        if not isinstance(array, np.ndarray) or array.ndim != 3:
            raise BadRequestError("voxels must be a 3D ZYX numpy array")
        arr = np.ascontiguousarray(array, dtype=self.dtype.newbyteorder("<"))
        box = Box.from_shape(arr.shape, tuple(int(v) for v in offset_zyx))
        path = self.path("raw", "0_1_2", _xyz(box.size_xyz), _xyz(box.offset_xyz))
        params = {"scale": str(scale)} if scale else None
        view = arr.reshape(-1).view(np.uint8).data
        pieces = (bytes(view[i : i + CHUNK]) for i in range(0, len(view), CHUNK))
        self.repo.request(
            "POST", path, content=pieces, params=params, headers={"Content-Length": str(len(view))}
        )
        return box

    def get_slice(
        self, plane: str, offset_xyz: Sequence[int], size_wh: Sequence[int], scale: int = 0
    ) -> np.ndarray:
        """A 2D image (rows, cols) read as a one-voxel-thick subvolume."""
        from dvidctl.datatypes.imageblk import sampling

        box = sampling.slice_box(plane, offset_xyz, size_wh)
        return sampling.squeeze_slice(plane, self.get_subvolume(box, scale))

    @property
    def max_downres(self) -> int:
        """The highest stored scale (``MaxDownresLevel``; 0 for DVID's uint8blk)."""
        return int(self._info.get("Extended", {}).get("MaxDownresLevel", 0) or 0)

    def check_scale(self, scale: int) -> int:
        """Return ``scale`` if the server stores it, else BadRequestError (as local)."""
        if not 0 <= int(scale) <= self.max_downres:
            raise BadRequestError(
                f"scale {scale} is not stored by {self.name!r}: levels are 0..{self.max_downres}"
            )
        return int(scale)

    def get_arb(
        self,
        tl: Sequence[float],
        tr: Sequence[float],
        bl: Sequence[float],
        res: float,
        scale: int = 0,
    ) -> np.ndarray:
        """DVID's ``arb`` plane (pixel centres in real-world XYZ), decoded from the server's PNG."""
        from dvidctl.imageio import decode_image

        pts = ["_".join(f"{float(v):g}" for v in p) for p in (tl, tr, bl)]
        params = {"scale": str(scale)} if scale else None
        r = self.repo.request(
            "GET", self.path("arb", *pts, f"{float(res):g}", "png"), params=params
        )
        img = decode_image(r.content)
        return img.astype(self.dtype, copy=False)

    def extents(self) -> Box | None:
        """The written extent, from the instance info."""
        ext = self.info().get("Extents") or {}
        lo, hi = ext.get("MinPoint"), ext.get("MaxPoint")
        if not lo or not hi:
            return None
        return Box(tuple(lo[::-1]), tuple(v + 1 for v in hi[::-1]))


class RemoteLabelMap(RemoteVoxels):
    """A labelmap instance on a server."""

    dtype: np.dtype[Any] = np.dtype(np.uint64)
    stream_endpoint = "blocks"
    prefer_stored = True  # label blocks compress ~100x: far fewer bytes on the wire

    def labels_at(self, points_xyz: Any, scale: int = 0) -> np.ndarray:
        """Labels at ``(n, 3)`` XYZ points."""
        pts = np.asarray(points_xyz, dtype=np.int64).reshape(-1, 3).tolist()
        params = {"scale": str(scale)} if scale else None
        got = self.repo.request(
            "GET", self.path("labels"), content=json.dumps(pts), params=params
        ).json()
        return np.asarray(got, dtype=np.uint64)

    def label_at(self, point_xyz: Sequence[int], scale: int = 0) -> int:
        """The label at one voxel."""
        params = {"scale": str(scale)} if scale else None
        return int(
            self.repo.request("GET", self.path("label", _xyz(point_xyz)), params=params).json()[
                "Label"
            ]
        )

    def max_label(self) -> int:
        """The largest label along the ancestry."""
        return int(self.repo.request("GET", self.path("maxlabel")).json()["maxlabel"])

    def next_label(self) -> int:
        """The next label to reserve."""
        return int(self.repo.request("GET", self.path("nextlabel")).json()["nextlabel"])

    def reserve_labels(self, count: int) -> tuple[int, int]:
        """Reserve ``count`` labels."""
        got = self.repo.request("POST", self.path("nextlabel", str(count))).json()
        return int(got["start"]), int(got["end"])
