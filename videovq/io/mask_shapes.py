"""Seeded generators of realistic, smoothly moving hole masks.

Three families, as used in the video inpainting literature:

* ``"strokes"``: free-form brush strokes (DeepFill v2 style polylines) that drift and wiggle over time, like the
  "moving masks" of STTN / FuseFormer / E2FGVI;
* ``"blobs"``: smooth random closed shapes (object-like) that move along a smooth path, deform and bounce off the
  frame borders;
* ``"boxes"``: rectangles, fixed (the classic "stationary square" evaluation mask) or moving.

Every generator returns a numpy bool array ``(T, H, W)`` with True = hole, draws its randomness only from
``np.random.default_rng(seed)`` (same seed -> identical mask, no global state) and works down to 4x4 frames
(token grids), where it still guarantees at least one hole pixel per frame.

Shared options (all generators):

* ``min_area`` / ``max_area`` (default 0.05 / 0.2): the target hole area is drawn uniformly in this range, as a
  fraction of the frame. It is a target, not a guarantee: overlaps and clipping at the borders make the real
  fraction differ somewhat (clip-mean fractions land around 0.06-0.2 at 240x432).
* ``speed`` (default 0.01): typical motion per frame as a fraction of ``min(H, W)`` (about 2.4 px/frame at 240p).
"""

from __future__ import annotations

import inspect
import math

import cv2
import numpy as np

from videovq.errors import InputError

MASK_KINDS = ("strokes", "blobs", "boxes")

# cv2 drawing works on integer coordinates; a 4-bit fractional shift gives 1/16 px precision so slow motion
# stays smooth instead of jumping a whole pixel at a time.
_SHIFT = 4
_SCALE = 1 << _SHIFT


def make_mask(kind: str, num_frames: int, height: int, width: int, seed: int = 0, **options) -> np.ndarray:
    """Generate a moving hole mask of the given kind.

    Args:
        kind: One of ``"strokes"``, ``"blobs"``, ``"boxes"``.
        num_frames: Number of frames T (>= 1).
        height: Frame height H in pixels (>= 1).
        width: Frame width W in pixels (>= 1).
        seed: Seed for ``np.random.default_rng``; the same seed gives the same mask.
        **options: Keyword options of the chosen generator (see `stroke_masks`, `blob_masks`, `box_masks`).

    Returns:
        Bool array ``(T, H, W)``, True = hole.
    """
    if kind == "strokes":
        generator = stroke_masks
    elif kind == "blobs":
        generator = blob_masks
    elif kind == "boxes":
        generator = box_masks
    else:
        raise InputError(f"unknown mask kind {kind!r}; use one of: {', '.join(MASK_KINDS)}")
    # Options usually come from the CLI/config, so a typo should be an InputError rather than a TypeError.
    valid = [name for name, p in inspect.signature(generator).parameters.items() if p.kind is p.KEYWORD_ONLY]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise InputError(f"unknown option(s) {unknown} for mask kind {kind!r}; valid options: {', '.join(valid)}")
    return generator(num_frames, height, width, seed, **options)


def random_mask_like(rng: np.random.Generator, num_frames: int, height: int, width: int) -> np.ndarray:
    """Draw a mask of a random kind with default options, e.g. pseudo-masks for training.

    Args:
        rng: Generator to draw from (advanced in place, so successive calls give different masks).
        num_frames: Number of frames T (>= 1).
        height: Frame (or token-grid) height, works down to 4.
        width: Frame (or token-grid) width, works down to 4.

    Returns:
        Bool array ``(T, H, W)``, True = hole, with at least one hole pixel per frame.
    """
    kind = MASK_KINDS[int(rng.integers(len(MASK_KINDS)))]
    if kind == "strokes":
        return stroke_masks(num_frames, height, width, rng)
    if kind == "blobs":
        return blob_masks(num_frames, height, width, rng)
    return box_masks(num_frames, height, width, rng, moving=bool(rng.random() < 0.5))


