"""Follow one object through a video from a box drawn on one frame, and turn the boxes into a mask.

OpenCV's CSRT tracker (discriminative correlation filter with channel and spatial reliability, Lukezic et al.,
CVPR 2017) follows the box forwards and backwards from the frame it was drawn on. It needs no weights (it learns
the object's appearance online), which is why it is used here rather than a learned tracker.

A tracker that has lost its object keeps returning a box somewhere, so every step is also checked: the tracker's
own failure flag, the box leaving the frame, a jump in the box's size, and a sudden change of what the box shows
(normalised cross-correlation with a slowly updated template of the object). The first failed check stops that
direction and is reported with its frame number; the frames beyond it get no box, so a mask never follows a
tracker that drifted onto the background.

GrabCut (Rother et al., SIGGRAPH 2004) optionally refines each box to the object's outline.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from videovq.errors import InputError
from videovq.io.mask_box import Rect

PATCH = 16  # side of the patch the appearance check compares (small and blurred: a box a pixel off still matches)


@dataclass(frozen=True)
class TrackLost:
    """Where tracking stopped: the first frame without a box in that direction, and why."""

    frame: int
    direction: int  # +1 forwards, -1 backwards
    reason: str

    def describe(self) -> str:
        way = "forwards" if self.direction > 0 else "backwards"
        return f"tracking lost at frame {self.frame} ({way}): {self.reason}"


@dataclass
class TrackResult:
    """Per-frame boxes (None where the object was not followed) and where tracking stopped."""

    boxes: list[Rect | None]
    lost: list[TrackLost] = field(default_factory=list)

    @property
    def tracked_frames(self) -> int:
        return sum(b is not None for b in self.boxes)


@dataclass(frozen=True)
class TrackChecks:
    """When a tracked box counts as lost.

    Args:
        min_similarity: lowest normalised cross-correlation between the box's content and the object's template.
        max_scale_jump: largest change of the box's area from one frame to the next (ratio, either way).
        min_inside: smallest share of the box that must stay inside the frame.
    """

    min_similarity: float = 0.3
    max_scale_jump: float = 1.5
    min_inside: float = 0.25


def track_box(
    frames: np.ndarray, box: Rect, frame: int, checks: TrackChecks = TrackChecks(), progress: bool = False
) -> TrackResult:
    """Follow the object in `box` (drawn on `frame`) forwards and backwards through `frames` (uint8 (T, H, W, 3)).

    `progress` shows a bar (frames tracked, with ETA) on stderr.
    """
    from tqdm import tqdm

    num_frames, height, width = frames.shape[:3]
    if not 0 <= frame < num_frames:
        raise InputError(f"--frame {frame}: the video has frames 0..{num_frames - 1}")
    x0, y0, x1, y1 = box.pixels(height, width)
    if x1 - x0 < 4 or y1 - y0 < 4:
        raise InputError(f"--box {_format(box)}: the box must cover at least 4x4 pixels inside the frame")
    box = Rect(x0, y0, x1 - x0, y1 - y0)
    result = TrackResult([None] * num_frames)
    result.boxes[frame] = box
    with tqdm(total=num_frames - 1, desc="track", unit="frame", disable=not progress) as bar:
        for direction in (1, -1):
            lost = _follow(frames, box, frame, direction, checks, result.boxes, bar.update)
            if lost is not None:
                result.lost.append(lost)
    return result


def track_mask(frames: np.ndarray, result: TrackResult, refine: bool = False) -> np.ndarray:
    """The tracked boxes as a hole mask bool `(T, H, W)`; with `refine`, each box is cut to the object (GrabCut)."""
    num_frames, height, width = frames.shape[:3]
    mask = np.zeros((num_frames, height, width), dtype=bool)
    for t, box in enumerate(result.boxes):
        if box is None:
            continue
        if refine:
            mask[t] = refine_box(frames[t], box)
        else:
            x0, y0, x1, y1 = box.pixels(height, width)
            mask[t, y0:y1, x0:x1] = True
    return mask


def refine_box(frame: np.ndarray, box: Rect, iterations: int = 3) -> np.ndarray:
    """The object inside `box` (GrabCut initialised with the box), bool `(H, W)`.

    GrabCut runs on a crop around the box (a margin of a quarter of its size gives it background to learn from).
    Where it finds no foreground at all the whole box is returned: a hole too big is safe, a missing one is not.
    """
    height, width = frame.shape[:2]
    x0, y0, x1, y1 = box.pixels(height, width)
    mx, my = max(2, (x1 - x0) // 4), max(2, (y1 - y0) // 4)
    cx0, cy0, cx1, cy1 = max(0, x0 - mx), max(0, y0 - my), min(width, x1 + mx), min(height, y1 + my)
    crop = np.ascontiguousarray(frame[cy0:cy1, cx0:cx1, ::-1])  # BGR for OpenCV
    labels = np.zeros(crop.shape[:2], np.uint8)
    bg, fg = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    rect = (x0 - cx0, y0 - cy0, x1 - x0, y1 - y0)
    cv2.grabCut(crop, labels, rect, bg, fg, iterations, cv2.GC_INIT_WITH_RECT)
    inside = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
    out = np.zeros((height, width), dtype=bool)
    if inside.any():
        out[cy0:cy1, cx0:cx1] = inside
    else:
        out[y0:y1, x0:x1] = True
    return out


def make_tracker():
    """A fresh CSRT tracker (it comes with opencv-contrib-python-headless, a dependency of videovq)."""
    legacy = getattr(cv2, "legacy", None)
    factory = getattr(cv2, "TrackerCSRT_create", None) or getattr(legacy, "TrackerCSRT_create", None)
    if factory is None:
        raise InputError(
            "this OpenCV has no CSRT tracker (it is in opencv-contrib); run `pip uninstall -y opencv-python-headless "
            "opencv-contrib-python-headless && pip install opencv-contrib-python-headless`"
        )
    return factory()


def _follow(frames, box: Rect, start: int, direction: int, checks: TrackChecks, boxes, step) -> TrackLost | None:
    """Track from `start` in one direction, writing boxes until the end or the first failed check."""
    tracker = make_tracker()
    tracker.init(_bgr(frames[start]), _int_box(box))
    template = _patch(frames[start], box)
    previous = box
    stop = len(frames) if direction > 0 else -1
    for t in range(start + direction, stop, direction):
        ok, found = tracker.update(_bgr(frames[t]))
        rect = Rect(*(float(v) for v in found)) if ok else None
        reason = "the tracker found no match" if rect is None else _check(frames[t], rect, previous, template, checks)
        if reason is not None:
            return TrackLost(t, direction, reason)
        boxes[t] = rect
        step(1)
        patch = _patch(frames[t], rect)
        template = 0.8 * template + 0.2 * patch  # follows slow changes of appearance, not a sudden swap
        previous = rect
    return None


def _check(frame: np.ndarray, rect: Rect, previous: Rect, template: np.ndarray, checks: TrackChecks) -> str | None:
    height, width = frame.shape[:2]
    if rect.w < 2 or rect.h < 2:
        return "the box collapsed"
    x0, y0, x1, y1 = rect.pixels(height, width)
    inside = max(0, x1 - x0) * max(0, y1 - y0) / (rect.w * rect.h)
    if inside < checks.min_inside:
        return f"the box left the frame ({inside:.0%} inside)"
    scale = (rect.w * rect.h) / (previous.w * previous.h)
    if not 1 / checks.max_scale_jump <= scale <= checks.max_scale_jump:
        return f"the box's size jumped x{scale:.2f} in one frame"
    similarity = _similarity(_patch(frame, rect), template)
    if similarity < checks.min_similarity:
        return f"what the box shows changed (similarity {similarity:.2f} < {checks.min_similarity:g})"
    return None


def _patch(frame: np.ndarray, rect: Rect) -> np.ndarray:
    """The box's content as a PATCH x PATCH grey float patch (the part outside the frame is clipped away)."""
    height, width = frame.shape[:2]
    x0, y0, x1, y1 = rect.pixels(height, width)
    grey = cv2.cvtColor(np.ascontiguousarray(frame[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
    patch = cv2.resize(grey, (PATCH, PATCH), interpolation=cv2.INTER_AREA).astype(np.float32)
    return cv2.GaussianBlur(patch, (3, 3), 0.8)


def _similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation in [-1, 1]; flat patches (no texture to correlate) compare by mean level."""
    flat_a, flat_b = a.std() < 2.0, b.std() < 2.0  # grey levels
    if flat_a and flat_b:
        return 1.0 - min(1.0, abs(float(a.mean() - b.mean())) / 32.0)
    if flat_a or flat_b:
        return 0.0  # texture appeared or vanished
    da, db = a - a.mean(), b - b.mean()
    return float((da * db).sum() / np.sqrt((da**2).sum() * (db**2).sum()))


def _bgr(frame: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(frame[..., ::-1])


def _int_box(box: Rect) -> tuple[int, int, int, int]:
    return (int(round(box.x)), int(round(box.y)), max(1, int(round(box.w))), max(1, int(round(box.h))))


def _format(box: Rect) -> str:
    return ",".join(f"{v:g}" for v in box.astuple())
