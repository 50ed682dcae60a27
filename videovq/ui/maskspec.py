"""What the page draws, as data: boxes (keyframed or tracked) and brush strokes, turned into a hole mask.

The page sends a spec as JSON:

    {"boxes": [{"keys": {"0": [x, y, w, h], "30": [x, y, w, h]}, "hold": true, "refine": false}],
     "strokes": [{"frame": 3, "all_frames": false, "radius": 8, "points": [[x, y], ...]}],
     "dilate": 2}

A box with `hold` keeps its first/last rectangle before/after its keyframes (drawn boxes); a tracked box has one
keyframe per followed frame and `hold: false`, so frames where tracking was lost get no hole. `refine` cuts the box
to the object (GrabCut). A stroke is a round brush along its points, on its frame or on every frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from videovq.io.mask_box import BoxTrack, Rect
from videovq.io.mask_track import refine_box
from videovq.io.masks import dilate_mask
from videovq.io.video import open_video

MAX_DILATE = 64


@dataclass
class Stroke:
    frame: int
    points: list[tuple[float, float]]
    radius: float
    all_frames: bool = False


@dataclass
class MaskSpec:
    boxes: list[tuple[BoxTrack, bool]] = field(default_factory=list)  # (track, refine)
    strokes: list[Stroke] = field(default_factory=list)
    dilate: int = 0

    @property
    def empty(self) -> bool:
        return not self.boxes and not self.strokes


def parse_spec(data: dict, num_frames: int) -> MaskSpec:
    """A spec from the page's JSON; raises ValueError naming what is wrong."""
    if not isinstance(data, dict):
        raise ValueError("the mask spec must be a JSON object")
    spec = MaskSpec(dilate=int(data.get("dilate", 0)))
    if not 0 <= spec.dilate <= MAX_DILATE:
        raise ValueError(f"dilate {spec.dilate}: choose 0..{MAX_DILATE} pixels")
    for box in data.get("boxes", []):
        keys = {int(f): Rect(*(float(v) for v in r)) for f, r in box["keys"].items()}
        if any(not 0 <= f < num_frames for f in keys):
            raise ValueError(f"box keyframes {sorted(keys)}: the video has frames 0..{num_frames - 1}")
        spec.boxes.append((BoxTrack(keys, hold=bool(box.get("hold", True))), bool(box.get("refine", False))))
    for stroke in data.get("strokes", []):
        frame = int(stroke["frame"])
        if not 0 <= frame < num_frames:
            raise ValueError(f"stroke on frame {frame}: the video has frames 0..{num_frames - 1}")
        points = [(float(x), float(y)) for x, y in stroke["points"]]
        radius = float(stroke.get("radius", 8))
        if not points or not 0.5 <= radius <= 512:
            raise ValueError("a stroke needs at least one point and a radius of 0.5..512 pixels")
        spec.strokes.append(Stroke(frame, points, radius, bool(stroke.get("all_frames", False))))
    return spec


def mask_frame(spec: MaskSpec, t: int, frame: np.ndarray) -> np.ndarray:
    """The hole of frame t, bool `(H, W)`, before dilation (`frame`: uint8 `(H, W, 3)`, for GrabCut)."""
    height, width = frame.shape[:2]
    hole = np.zeros((height, width), dtype=bool)
    for track, refine in spec.boxes:
        rect = track.rect_at(t)
        if rect is None:
            continue
        if refine:
            hole |= refine_box(frame, rect)
        else:
            x0, y0, x1, y1 = rect.pixels(height, width)
            hole[y0:y1, x0:x1] = True
    canvas = np.zeros((height, width), np.uint8)
    for stroke in spec.strokes:
        if stroke.all_frames or stroke.frame == t:
            _draw_stroke(canvas, stroke)
    return hole | (canvas > 0)


def build_mask(spec: MaskSpec, video: str | Path) -> np.ndarray:
    """The whole mask of `video`, bool `(T, H, W)`, dilated by the spec's `dilate` (frames decoded one by one)."""
    with open_video(video) as reader:
        mask = np.stack([mask_frame(spec, t, frame) for t, frame in enumerate(reader)])
    return dilate_mask(mask, spec.dilate)


def _draw_stroke(canvas: np.ndarray, stroke: Stroke) -> None:
    pts = np.round(np.asarray(stroke.points) * 16).astype(np.int32)  # 1/16 px fixed point (shift=4)
    thickness = max(1, int(round(2 * stroke.radius)))
    if len(pts) == 1:
        cv2.circle(canvas, tuple(int(v) for v in pts[0]), int(round(stroke.radius * 16)), 1, -1, cv2.LINE_8, 4)
    else:
        cv2.polylines(canvas, [pts], False, 1, thickness, cv2.LINE_8, 4)
