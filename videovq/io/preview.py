"""Pictures people would rather see than read: masked previews, side-by-side videos, contact sheets."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
from PIL import Image

from videovq.io.atomic import atomic_output

HOLE_COLOUR = (255, 64, 160)  # magenta: rare in natural video, so the hole stands out


def overlay_mask(frames: np.ndarray, mask: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """Tint the hole of each frame and outline it, so a viewer sees exactly what will be replaced.

    Args:
        frames: uint8 `(T, H, W, 3)`.
        mask: bool `(T, H, W)`, True = hole.
        alpha: opacity of the tint inside the hole.
    """
    out = frames.astype(np.float32)
    colour = np.asarray(HOLE_COLOUR, np.float32)
    m = mask[..., None]  # (T, H, W, 1)
    out = np.where(m, (1 - alpha) * out + alpha * colour, out)
    out = out.round().astype(np.uint8)
    for t in range(len(out)):
        contours, _ = cv2.findContours(mask[t].astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out[t], contours, -1, HOLE_COLOUR, 1)
    return out


def label(frames: np.ndarray, text: str) -> np.ndarray:
    """Write a small caption in the top-left corner of every frame (on a dark band, readable on any content)."""
    out = frames.copy()
    scale = max(0.35, out.shape[2] / 900)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    out[:, : th + base + 6, : tw + 8] //= 3
    for t in range(len(out)):
        cv2.putText(out[t], text, (4, th + 3), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def side_by_side(panels: Sequence[np.ndarray], labels: Sequence[str] | None = None, gap: int = 4) -> np.ndarray:
    """Put equally long videos `(T, H, W, 3)` next to each other (heights may differ: shorter ones are padded)."""
    if not panels:
        raise ValueError("side_by_side needs at least one panel")
    t = len(panels[0])
    if any(len(p) != t for p in panels):
        raise ValueError(f"panels have different lengths {[len(p) for p in panels]}")
    if labels is not None:
        panels = [label(p, text) for p, text in zip(panels, labels)]
    height = max(p.shape[1] for p in panels)
    pieces = []
    for i, p in enumerate(panels):
        pad = np.zeros((t, height - p.shape[1], p.shape[2], 3), np.uint8)
        pieces.append(np.concatenate([p, pad], axis=1))
        if i < len(panels) - 1:
            pieces.append(np.full((t, height, gap, 3), 255, np.uint8))
    return np.concatenate(pieces, axis=2)


def contact_sheet(rows: Sequence[np.ndarray], num_columns: int = 6, labels: Sequence[str] | None = None) -> np.ndarray:
    """One image: each row shows `num_columns` evenly spaced frames of one video `(T, H, W, 3)`."""
    lines = []
    for i, video in enumerate(rows):
        idx = np.linspace(0, len(video) - 1, num=min(num_columns, len(video))).round().astype(int)
        frames = video[idx]
        if labels is not None:
            frames = label(frames, labels[i])
        gap = np.full((frames.shape[1], 2, 3), 255, np.uint8)
        cells = [x for f in frames for x in (f, gap)][:-1]
        lines.append(np.concatenate(cells, axis=1))
    width = max(line.shape[1] for line in lines)
    lines = [np.pad(line, ((0, 2), (0, width - line.shape[1]), (0, 0)), constant_values=255) for line in lines]
    return np.concatenate(lines, axis=0)[:-2]


def save_png(path: str | Path, image: np.ndarray, overwrite: bool = False) -> Path:
    """Write a uint8 `(H, W, 3)` image as PNG, atomically."""
    with atomic_output(path, overwrite=overwrite) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")
    return Path(path)


def write_masked_preview(
    video: str | Path,
    mask_path: str | Path,
    output: str | Path,
    dilate: int = 0,
    resize_mask: bool = False,
    crf: int = 18,
    overwrite: bool = False,
) -> Path:
    """Write `video` with its (dilated) mask tinted in, to check a mask before a long job.

    The source's fps and audio are kept.
    """
    from tqdm import tqdm

    from videovq.io.atomic import check_output_path
    from videovq.io.masks import dilate_mask, load_mask
    from videovq.io.video import VideoWriter, open_video

    check_output_path(output, inputs=[video, mask_path], overwrite=overwrite)
    with open_video(video) as reader:
        mask = dilate_mask(load_mask(mask_path, reader.info, resize=resize_mask), dilate)
        with VideoWriter(
            output, reader.info.fps, crf=crf, source=video, overwrite=overwrite, inputs=[video, mask_path]
        ) as writer:
            start = 0
            progress = tqdm(total=len(reader), desc="preview", unit="frame")
            for chunk in reader.chunks(32):
                writer.write(overlay_mask(chunk, mask[start : start + len(chunk)]))
                start += len(chunk)
                progress.update(len(chunk))
            progress.close()
    return Path(output)
