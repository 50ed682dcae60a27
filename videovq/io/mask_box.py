"""Rectangle masks people draw: static boxes (logos, subtitles, tickers) and keyframed moving boxes.

A box is `Rect(x, y, w, h)` in pixels, (x, y) its top-left corner. A keyframed box holds a rectangle at some frames
and is interpolated linearly between them; before its first keyframe and after its last it keeps that keyframe's
rectangle. A static box is a keyframed box with one keyframe.

On the command line a box is `x,y,w,h` (every frame) or `FRAME:x,y,w,h` (one keyframe of the moving box).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from videovq.errors import InputError


@dataclass(frozen=True)
class Rect:
    """An axis-aligned rectangle in pixels: top-left corner (x, y), width w, height h (floats allowed)."""

    x: float
    y: float
    w: float
    h: float

    def pixels(self, height: int, width: int) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) integer bounds, clipped to a `height` x `width` frame (x1, y1 exclusive).

        Both edges are rounded on their own (not x and w), so an interpolated box's edges move smoothly.
        """
        x0, y0 = _round(self.x), _round(self.y)
        x1, y1 = _round(self.x + self.w), _round(self.y + self.h)
        return max(0, x0), max(0, y0), min(width, x1), min(height, y1)

    def lerp(self, other: "Rect", a: float) -> "Rect":
        """The rectangle a fraction `a` of the way from self to other (0 = self, 1 = other)."""
        return Rect(*(p + a * (q - p) for p, q in zip(self.astuple(), other.astuple())))

    def astuple(self) -> tuple[float, float, float, float]:
        return (self.x, self.y, self.w, self.h)


class BoxTrack:
    """One box over time, from keyframes {frame: Rect}: linear between keyframes, held outside them.

    Args:
        keys: at least one keyframe; frames are 0-based.
        hold: keep the first/last keyframe's box before/after them; False = no box outside the keyframes (a
            tracked object that was only followed over part of the clip).
    """

    def __init__(self, keys: Mapping[int, Rect], hold: bool = True):
        if not keys:
            raise InputError("a box needs at least one rectangle")
        for frame, rect in keys.items():
            if frame < 0:
                raise InputError(f"box keyframe {frame}: frames count from 0")
            if rect.w <= 0 or rect.h <= 0:
                raise InputError(f"box {_format(rect)} at frame {frame}: width and height must be positive")
        self.frames = sorted(keys)
        self.keys = {f: keys[f] for f in self.frames}
        self.hold = hold

    def rect_at(self, t: int) -> Rect | None:
        """The box at frame t (None outside the keyframes when not held)."""
        frames = self.frames
        if not self.hold and not frames[0] <= t <= frames[-1]:
            return None
        if t <= frames[0]:
            return self.keys[frames[0]]
        if t >= frames[-1]:
            return self.keys[frames[-1]]
        i = int(np.searchsorted(frames, t, side="right"))  # frames[i-1] <= t < frames[i]
        f0, f1 = frames[i - 1], frames[i]
        return self.keys[f0].lerp(self.keys[f1], (t - f0) / (f1 - f0))


def box_mask(tracks: Sequence[BoxTrack], num_frames: int, height: int, width: int) -> np.ndarray:
    """Rasterise boxes into a hole mask: bool `(T, H, W)`, True inside any box."""
    if num_frames < 1 or height < 1 or width < 1:
        raise InputError(f"mask size T={num_frames}, H={height}, W={width}: all must be >= 1")
    mask = np.zeros((num_frames, height, width), dtype=bool)
    for track in tracks:
        last = track.frames[-1]
        if last >= num_frames:
            raise InputError(f"box keyframe {last}: the video has frames 0..{num_frames - 1}")
        for t in range(num_frames):
            rect = track.rect_at(t)
            if rect is not None:
                x0, y0, x1, y1 = rect.pixels(height, width)
                mask[t, y0:y1, x0:x1] = True
    return mask


def parse_rect(text: str) -> tuple[int | None, Rect]:
    """`x,y,w,h` -> (None, Rect); `FRAME:x,y,w,h` -> (FRAME, Rect)."""
    frame = None
    body = text
    if ":" in text:
        head, body = text.split(":", 1)
        try:
            frame = int(head)
        except ValueError:
            raise InputError(f"--rect {text}: before ':' goes the keyframe's number, e.g. 12:10,20,64,32") from None
    try:
        values = [float(v) for v in body.split(",")]
    except ValueError:
        values = []
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise InputError(f"--rect {text}: write a box as x,y,w,h (pixels) or FRAME:x,y,w,h, e.g. 10,20,64,32")
    return frame, Rect(*values)


def tracks_from_rects(texts: Sequence[str]) -> list[BoxTrack]:
    """CLI boxes -> tracks: every `x,y,w,h` is a static box; all `FRAME:x,y,w,h` together form one moving box."""
    tracks, keys = [], {}
    for text in texts:
        frame, rect = parse_rect(text)
        if frame is None:
            tracks.append(BoxTrack({0: rect}))
        elif frame in keys:
            raise InputError(f"--rect {text}: frame {frame} has two keyframes; give each frame one rectangle")
        else:
            keys[frame] = rect
    if keys:
        tracks.append(BoxTrack(keys))
    return tracks


def _round(v: float) -> int:
    return int(math.floor(v + 0.5))  # half up, not Python's half-to-even: edges move monotonically


def _format(rect: Rect) -> str:
    return ",".join(f"{v:g}" for v in rect.astuple())
