"""Baselines that our video inpainting must beat.

* `telea_inpaint`: per-frame image inpainting (Telea 2004, fast marching), blind to time.
* `nearest_valid_fill`: the simplest temporal fill: a hole pixel copies the same pixel position from the
  temporally nearest frame where it is visible. Exact for a static camera and scene, wrong as soon as things move.

Both keep every pixel outside the hole bit-exact.
"""

from __future__ import annotations

import cv2
import numpy as np

from videovq.errors import InputError
from videovq.metrics.psnr_ssim import check_video

# What a frame with no valid pixel at all gets: there is nothing to inpaint from (cv2.inpaint would return the
# hole content unchanged), so it is painted mid-grey, the least wrong constant.
EMPTY_FRAME_VALUE = 128


def telea_inpaint(frames: np.ndarray, hole: np.ndarray, radius: int = 5) -> np.ndarray:
    """Inpaint every frame on its own with OpenCV's Telea method.

    Args:
        frames: uint8 ``(T, H, W, 3)``.
        hole: bool ``(T, H, W)``, True = hole.
        radius: neighbourhood radius of the method in pixels.

    Returns:
        uint8 ``(T, H, W, 3)``: hole pixels inpainted (mid-grey in a frame that is all hole), others unchanged.
    """
    hole = _check(frames, hole)
    if radius < 1:
        raise InputError(f"radius={radius}: the Telea neighbourhood must be >= 1 px")
    out = frames.copy()
    for t in range(frames.shape[0]):
        if hole[t].any():
            out[t] = _telea_frame(frames[t], hole[t], radius)
    return out


def nearest_valid_fill(frames: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Fill each hole pixel from the same position in the temporally nearest frame where it is valid.

    Ties (a valid frame as far before as after) go to the earlier frame. Pixels that are hole in every frame are
    then inpainted with Telea on their own frame, whose temporally filled pixels count as known (see
    `telea_inpaint`).

    Args:
        frames: uint8 ``(T, H, W, 3)``.
        hole: bool ``(T, H, W)``, True = hole.

    Returns:
        uint8 ``(T, H, W, 3)``, pixels outside the hole unchanged.
    """
    hole = _check(frames, hole)
    num_frames = frames.shape[0]
    out = frames.copy()
    if not hole.any():
        return out
    before = _last_valid_before(hole)  # (T, H, W) int32, -1 = none
    never_valid = hole.all(axis=0)
    after = np.full(hole.shape[1:], -1, np.int32)  # next valid frame index at or after t, scanned backwards
    for t in range(num_frames - 1, -1, -1):
        after = np.where(hole[t], after, t)
        if not hole[t].any():
            continue
        ys, xs = np.nonzero(hole[t])
        b, a = before[t, ys, xs], after[ys, xs]
        # Nearest valid frame; the earlier one wins ties ("<=").
        use_before = (b >= 0) & ((a < 0) | (t - b <= a - t))
        src = np.where(use_before, b, a)
        has = src >= 0
        out[t, ys[has], xs[has]] = frames[src[has], ys[has], xs[has]]
        lost = hole[t] & never_valid
        if lost.any():
            out[t] = _telea_frame(out[t], lost, 5)
    return out


def _last_valid_before(hole: np.ndarray) -> np.ndarray:
    """For each (t, y, x): the largest t' <= t where (y, x) is valid, or -1."""
    last = np.empty(hole.shape, np.int32)
    current = np.full(hole.shape[1:], -1, np.int32)
    for t in range(hole.shape[0]):
        current = np.where(hole[t], current, t)
        last[t] = current
    return last


def _telea_frame(frame: np.ndarray, hole: np.ndarray, radius: int) -> np.ndarray:
    """Telea-inpaint one frame; only hole pixels change."""
    if hole.all():
        filled = np.full_like(frame, EMPTY_FRAME_VALUE)
    else:
        filled = cv2.inpaint(np.ascontiguousarray(frame), hole.astype(np.uint8), radius, cv2.INPAINT_TELEA)
    return np.where(hole[..., None], filled, frame)


def _check(frames: np.ndarray, hole: np.ndarray) -> np.ndarray:
    check_video(frames, "frames")
    hole = np.asarray(hole)
    if hole.shape != frames.shape[:3]:
        raise InputError(f"hole shape {hole.shape} != video shape {frames.shape[:3]} (T, H, W); resize/trim the mask")
    return hole.astype(bool, copy=False)
