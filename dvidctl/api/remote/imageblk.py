"""Voxel instances over HTTP: :class:`VoxelsAPI` and :class:`LabelMapAPI` on any DVID server.

Subvolumes travel as raw ZYX bytes (``raw/0_1_2``), streamed into a
preallocated array on GET; geometry goes out as DVID's XYZ strings. Arguments
are checked with :mod:`dvidctl.datatypes.imageblk.checks` before a request is
sent, as the local instances check them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np

from dvidctl.api.remote.base import RemoteInstance, check
from dvidctl.datatypes.imageblk.blockstream import StreamParser, block_stream_bytes
from dvidctl.datatypes.imageblk.blockvolume import block_overlap
from dvidctl.datatypes.imageblk.checks import (
    check_label_count,
    check_range,
    check_scale,
    check_voxel_array,
)
from dvidctl.datatypes.imageblk.codec import decode_into
from dvidctl.datatypes.imageblk.wire import gzip_label_block
from dvidctl.datatypes.labelmap.counting import merge_runs
from dvidctl.datatypes.labelmap.mutlog import ModInfo
from dvidctl.datatypes.labelmap.sparsevol import Runs, decode_rles, encode_rles
from dvidctl.errors import BadRequestError, RemoteError
from dvidctl.geometry import Box, check_voxel_budget, iter_block_coords, parse_points

CHUNK = 1 << 20


_POOL = ThreadPoolExecutor(max(2, min(4, os.cpu_count() or 2)), thread_name_prefix="dvidctl-remote")


def _xyz(values: Sequence[int]) -> str:
    return "_".join(str(int(v)) for v in values)


class RemoteVoxels(RemoteInstance):
    """A uint8blk-like instance on a server."""

    datatype = "uint8blk"
    dtype: np.dtype[Any] = np.dtype(np.uint8)

    @property
    def block_shape(self) -> tuple[int, int, int]:
        """Block size, ZYX."""
        x, y, z = self._ext.get("BlockSize", [32, 32, 32])
        return int(z), int(y), int(x)

    @property
    def voxel_size(self) -> tuple[float, float, float]:
        """Voxel size at scale 0, XYZ."""
        x, y, z = self._ext.get("VoxelSize") or [8.0, 8.0, 8.0]
        return float(x), float(y), float(z)

    @property
    def background(self) -> int:
        """The value of voxels never written."""
        return int(self._ext.get("Background", 0) or 0)

    stream_endpoint = "subvolblocks"
    #: Ship stored blocks from dvidctl servers? Not for grayscale: EM compresses ~1.1x
    #: losslessly, so it saves no bytes and only moves the decoding (bench_server.py).
    prefer_stored = False

    def get_subvolume(self, box: Box, scale: int = 0, out: np.ndarray | None = None) -> np.ndarray:
        """Read ``box`` (ZYX) at ``scale`` as a ZYX array.

        Labels from a dvidctl server come as the stored blocks and are decoded
        here, in parallel, while the rest arrives; otherwise ``raw/0_1_2``.
        """
        self.check_scale(scale)
        check_range(box)
        if out is None:
            check_voxel_budget(box.nvoxels, self.dtype.itemsize)
        if box.is_empty:
            return np.empty(box.shape, self.dtype) if out is None else out
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
        bg = dtype.type(self.background)
        bstart, bstop = box.block_range(bs)
        for c in iter_block_coords(bstart, bstop).tolist():
            if (c[0], c[1], c[2]) not in seen:
                out[block_overlap((c[0], c[1], c[2]), bs, box)[0]] = bg
        return out

    def put_subvolume(
        self, array: np.ndarray, offset_zyx: Sequence[int] = (0, 0, 0), scale: int = 0
    ) -> Box:
        """Write a ZYX array with its first voxel at ``offset_zyx``."""
        self.check_scale(scale)
        checked = check_voxel_array(array, self.dtype, f"{self.typename} {self.name!r}")
        arr = np.ascontiguousarray(checked, dtype=self.dtype.newbyteorder("<"))
        box = Box.from_shape(arr.shape, tuple(int(v) for v in offset_zyx))
        check_range(box)
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
        return int(self._ext.get("MaxDownresLevel", 0) or 0)

    def check_scale(self, scale: int) -> int:
        """Return ``scale`` if the server stores it, else BadRequestError (as local)."""
        return check_scale(scale, self.max_downres, self.name)

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

        self.check_scale(scale)
        pts = ["_".join(f"{float(v):g}" for v in p) for p in (tl, tr, bl)]
        params = {"scale": str(scale)} if scale else None
        r = self.repo.request(
            "GET", self.path("arb", *pts, f"{float(res):g}", "png"), params=params
        )
        img = decode_image(r.content)
        return img.astype(self.dtype, copy=False)

    def put_blocks(
        self, blocks: Sequence[tuple[tuple[int, int, int], np.ndarray]], scale: int = 0
    ) -> int:
        """Write whole blocks ``[(block coord ZYX, ZYX block), ...]``; returns the body bytes.

        Runs of blocks adjacent along x go as one DVID ``POST blocks/{x_y_z}/{spanX}``
        (uncompressed, each block's voxels in turn); ``scale`` is dvidctl's extension.
        """
        self.check_scale(scale)
        bz, by, bx = self.block_shape
        sent = 0
        params = {"scale": str(scale)} if scale else None
        order = sorted(range(len(blocks)), key=lambda i: blocks[i][0])
        i = 0
        while i < len(order):
            j = i + 1
            z, y, x = blocks[order[i]][0]
            while j < len(order) and blocks[order[j]][0] == (z, y, x + (j - i)):
                j += 1
            run = [blocks[order[k]][1] for k in range(i, j)]
            body = b"".join(
                np.ascontiguousarray(b, dtype=self.dtype.newbyteorder("<")).tobytes() for b in run
            )
            path = self.path("blocks", _xyz((x, y, z)), str(j - i))
            self.repo.request("POST", path, content=body, params=params)
            sent += len(body)
            i = j
        return sent

    def set_extents(self, box: Box) -> None:
        """DVID's ``POST extents`` (MinPoint/MaxPoint inclusive, XYZ)."""
        lo = list(box.offset_xyz)
        hi = [a + b - 1 for a, b in zip(lo, box.size_xyz, strict=True)]
        self.repo.request("POST", self.path("extents"), json={"MinPoint": lo, "MaxPoint": hi})

    def extents(self) -> Box | None:
        """The written extent, from the instance info (dvidctl's ``Extents``, else DVID's
        ``Extended`` ``MinPoint``/``MaxPoint``)."""
        info = self.info()
        ext = info.get("Extents") or info.get("Extended") or {}
        lo, hi = ext.get("MinPoint"), ext.get("MaxPoint")
        if not lo or not hi:
            return None
        return Box(tuple(lo[::-1]), tuple(v + 1 for v in hi[::-1]))


class RemoteLabelMap(RemoteVoxels):
    """A labelmap instance on a server."""

    datatype = "labelmap"
    dtype: np.dtype[Any] = np.dtype(np.uint64)
    stream_endpoint = "blocks"
    prefer_stored = True  # label blocks compress ~100x: far fewer bytes on the wire

    def labels_at(
        self, points_xyz: Sequence[Sequence[int]] | np.ndarray, scale: int = 0
    ) -> np.ndarray:
        """Labels at ``(n, 3)`` XYZ points (one ``labels`` request)."""
        self.check_scale(scale)
        pts = parse_points(points_xyz)
        if len(pts) == 0:
            return np.zeros(0, np.uint64)
        params = {"scale": str(scale)} if scale else None
        got = self.repo.request(
            "GET", self.path("labels"), content=json.dumps(pts.tolist()), params=params
        ).json()
        return np.asarray(got, dtype=np.uint64)

    def label_at(self, point_xyz: Sequence[int], scale: int = 0) -> int:
        """The label at one voxel."""
        self.check_scale(scale)
        (pt,) = parse_points([point_xyz]).tolist()
        params = {"scale": str(scale)} if scale else None
        got = self.repo.request("GET", self.path("label", _xyz(pt)), params=params).json()
        return int(got["Label"])

    def max_label(self) -> int:
        """The largest label along the ancestry."""
        try:
            got = self.repo.request("GET", self.path("maxlabel")).json()
        except BadRequestError as exc:
            if "No maximum label found" in exc.message:  # DVID's answer before any label
                return 0
            raise
        return int(got["maxlabel"])

    def next_label(self) -> int:
        """The next label to reserve."""
        return int(self.repo.request("GET", self.path("nextlabel")).json()["nextlabel"])

    def put_blocks(
        self, blocks: Sequence[tuple[tuple[int, int, int], np.ndarray]], scale: int = 0
    ) -> int:
        """Write whole blocks as DVID's ``POST blocks`` (gzip'd label Blocks); body bytes."""
        self.check_scale(scale)
        if not blocks:
            return 0
        body = block_stream_bytes(
            ((x, y, z), gzip_label_block(np.asarray(b, np.uint64))) for (z, y, x), b in blocks
        )
        params = {"scale": str(scale)} if scale else None
        self.repo.request("POST", self.path("blocks"), content=body, params=params)
        return len(body)

    def raise_max_label(self, label: int) -> None:
        """DVID's ``POST maxlabel/{label}``."""
        self.repo.request("POST", self.path("maxlabel", str(int(label))))

    def reserve_labels(self, count: int) -> tuple[int, int]:
        """Reserve ``count`` labels; returns ``(first, last)`` inclusive."""
        n = check_label_count(count)
        got = self.repo.request("POST", self.path("nextlabel", str(n))).json()
        return int(got["start"]), int(got["end"])

    # ------------------------------------------------------------ proofreading
    @staticmethod
    def _sv(supervoxels: bool) -> dict[str, str] | None:
        return {"supervoxels": "true"} if supervoxels else None

    def size(self, label: int, *, supervoxels: bool = False) -> int:
        """``GET size/{label}``."""
        got = self.repo.request(
            "GET", self.path("size", str(int(label))), params=self._sv(supervoxels)
        )
        return int(got.json()["voxels"])

    def sizes(self, labels: Sequence[int], *, supervoxels: bool = False) -> list[int]:
        """``GET sizes`` with a JSON body."""
        body = json.dumps([int(v) for v in labels])
        got = self.repo.request(
            "GET", self.path("sizes"), content=body, params=self._sv(supervoxels)
        )
        return [int(v) for v in got.json()]

    def supervoxels(self, label: int) -> np.ndarray:
        """``GET supervoxels/{label}``."""
        got = self.repo.request("GET", self.path("supervoxels", str(int(label)))).json()
        return np.asarray(sorted(got), np.uint64)

    def mapping(self, svs: Sequence[int] | np.ndarray, *, lookup: bool = True) -> np.ndarray:
        """``GET mapping`` with a JSON body."""
        body = json.dumps([int(v) for v in np.asarray(svs, np.uint64).reshape(-1).tolist()])
        params = None if lookup else {"nolookup": "true"}
        got = self.repo.request("GET", self.path("mapping"), content=body, params=params).json()
        return np.asarray(got, np.uint64)

    def sparsevol(
        self, label: int, *, scale: int = 0, supervoxels: bool = False, bounds: Box | None = None
    ) -> Runs:
        """``GET sparsevol/{label}`` (legacy RLE), as sorted joined runs."""
        params: dict[str, str] = dict(self._sv(supervoxels) or {})
        if scale:
            params["scale"] = str(scale)
        if bounds is not None:
            for i, axis in enumerate("zyx"):
                params[f"min{axis}"] = str(bounds.start[i])
                params[f"max{axis}"] = str(bounds.stop[i] - 1)
        got = self.repo.request("GET", self.path("sparsevol", str(int(label))), params=params)
        runs = decode_rles(got.content)
        return Runs(*merge_runs(runs.starts, runs.lengths))

    @staticmethod
    def _mod(info: ModInfo | None) -> dict[str, str] | None:
        return {"u": info.user, "app": info.app} if info is not None else None

    def merge(self, target: int, others: Sequence[int], info: ModInfo | None = None) -> int:
        """``POST merge``."""
        body = json.dumps([int(target), *(int(v) for v in others)])
        got = self.repo.request("POST", self.path("merge"), content=body, params=self._mod(info))
        return int(got.json()["MutationID"])

    def cleave(
        self, label: int, svs: Sequence[int], info: ModInfo | None = None
    ) -> tuple[int, int]:
        """``POST cleave/{label}``."""
        body = json.dumps([int(v) for v in svs])
        got = self.repo.request(
            "POST", self.path("cleave", str(int(label))), content=body, params=self._mod(info)
        ).json()
        return int(got["CleavedLabel"]), int(got["MutationID"])

    def split(self, label: int, runs: Runs, info: ModInfo | None = None) -> tuple[int, int]:
        """``POST split/{label}`` with a legacy RLE body."""
        got = self.repo.request(
            "POST",
            self.path("split", str(int(label))),
            content=encode_rles(runs),
            params=self._mod(info),
        ).json()
        return int(got["label"]), int(got["MutationID"])


if TYPE_CHECKING:  # mypy checks that the classes satisfy the shared voxel interfaces
    from dvidctl.datatypes.imageblk.protocol import VoxelsAPI
    from dvidctl.datatypes.labelmap.protocol import LabelMapAPI

    _voxels: type[VoxelsAPI] = RemoteVoxels
    _labels: type[LabelMapAPI] = RemoteLabelMap