def stroke_masks(
    num_frames: int,
    height: int,
    width: int,
    seed: int | np.random.Generator = 0,
    *,
    max_strokes: int = 3,
    max_vertices: int = 8,
    brush_width: tuple[float, float] = (0.04, 0.1),
    min_area: float = 0.05,
    max_area: float = 0.2,
    speed: float = 0.01,
) -> np.ndarray:
    """Free-form brush strokes that drift and slightly deform over time.

    Each stroke is a zig-zag polyline (random turning angles and segment lengths) drawn with a round brush. It moves
    with a smooth random velocity, bounces off the borders, and its control points follow a mean-reverting random
    walk so the shape wiggles without drifting apart.

    Args:
        num_frames: Number of frames T (>= 1).
        height: Frame height H (>= 1).
        width: Frame width W (>= 1).
        seed: Seed (or an existing Generator) for ``np.random.default_rng``.
        max_strokes: Up to this many strokes (uniform in 1..max_strokes); default 3.
        max_vertices: Up to this many polyline vertices per stroke (uniform in 3..max_vertices); default 8.
        brush_width: Range of the brush width as a fraction of ``min(H, W)``; default (0.04, 0.1), at least 1 px.
            The stroke length is then chosen to reach the target area (the brush widens if that gets too long).
        min_area: Lower end of the target hole fraction; default 0.05.
        max_area: Upper end of the target hole fraction; default 0.2.
        speed: Typical motion per frame as a fraction of ``min(H, W)``; default 0.01. It is capped at a quarter of
            the brush width so consecutive frames overlap well.

    Returns:
        Bool array ``(T, H, W)``, True = hole.
    """
    _check_common(num_frames, height, width, min_area, max_area, speed)
    if max_strokes < 1 or max_vertices < 2:
        raise InputError(f"max_strokes={max_strokes}, max_vertices={max_vertices}: need >= 1 and >= 2 respectively")
    if not 0 < brush_width[0] <= brush_width[1]:
        raise InputError(f"brush_width={brush_width} must be a range (lo, hi) with 0 < lo <= hi")
    rng = np.random.default_rng(seed)
    side = min(height, width)
    area = rng.uniform(min_area, max_area) * height * width
    num_strokes = int(rng.integers(1, max_strokes + 1))

    strokes = []
    for _ in range(num_strokes):
        brush = max(1.0, rng.uniform(*brush_width) * side)
        length = area / num_strokes / brush
        if length > 2.0 * side:  # very long strokes would mostly leave the frame: widen the brush instead
            brush = max(1.0, area / num_strokes / (2.0 * side))
            length = area / num_strokes / brush
        num_vertices = int(rng.integers(min(3, max_vertices), max_vertices + 1))
        seg = rng.uniform(0.7, 1.3, num_vertices - 1)
        seg *= length / seg.sum()
        # Zig-zag like DeepFill v2's free-form masks: a base direction with alternating random turns.
        angle = rng.uniform(0, 2 * np.pi)
        points = [np.zeros(2)]
        for i, step in enumerate(seg):
            turn = rng.uniform(0.3, 2 * np.pi / 5) * (1 if i % 2 else -1)
            angle += turn
            points.append(points[-1] + step * np.array([np.cos(angle), np.sin(angle)]))
        offsets = np.array(points)
        offsets -= offsets.mean(axis=0)
        mover = _Mover(rng, np.abs(offsets).max(axis=0) + brush / 2, height, width, min(speed * side, brush / 4))
        strokes.append((offsets, brush, mover))

    masks = np.zeros((num_frames, height, width), dtype=bool)
    wiggles = [np.zeros_like(offsets) for offsets, _, _ in strokes]
    for t in range(num_frames):
        canvas = np.zeros((height, width), dtype=np.uint8)
        for (offsets, brush, mover), wiggle in zip(strokes, wiggles):
            pts = _fixed(mover.center + offsets + wiggle)
            for p, q in zip(pts[:-1], pts[1:]):
                p, q = (int(p[0]), int(p[1])), (int(q[0]), int(q[1]))
                cv2.line(canvas, p, q, 1, int(round(brush)), cv2.LINE_8, _SHIFT)
            # Mean-reverting (Ornstein-Uhlenbeck) jitter: stays within ~brush/10 of the base shape.
            wiggle *= 0.9
            wiggle += rng.normal(0.0, 0.05 * brush, wiggle.shape)
            mover.step(rng)
        masks[t] = _ensure_nonempty(canvas, strokes[0][2].center)
    return masks


