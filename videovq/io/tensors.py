"""The one conversion between video as stored (uint8 ``(T, H, W, 3)``) and video as the models see it (float
``(3, T, H, W)`` in [-1, 1], the package's canonical layout; batches add a leading ``B``)."""

from __future__ import annotations

import numpy as np
import torch

from videovq.errors import InputError


def uint8_to_video(frames: np.ndarray) -> torch.Tensor:
    """uint8 ``(T, H, W, 3)`` RGB -> float32 ``(3, T, H, W)`` in [-1, 1]."""
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise InputError(f"expected a uint8 array shaped (T, H, W, 3); got {frames.dtype} {frames.shape}")
    video = torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2)  # (T, H, W, 3) -> (3, T, H, W)
    return video.float() / 127.5 - 1.0


def video_to_uint8(video: torch.Tensor) -> np.ndarray:
    """float ``(3, T, H, W)`` in [-1, 1] (clamped) -> uint8 ``(T, H, W, 3)``, rounded to the nearest level."""
    if video.ndim != 4 or video.shape[0] != 3:
        raise InputError(f"expected a video tensor shaped (3, T, H, W); got {tuple(video.shape)}")
    return ((video.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 3, 0).cpu().numpy()
