"""Temporal-consistency metrics: flow-based warping error and frame-difference flicker.

Conventions (all functions here):

* Videos are numpy uint8 ``(T, H, W, 3)``; masks are bool ``(T, H, W)`` with True = hole.
* Each metric compares consecutive frames, so it returns float64 ``(T-1,)``; entry ``t-1`` is for the pair
  (t-1, t). A 1-frame video gives an empty array.
* Units: `warping_error` is a mean *squared* error on pixel values scaled to [0, 1] (the usual E_warp scale;
  multiply by 1e3 to compare with tables reporting "E_warp (x10^-3)"). The flicker metrics are mean *absolute*
  differences in [0, 255] grey levels.
* With a mask, a pair whose region is empty gives NaN; aggregate with `videovq.metrics.psnr_ssim.nan_mean`.
"""

from __future__ import annotations

import cv2
import numpy as np

from videovq.errors import InputError
from videovq.flow import estimate_flow
from videovq.metrics.psnr_ssim import check_inputs, check_video


def warping_error(pred: np.ndarray, ref: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Flow warping error E_warp of the prediction, with the flow taken from the reference.

    As in Lai et al., "Learning Blind Video Temporal Consistency" (ECCV 2018): for each pair (t-1, t), the optical
    flow from reference frame t to t-1 (OpenCV DIS, "medium" preset, on grayscale) warps predicted frame t-1 into
    frame t; the error is the squared difference to predicted frame t, averaged over the RGB channels and the
    non-occluded pixels. Occlusions are found with the forward-backward check of Ruder et al.
    |f(x) + b(x + f(x))|^2 < 0.01 (|f(x)|^2 + |b(x + f(x))|^2) + 0.5, and pixels whose flow points outside the
    frame are excluded too. (Lai et al. warp t+1 into t with the forward flow; that is the same quantity.)

    Args:
        pred: Predicted video, uint8 ``(T, H, W, 3)``.
        ref: Reference video the flow is computed on, same shape. Pass ``ref=pred`` for a reference-free variant.
        mask: Optional bool ``(T, H, W)``: only hole pixels of frame t count for pair (t-1, t).

    Returns:
        float64 ``(T-1,)``: mean squared error on the [0, 1] scale; NaN where no pixel is left to compare.
    """
    mask = check_inputs(pred, ref, mask)
    num_frames, height, width, _ = pred.shape
    errors = np.full(max(0, num_frames - 1), np.nan)
    if num_frames < 2:
        return errors
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)
    prev_gray = _gray(ref[0])
    prev_pred = pred[0].astype(np.float32) / 255.0
    for t in range(1, num_frames):
        gray = _gray(ref[t])
        back = estimate_flow(dis, gray, prev_gray)  # frame t -> t-1: pixel x of t sits at x + back(x) in t-1
        fwd = estimate_flow(dis, prev_gray, gray)
        map_x, map_y = grid_x + back[..., 0], grid_y + back[..., 1]
        valid = (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)
        valid &= _consistent(back, fwd, map_x, map_y)
        if mask is not None:
            valid &= mask[t]
        cur_pred = pred[t].astype(np.float32) / 255.0
        if valid.any():
            warped = cv2.remap(prev_pred, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            sq = ((cur_pred - warped) ** 2).mean(axis=2)
            errors[t - 1] = sq[valid].mean(dtype=np.float64)
        prev_gray, prev_pred = gray, cur_pred
    return errors


def flicker(pred: np.ndarray, ref: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """How much the prediction's frame-to-frame change departs from the reference's.

    For each pair (t-1, t): mean over pixels and RGB channels of |(pred[t] - pred[t-1]) - (ref[t] - ref[t-1])|.
    Zero when the prediction changes exactly like the reference (e.g. pred == ref, or pred = ref + a fixed
    offset); grows with per-frame independent noise or flicker.

    Args:
        pred: Predicted video, uint8 ``(T, H, W, 3)``.
        ref: Reference video, same shape.
        mask: Optional bool ``(T, H, W)``: pair (t-1, t) uses the union of the holes of frames t-1 and t.

    Returns:
        float64 ``(T-1,)`` in [0, 255] grey levels (at most 510); NaN where the region is empty.
    """
    mask = check_inputs(pred, ref, mask)
    errors = np.full(max(0, pred.shape[0] - 1), np.nan)
    for t in range(1, pred.shape[0]):
        # int16 holds the (-510..510) range of a difference of differences exactly.
        delta = (pred[t].astype(np.int16) - pred[t - 1]) - (ref[t].astype(np.int16) - ref[t - 1])
        errors[t - 1] = _region_mean(np.abs(delta), None if mask is None else mask[t - 1] | mask[t])
    return errors


def temporal_flicker(video: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Reference-free flicker: mean absolute difference between consecutive frames.

    Useful to measure the jitter of reconstructions of a static or slow scene; note that real motion counts too.

    Args:
        video: uint8 ``(T, H, W, 3)``.
        mask: Optional bool ``(T, H, W)``: pair (t-1, t) uses the union of the holes of frames t-1 and t.

    Returns:
        float64 ``(T-1,)`` in [0, 255] grey levels; NaN where the region is empty.
    """
    check_video(video)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != video.shape[:3]:
            raise InputError(
                f"mask shape {mask.shape} != video shape {video.shape[:3]} (T, H, W); resize/trim the mask"
            )
        mask = mask.astype(bool, copy=False)
    errors = np.full(max(0, video.shape[0] - 1), np.nan)
    for t in range(1, video.shape[0]):
        delta = np.abs(video[t].astype(np.int16) - video[t - 1])
        errors[t - 1] = _region_mean(delta, None if mask is None else mask[t - 1] | mask[t])
    return errors


def _region_mean(values: np.ndarray, region: np.ndarray | None) -> float:
    """Mean of ``(H, W, 3)`` values over all pixels, or over the True pixels of ``(H, W)`` `region` (NaN if none)."""
    if region is None:
        return float(values.mean(dtype=np.float64))
    if not region.any():
        return float("nan")
    return float(values[region].mean(dtype=np.float64))


def _gray(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)


def _consistent(flow: np.ndarray, inverse: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    """Forward-backward check: True where following `flow` then `inverse` comes back to the start (not occluded)."""
    inverse_at = cv2.remap(inverse, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    round_trip = ((flow + inverse_at) ** 2).sum(axis=2)
    magnitude = (flow**2).sum(axis=2) + (inverse_at**2).sum(axis=2)
    return round_trip < 0.01 * magnitude + 0.5