def blob_masks(
    num_frames: int,
    height: int,
    width: int,
    seed: int | np.random.Generator = 0,
    *,
    max_blobs: int = 2,
    min_area: float = 0.05,
    max_area: float = 0.2,
    speed: float = 0.01,
    deform: float = 1.0,
) -> np.ndarray:
    """Object-like smooth blobs that move along a smooth path, deform, and bounce off the borders.

    A blob is a polygon whose radius in polar coordinates is a sum of a few low-frequency harmonics (so the outline
    is smooth), stretched into an ellipse and rotated. Over time the harmonics' amplitudes and phases and the
    rotation drift slowly, which deforms the shape.

    Args:
        num_frames: Number of frames T (>= 1).
        height: Frame height H (>= 1).
        width: Frame width W (>= 1).
        seed: Seed (or an existing Generator) for ``np.random.default_rng``.
        max_blobs: Up to this many blobs (uniform in 1..max_blobs), sharing the target area; default 2.
        min_area: Lower end of the target hole fraction; default 0.05.
        max_area: Upper end of the target hole fraction; default 0.2.
        speed: Typical motion per frame as a fraction of ``min(H, W)``; default 0.01.
        deform: Scale of the shape change over time (0 = rigid shapes); default 1.0.

    Returns:
        Bool array ``(T, H, W)``, True = hole.
    """
    _check_common(num_frames, height, width, min_area, max_area, speed)
    if max_blobs < 1 or deform < 0:
        raise InputError(f"max_blobs={max_blobs}, deform={deform}: need max_blobs >= 1 and deform >= 0")
    rng = np.random.default_rng(seed)
    side = min(height, width)
    area = rng.uniform(min_area, max_area) * height * width
    num_blobs = int(rng.integers(1, max_blobs + 1))
    harmonics = np.arange(2, 5)  # k=2..4: lumpy but smooth outlines; k=1 would only shift the blob
    theta = np.linspace(0, 2 * np.pi, 32, endpoint=False)

    blobs = []
    for _ in range(num_blobs):
        radius = math.sqrt(area / num_blobs / np.pi)
        stretch = math.sqrt(rng.uniform(0.6, 1.6))
        amp = rng.uniform(0, 0.3, harmonics.size) / harmonics
        phase = rng.uniform(0, 2 * np.pi, harmonics.size)
        omega = rng.normal(0, 0.05 * deform, harmonics.size)  # per-frame phase drift of each harmonic
        rotation, spin = rng.uniform(0, 2 * np.pi), rng.normal(0, 0.02 * deform)
        extent = 0.8 * radius * max(stretch, 1 / stretch)  # bounce a bit late: "mostly" in frame
        mover = _Mover(rng, np.array([extent, extent]), height, width, speed * side)
        blobs.append([radius, stretch, amp, phase, omega, rotation, spin, mover])

    masks = np.zeros((num_frames, height, width), dtype=bool)
    for t in range(num_frames):
        canvas = np.zeros((height, width), dtype=np.uint8)
        for blob in blobs:
            radius, stretch, amp, phase, omega, rotation, spin, mover = blob
            r = radius * (1 + (amp[:, None] * np.cos(harmonics[:, None] * theta + phase[:, None])).sum(axis=0))
            r = np.maximum(r, 0.2 * radius)
            x, y = r * np.cos(theta) * stretch, r * np.sin(theta) / stretch
            c, s = math.cos(rotation), math.sin(rotation)
            pts = np.stack([c * x - s * y, s * x + c * y], axis=1) + mover.center
            cv2.fillPoly(canvas, [_fixed(pts)], 1, cv2.LINE_8, _SHIFT)
            # Slow deformation: drift phases and rotation, random-walk the amplitudes within a sane range.
            blob[3] = phase + omega
            blob[5] = rotation + spin
            blob[2] = np.clip(amp + rng.normal(0, 0.005 * deform, amp.size), 0, 0.3 / harmonics)
            mover.step(rng)
        masks[t] = _ensure_nonempty(canvas, blobs[0][7].center)
    return masks


