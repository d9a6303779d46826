"""2x downsampling of whole ZYX volumes (labelmap downres, DVID_API.md 6.7; grayscale pyramids).

Each output voxel ``[z, y, x]`` summarizes the 2x2x2 children
``vol[2z:2z+2, 2y:2y+2, 2x:2x+2]``.

Odd dimensions: the output has ``ceil(n / 2)`` voxels along that axis, and the last
output voxel only has the children that exist. For labels this is the same as
padding with 0, because 0 is ignored by the mode. For grayscale the missing
children are left out of the mean (padding with 0 would darken the border).

The work is vectorized: the volume is regrouped into an (8, n) children array and
reduced with a fixed number of whole-array numpy operations. Large volumes are
processed in z slabs to bound temporary memory.
"""

from __future__ import annotations

import numpy as np

_SLAB_VOXELS = 1 << 18
"""Target number of output voxels per slab (temporaries are ~100 bytes per output voxel)."""


def _check_volume(vol: np.ndarray, what: str) -> np.ndarray:
    vol = np.asarray(vol)
    if vol.ndim != 3:
        raise ValueError(f"{what} volume must be 3-D (ZYX), got shape {vol.shape}")
    if not np.issubdtype(vol.dtype, np.integer):
        raise ValueError(f"{what} volume must have an integer dtype, got {vol.dtype}")
    return vol


def _pad_even(vol: np.ndarray) -> np.ndarray:
    """Pad each odd dimension with one trailing plane of 0."""
    pad = [(0, n % 2) for n in vol.shape]
    if not any(after for _, after in pad):
        return vol
    return np.pad(vol, pad, mode="constant", constant_values=0)


def _children(vol: np.ndarray) -> np.ndarray:
    """Regroup an even-shaped (Z, Y, X) volume into an (8, Z/2 * Y/2 * X/2) array.

    Row ``(dz * 2 + dy) * 2 + dx`` holds child ``vol[2z+dz, 2y+dy, 2x+dx]``.
    """
    z, y, x = vol.shape
    six = vol.reshape(z // 2, 2, y // 2, 2, x // 2, 2).transpose(1, 3, 5, 0, 2, 4)
    return six.reshape(8, -1)


def _slabs(out_z: int, out_plane: int) -> list[tuple[int, int]]:
    """Split ``range(out_z)`` into slabs of about ``_SLAB_VOXELS`` output voxels."""
    step = max(1, _SLAB_VOXELS // max(1, out_plane))
    return [(z0, min(out_z, z0 + step)) for z0 in range(0, out_z, step)]


def _mode_ignoring_zero(children: np.ndarray) -> np.ndarray:
    """Per column of an (8, n) array: the most frequent nonzero value, ties to the smaller.

    A column of all zeros gives 0.
    """
    count = np.zeros(children.shape, np.uint8)
    for i in range(8):
        for j in range(i + 1, 8):
            same = children[i] == children[j]
            count[i] += same
            count[j] += same
    count += 1
    count[children == 0] = 0
    best = count.max(axis=0)
    sentinel = np.iinfo(children.dtype).max
    # An all-zero column has best == 0, so every child qualifies and the min is 0.
    return np.where(count == best, children, sentinel).min(axis=0)


def downsample_labels(vol: np.ndarray) -> np.ndarray:
    """Downsample a label volume 2x by DVID's rule.

    Each output voxel is the mode of its (up to) 8 children ignoring label 0; ties go
    to the smaller label; the result is 0 only if every child is 0. (DVID's Go code
    breaks ties by map iteration order, which is random; this fixes the documented
    smaller-label rule.)

    Args:
        vol: (Z, Y, X) integer labels, normally uint64. Odd dims are padded with 0.

    Returns:
        (ceil(Z/2), ceil(Y/2), ceil(X/2)) array of the same dtype.
    """
    vol = _pad_even(_check_volume(vol, "label"))
    z, y, x = vol.shape
    out = np.empty((z // 2, y // 2, x // 2), vol.dtype)
    for z0, z1 in _slabs(z // 2, out.shape[1] * out.shape[2]):
        slab = vol[2 * z0 : 2 * z1]
        out[z0:z1] = _mode_ignoring_zero(_children(slab)).reshape(z1 - z0, y // 2, x // 2)
    return out


def _axis_counts(n: int) -> np.ndarray:
    """Children per output voxel along one axis of length ``n``: 2, ..., 2, then 1 if odd."""
    counts = np.full((n + 1) // 2, 2, np.int64)
    if n % 2:
        counts[-1] = 1
    return counts


def _pair_sums(vol: np.ndarray, acc_dtype: type) -> np.ndarray:
    """Sum of the 8 children of each output voxel (even-shaped input), one axis at a time."""
    total: np.ndarray = vol[0::2].astype(acc_dtype)
    total += vol[1::2]
    total = total[:, 0::2] + total[:, 1::2]
    return total[:, :, 0::2] + total[:, :, 1::2]


def downsample_gray(vol: np.ndarray) -> np.ndarray:
    """Downsample a grayscale volume 2x by the mean of the children.

    The mean is rounded to nearest with halves rounded **up**:
    ``(sum + count // 2) // count``, e.g. children summing to 12 give 2 (1.5 -> 2).
    With even dims ``count`` is always 8; along odd dims the last output voxel
    averages only the children that exist (count 4, 2 or 1).

    Args:
        vol: (Z, Y, X) unsigned integers, normally uint8 (uint16/uint32 also work).

    Returns:
        (ceil(Z/2), ceil(Y/2), ceil(X/2)) array of the same dtype.
    """
    vol = _check_volume(vol, "grayscale")
    if not np.issubdtype(vol.dtype, np.unsignedinteger) or vol.dtype.itemsize > 4:
        raise ValueError(f"grayscale volume must be uint8/uint16/uint32, got {vol.dtype}")
    shape = vol.shape
    vol = _pad_even(vol)
    acc_dtype = np.uint16 if vol.dtype.itemsize == 1 else np.uint64
    total = _pair_sums(vol, acc_dtype)
    if not any(n % 2 for n in shape):
        total += acc_dtype(4)
        total >>= acc_dtype(3)
        return total.astype(vol.dtype)
    cz, cy, cx = (_axis_counts(n) for n in shape)
    count = (cz[:, None, None] * cy[None, :, None] * cx[None, None, :]).astype(acc_dtype)
    return ((total + count // 2) // count).astype(vol.dtype)


__all__ = ["downsample_gray", "downsample_labels"]
