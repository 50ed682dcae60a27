"""Filling what no frame shows without a model: the harmonic membrane, biharmonic where the frame says it is better.

The membrane (Laplace equation, `harmonic_fill`) is the safe fill of a region no frame shows: bounded by the
values around it, never overshooting. It draws every region flat in the middle, though, and on smooth shading (a
gradient of sky, a lit wall) the biharmonic fill, which also continues the slopes at the region's edge, is far
closer. On texture and across edges the biharmonic fill overshoots. Which one a region needs is decided by the
frame itself: the region's own shape is laid over known pixels next to it (shifted by its size up, down, left,
right and diagonally), both fills are computed there, and their errors against the known values compared. A region
gets the biharmonic fill only where it at least halves the membrane's squared error on every copy tried (at least
two), a self-test in the spirit of DLFormer's pseudo-masks. Regions too small to judge or too large to solve
cheaply keep the membrane.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.restoration import inpaint_biharmonic

from videovq.inpaint.chunks import Box
from videovq.inpaint.propagation import harmonic_fill

# Regions of fewer pixels are left to the membrane (a handful of pixels cannot tell the two fills apart); regions
# of more are left to it too: the biharmonic solve is a sparse direct solve whose cost grows faster than the area,
# and the larger the region the further its overshoot can carry.
MIN_AREA = 64
MAX_AREA = 4096
# The biharmonic fill must cut the membrane's squared error by at least this factor on every shifted copy: the
# membrane is the safe default. Judged on the errors summed over the copies (or at a factor of 1), the biharmonic
# fill was chosen on textured regions too, where it lost up to 1 dB and flickered more (docs/inpainting.md).
BETTER_BY = 0.5
# Shifted copies tried per region (in this order), how many are scored, and how many must have been.
_SHIFTS = ((-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))
_TESTS = 3
_TESTS_NEEDED = 2
_GAP = 3  # pixels between the region and a shifted copy
_RING = 2  # known pixels around a shifted copy: the biharmonic fill reads two rings of boundary values


def membrane_fill(frames: np.ndarray, remaining: np.ndarray) -> np.ndarray:
    """`frames` (T, H, W, 3) uint8 with each frame's `remaining` pixels replaced by the membrane of the others."""
    out = frames.copy()
    for t in np.nonzero(remaining.any(axis=(1, 2)))[0]:
        filled = harmonic_fill(frames[t].astype(np.float32), ~remaining[t])
        out[t][remaining[t]] = _to_uint8(filled[remaining[t]])
    return out


def fill_unseen(frames: np.ndarray, remaining: np.ndarray, known: np.ndarray, biharmonic: bool = True) -> np.ndarray:
    """Fill each frame's `remaining` pixels from the pixels around them; only those pixels change.

    Args:
        frames: (T, H, W, 3) uint8, with propagated pixels already in place.
        remaining: (T, H, W) bool, the pixels still to fill.
        known: (T, H, W) bool, pixels that are the video's own (not propagated): the only ones a self-test scores.
        biharmonic: choose the biharmonic fill per region where the self-test says so; False = membrane only.
    """
    out = membrane_fill(frames, remaining)
    if not biharmonic:
        return out
    height, width = remaining.shape[1:]
    for t in np.nonzero(remaining.any(axis=(1, 2)))[0]:
        count, labels, stats, _ = cv2.connectedComponentsWithStats(remaining[t].astype(np.uint8), connectivity=8)
        for c in range(1, count):
            x, y, w, h, area = (int(v) for v in stats[c])
            if not MIN_AREA <= area <= MAX_AREA:
                continue
            shape = labels[y : y + h, x : x + w] == c
            if _biharmonic_wins(out[t], known[t], shape, y, x):
                box = Box(y, y + h, x, x + w).grown(_RING, height, width).slices
                region = labels[box] == c
                # Other regions inside the box are unknown to this solve too, so it never reads a membrane value.
                solved = _biharmonic(out[t][box], remaining[t][box])
                out[t][box][region] = solved[region]
    return out


def _biharmonic_wins(frame: np.ndarray, known: np.ndarray, shape: np.ndarray, y: int, x: int) -> bool:
    """Whether the biharmonic fill beats the membrane by `BETTER_BY` on every copy of `shape` laid over known pixels."""
    height, width = known.shape
    h, w = shape.shape
    tests = 0
    for dy, dx in _SHIFTS:
        ty, tx = y + dy * (h + _GAP), x + dx * (w + _GAP)
        if ty < 0 or tx < 0 or ty + h > height or tx + w > width:
            continue
        box = Box(ty, ty + h, tx, tx + w).grown(_RING, height, width)
        unknown = np.zeros((box.height, box.width), bool)  # the copy, in the box's coordinates
        unknown[ty - box.y0 : ty - box.y0 + h, tx - box.x0 : tx - box.x0 + w] = shape
        ring = cv2.dilate(unknown.astype(np.uint8), np.ones((2 * _RING + 1,) * 2, np.uint8)).astype(bool)
        if not known[box.slices][ring].all():
            continue
        crop = frame[box.slices]
        truth = crop[unknown].astype(np.float32)
        membrane = harmonic_fill(crop.astype(np.float32), ~unknown)[unknown]
        biharmonic = _biharmonic(crop, unknown)[unknown].astype(np.float32)
        if ((biharmonic - truth) ** 2).sum() >= BETTER_BY * ((membrane - truth) ** 2).sum():
            return False  # every copy must agree
        tests += 1
        if tests == _TESTS:
            break
    return tests >= _TESTS_NEEDED


def _biharmonic(crop: np.ndarray, unknown: np.ndarray) -> np.ndarray:
    """The crop (h, w, 3) uint8 with its `unknown` pixels filled biharmonically (scikit-image's sparse solve)."""
    solved = inpaint_biharmonic(crop.astype(np.float64) / 255.0, unknown, channel_axis=-1)
    return _to_uint8(solved * 255.0)


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.round(values), 0, 255).astype(np.uint8)