def box_masks(
    num_frames: int,
    height: int,
    width: int,
    seed: int | np.random.Generator = 0,
    *,
    num_boxes: int = 1,
    moving: bool = False,
    min_area: float = 0.05,
    max_area: float = 0.2,
    speed: float = 0.01,
) -> np.ndarray:
    """Axis-aligned rectangles, fixed (default, the classic stationary evaluation mask) or moving.

    Args:
        num_frames: Number of frames T (>= 1).
        height: Frame height H (>= 1).
        width: Frame width W (>= 1).
        seed: Seed (or an existing Generator) for ``np.random.default_rng``.
        num_boxes: Number of boxes, sharing the target area; default 1.
        moving: If True the boxes move smoothly and bounce off the borders; default False (same box every frame).
        min_area: Lower end of the target hole fraction; default 0.05.
        max_area: Upper end of the target hole fraction; default 0.2.
        speed: Typical motion per frame as a fraction of ``min(H, W)`` when moving; default 0.01.

    Returns:
        Bool array ``(T, H, W)``, True = hole.
    """
    _check_common(num_frames, height, width, min_area, max_area, speed)
    if num_boxes < 1:
        raise InputError(f"num_boxes={num_boxes} must be >= 1")
    rng = np.random.default_rng(seed)
    area = rng.uniform(min_area, max_area) * height * width
    boxes = []
    for _ in range(num_boxes):
        aspect = rng.uniform(0.5, 2.0)
        box_w = min(float(width), max(1.0, math.sqrt(area / num_boxes * aspect)))
        box_h = min(float(height), max(1.0, area / num_boxes / box_w))
        mover = _Mover(rng, np.array([box_w, box_h]) / 2, height, width, speed * min(height, width) if moving else 0.0)
        boxes.append((box_w, box_h, mover))

    masks = np.zeros((num_frames, height, width), dtype=bool)
    for t in range(num_frames):
        for box_w, box_h, mover in boxes:
            x0 = max(0, int(round(mover.center[0] - box_w / 2)))
            y0 = max(0, int(round(mover.center[1] - box_h / 2)))
            masks[t, y0 : y0 + max(1, int(round(box_h))), x0 : x0 + max(1, int(round(box_w)))] = True
            mover.step(rng)
    return masks


class _Mover:
    """A point moving at constant speed with a slowly turning heading, bouncing off the frame borders.

    ``half_extent`` (x, y) is the shape's half size: the shape's bounding box is kept inside the frame, or its
    center in the middle when the shape is larger than the frame.
    """

    def __init__(self, rng: np.random.Generator, half_extent: np.ndarray, height: int, width: int, speed: float):
        size = np.array([width, height], dtype=float)
        self.lo = np.minimum(half_extent, size / 2)
        self.hi = np.maximum(size - half_extent, size / 2)
        self.center = rng.uniform(self.lo, self.hi)
        self.speed = speed * rng.uniform(0.5, 1.0)
        self.heading = rng.uniform(0, 2 * np.pi)

    def step(self, rng: np.random.Generator) -> None:
        self.heading += rng.normal(0, 0.1)  # gentle turning: smooth trajectories, not a random walk
        self.center = self.center + self.speed * np.array([math.cos(self.heading), math.sin(self.heading)])
        for axis in range(2):
            if self.center[axis] < self.lo[axis] or self.center[axis] > self.hi[axis]:
                self.center[axis] = np.clip(self.center[axis], self.lo[axis], self.hi[axis])
                # Reflect the heading's component along this axis.
                self.heading = np.pi - self.heading if axis == 0 else -self.heading


def _fixed(points: np.ndarray) -> np.ndarray:
    """(N, 2) float pixel coordinates -> int32 fixed point for cv2 drawing with ``shift=_SHIFT``."""
    return np.round(points * _SCALE).astype(np.int32)


def _ensure_nonempty(canvas: np.ndarray, center: np.ndarray) -> np.ndarray:
    """Bool frame from a drawing canvas; on tiny frames a sub-pixel shape may draw nothing, so mark its center."""
    frame = canvas.astype(bool)
    if not frame.any():
        height, width = frame.shape
        frame[min(height - 1, max(0, int(center[1]))), min(width - 1, max(0, int(center[0])))] = True
    return frame


def _check_common(num_frames: int, height: int, width: int, min_area: float, max_area: float, speed: float) -> None:
    if num_frames < 1 or height < 1 or width < 1:
        raise InputError(f"mask size T={num_frames}, H={height}, W={width}: all must be >= 1")
    if not 0 < min_area <= max_area <= 1:
        raise InputError(f"min_area={min_area}, max_area={max_area}: need 0 < min_area <= max_area <= 1")
    if speed < 0:
        raise InputError(f"speed={speed} must be >= 0 (fraction of the frame's short side per frame)")
