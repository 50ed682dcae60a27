"""Dense optical flow (OpenCV DIS), shared by the warping-error metric and flow propagation."""

from __future__ import annotations

import cv2
import numpy as np

# DIS fails on frames smaller than its patch pyramid; tiny frames are edge-padded to this side first.
MIN_FLOW_SIDE = 16


def estimate_flow(dis: cv2.DISOpticalFlow, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Dense flow ``(H, W, 2)`` float32 (x, y) such that ``src(p) ~ dst(p + flow(p))``.

    Args:
        dis: an OpenCV DIS optical-flow object.
        src: uint8 ``(H, W)`` grayscale.
        dst: uint8 ``(H, W)`` grayscale.
    """
    height, width = src.shape
    pad_y, pad_x = max(0, MIN_FLOW_SIDE - height), max(0, MIN_FLOW_SIDE - width)
    if pad_y or pad_x:
        src = cv2.copyMakeBorder(src, 0, pad_y, 0, pad_x, cv2.BORDER_REPLICATE)
        dst = cv2.copyMakeBorder(dst, 0, pad_y, 0, pad_x, cv2.BORDER_REPLICATE)
    return dis.calc(src, dst, None)[:height, :width]
