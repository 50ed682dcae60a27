"""Per-frame PSNR and SSIM, on the whole frame or restricted to the hole.

Conventions (all functions here):

* Videos are numpy uint8 ``(T, H, W, 3)``; masks are bool ``(T, H, W)`` with True = hole.
* Values use the [0, 255] data range: PSNR = 10 log10(255^2 / MSE), with the MSE over all 3 channels.
* Identical frames give PSNR = +inf (no warning); the mean of a list containing inf is inf.
* With a mask, a frame whose hole is empty gives NaN; aggregate with `nan_mean`, which skips NaNs.
* Long videos are processed in chunks of frames, so memory stays flat whatever T is.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import torch
from torchmetrics.functional.image import structural_similarity_index_measure

from videovq.errors import InputError

# Pixels (frames x H x W) per chunk. SSIM holds ~15 float32 maps of 3 channels per pixel (~200 B/pixel), so
# 2^20 pixels keep the peak around 200 MB; at 1080p a chunk is a single frame.
_CHUNK_PIXELS = 1 << 20

# SSIM's gaussian window (Wang et al. 2004): sigma 1.5 -> torchmetrics builds an 11x11 kernel.
_SSIM_SIGMA = 1.5
_SSIM_PAD = 5


def frame_psnr(pred: np.ndarray, ref: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """PSNR of every frame, on the [0, 255] data range.

    Args:
        pred: Predicted video, uint8 ``(T, H, W, 3)``.
        ref: Reference (ground-truth) video, same shape.
        mask: Optional bool ``(T, H, W)``, True = hole. If given, the MSE is taken over the hole pixels only (all 3
            channels); pixels outside the hole do not matter at all.

    Returns:
        float64 ``(T,)``: PSNR in dB; +inf where the frames are identical (inside the hole if masked), NaN where the
        hole of that frame is empty.
    """
    mask = check_inputs(pred, ref, mask)
    num_frames, height, width, _ = pred.shape
    sq_sum = np.zeros(num_frames, dtype=np.float64)
    count = np.zeros(num_frames, dtype=np.float64)
    for start, stop in _chunks(num_frames, height * width):
        # Integer arithmetic keeps the MSE exact (and cheap: int32 squares, int64 sums).
        diff = pred[start:stop].astype(np.int32) - ref[start:stop].astype(np.int32)
        sq = diff * diff
        if mask is None:
            sq_sum[start:stop] = sq.sum(axis=(1, 2, 3), dtype=np.int64)
            count[start:stop] = height * width * 3
        else:
            hole = mask[start:stop]
            sq_sum[start:stop] = (sq.sum(axis=3, dtype=np.int64) * hole).sum(axis=(1, 2))
            count[start:stop] = hole.sum(axis=(1, 2)) * 3
    psnr = np.full(num_frames, np.nan)
    has_pixels = count > 0
    mse = sq_sum[has_pixels] / count[has_pixels]
    with np.errstate(divide="ignore"):  # mse == 0 -> +inf on purpose
        psnr[has_pixels] = 10.0 * np.log10(255.0**2 / mse)
    return psnr


def frame_ssim(pred: np.ndarray, ref: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """SSIM of every frame (gaussian 11x11 window, sigma 1.5, K1=0.01, K2=0.03, data range 255).

    The SSIM map is computed on the whole frame (reflect-padded at the borders, as torchmetrics does) for each RGB
    channel, averaged over the channels, then averaged over the whole frame or over the hole pixels. So with a mask,
    pixels outside the hole still matter if they are within the 11x11 window (5 px) of a hole pixel.

    Args:
        pred: Predicted video, uint8 ``(T, H, W, 3)``, frames at least 6x6.
        ref: Reference (ground-truth) video, same shape.
        mask: Optional bool ``(T, H, W)``, True = hole.

    Returns:
        float64 ``(T,)``: SSIM in [-1, 1] (1 = identical); NaN where the hole of that frame is empty.
    """
    mask = check_inputs(pred, ref, mask)
    num_frames, height, width, _ = pred.shape
    if min(height, width) <= _SSIM_PAD:
        raise InputError(f"frames of {height}x{width} are too small for SSIM's 11x11 window; need at least 6x6")
    ssim = np.full(num_frames, np.nan)
    for start, stop in _chunks(num_frames, height * width):
        ssim_map = _ssim_map(pred[start:stop], ref[start:stop])  # (n, H, W)
        if mask is None:
            ssim[start:stop] = ssim_map.mean(axis=(1, 2))
            continue
        hole = mask[start:stop]
        count = hole.sum(axis=(1, 2))
        sums = (ssim_map * hole).sum(axis=(1, 2))
        ssim[start:stop] = np.where(count > 0, sums / np.maximum(count, 1), np.nan)
    return ssim


def frame_ssim_uniform(pred: np.ndarray, ref: np.ndarray, win_size: int = 65) -> np.ndarray:
    """Whole-frame SSIM as E2FGVI and ProPainter compute it: scikit-image's SSIM with a uniform window.

    Their `calc_psnr_and_ssim` calls ``skimage.measure.compare_ssim(a, b, data_range=255, multichannel=True,
    win_size=65)`` on float64 frames: a `win_size` x `win_size` box window, the *sample* (N - 1) covariance,
    K1 = 0.01, K2 = 0.03, the SSIM map averaged over the frame minus a (win_size - 1) / 2 border, per RGB channel,
    then over the channels. This reimplements that (OpenCV box filters in float64) so that no scikit-image is needed
    at run time; the tests check it against scikit-image. Inside the cropped region the window never crosses the
    frame's edge, so the border mode does not matter.

    Args:
        pred: Predicted video, uint8 ``(T, H, W, 3)``, frames larger than `win_size` on both sides.
        ref: Reference video, same shape.
        win_size: odd window side in pixels (65 in the papers' code).

    Returns:
        float64 ``(T,)``.
    """
    check_inputs(pred, ref)
    height, width = pred.shape[1:3]
    if win_size < 3 or win_size % 2 == 0 or min(height, width) <= win_size:
        raise InputError(f"win_size={win_size} on {height}x{width} frames: use an odd window smaller than the frame")
    pad = (win_size - 1) // 2
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    cov_norm = win_size**2 / (win_size**2 - 1)  # sample covariance, scikit-image's default

    def box(image: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(image, cv2.CV_64F, (win_size, win_size), borderType=cv2.BORDER_REFLECT)[pad:-pad, pad:-pad]

    out = np.empty(len(pred))
    for t in range(len(pred)):
        x, y = pred[t].astype(np.float64), ref[t].astype(np.float64)  # (H, W, 3)
        ux, uy = box(x), box(y)
        vx = cov_norm * (box(x * x) - ux * ux)
        vy = cov_norm * (box(y * y) - uy * uy)
        vxy = cov_norm * (box(x * y) - ux * uy)
        ssim = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
        out[t] = ssim.mean(axis=(0, 1)).mean()  # per channel, then over channels (equal sizes: same as all)
    return out


def nan_mean(values: np.ndarray) -> float:
    """Mean over the non-NaN values (frames with an empty hole are skipped); NaN if there are none, +inf if any is.

    Args:
        values: Per-frame metric values.

    Returns:
        The mean as a Python float.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0 or np.isnan(values).all():
        return float("nan")  # np.nanmean would warn "Mean of empty slice"
    return float(np.nanmean(values))


def check_inputs(pred: np.ndarray, ref: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray | None:
    """Validate a (prediction, reference[, mask]) triple; shared by the metrics modules.

    Args:
        pred: Predicted video, uint8 ``(T, H, W, 3)``.
        ref: Reference video, same shape.
        mask: Optional ``(T, H, W)`` mask (bool, or 0/1 numbers).

    Returns:
        The mask as a bool array (or None).

    Raises:
        InputError: on wrong types, dtypes or mismatched shapes.
    """
    for name, video in (("prediction", pred), ("reference", ref)):
        check_video(video, name)
    if pred.shape != ref.shape:
        raise InputError(f"prediction shape {pred.shape} != reference shape {ref.shape}; compare videos of equal size")
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.shape != pred.shape[:3]:
        raise InputError(f"mask shape {mask.shape} != video shape {pred.shape[:3]} (T, H, W); resize/trim the mask")
    return mask.astype(bool, copy=False)


def check_video(video: np.ndarray, name: str = "video") -> None:
    """Raise InputError unless `video` is a numpy uint8 ``(T, H, W, 3)`` array.

    Args:
        video: The array to check.
        name: How to call it in the error message.
    """
    if not isinstance(video, np.ndarray) or video.dtype != np.uint8 or video.ndim != 4 or video.shape[3] != 3:
        desc = f"{video.dtype} {video.shape}" if isinstance(video, np.ndarray) else type(video).__name__
        raise InputError(f"{name} must be a uint8 numpy array (T, H, W, 3) RGB, got {desc}")


def _ssim_map(pred: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """SSIM map averaged over RGB: uint8 ``(n, H, W, 3)`` x2 -> float64 ``(n, H, W)``."""
    # torch.tensor copies, so read-only inputs (e.g. memory-mapped videos) are fine.
    preds = torch.tensor(pred, dtype=torch.float32).permute(0, 3, 1, 2)
    target = torch.tensor(ref, dtype=torch.float32).permute(0, 3, 1, 2)
    with torch.inference_mode():
        _, full = structural_similarity_index_measure(
            preds,
            target,
            gaussian_kernel=True,
            sigma=_SSIM_SIGMA,
            data_range=255.0,
            reduction="none",
            return_full_image=True,
        )
    return full.mean(dim=1).double().numpy()


def _chunks(num_frames: int, frame_pixels: int) -> Iterator[tuple[int, int]]:
    """(start, stop) frame ranges holding about `_CHUNK_PIXELS` pixels each."""
    step = max(1, _CHUNK_PIXELS // max(1, frame_pixels))
    for start in range(0, num_frames, step):
        yield start, min(num_frames, start + step)
