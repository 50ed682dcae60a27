"""Where and when an inpainting job works: temporal chunks, the hole's box in each, the frames fitting samples.

A job is cut into overlapping chunks of frames (`videovq.windows`: each frame is owned by one chunk, the
overlap is context). Inside a chunk only the hole's bounding box plus a margin is processed: pixels further
away are never changed and rarely matter to the fill, so a logo on 4K footage costs what it costs on a small clip.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from videovq.windows import Window


class Box(NamedTuple):
    """Rows y0 <= y < y1 and columns x0 <= x < x1 of a frame."""

    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    def inside(self, outer: "Box") -> "Box":
        """This box in the coordinates of `outer` (which contains it)."""
        return Box(self.y0 - outer.y0, self.y1 - outer.y0, self.x0 - outer.x0, self.x1 - outer.x0)

    def outside(self, outer: "Box") -> "Box":
        """This box, given in the coordinates of `outer`, in the coordinates `outer` is given in."""
        return Box(self.y0 + outer.y0, self.y1 + outer.y0, self.x0 + outer.x0, self.x1 + outer.x0)

    def grown(self, margin: int, height: int, width: int) -> "Box":
        """This box with `margin` px more on every side, clipped to a height x width frame."""
        return Box(max(0, self.y0 - margin), min(height, self.y1 + margin), max(0, self.x0 - margin), min(width, self.x1 + margin))


class HoleScan(NamedTuple):
    """Per frame: the hole's bounding box (y0, y1, x0, x1; all -1 where the frame has no hole) and pixel count."""

    boxes: np.ndarray  # int64 (T, 4)
    counts: np.ndarray  # int64 (T,)

    def box(self, start: int, stop: int) -> Box | None:
        """The union of the boxes of frames [start, stop), or None if they have no hole."""
        b = self.boxes[start:stop]
        b = b[b[:, 0] >= 0]
        if len(b) == 0:
            return None
        return Box(int(b[:, 0].min()), int(b[:, 1].max()), int(b[:, 2].min()), int(b[:, 3].max()))


def scan_hole(mask) -> HoleScan:
    """One pass over a mask source (`read(start, stop)` -> bool (t, H, W)): boxes and pixel counts per frame."""
    # A few frames at a time: a mask video is decoded to RGB first (25 MB a frame at 4K).
    batch = max(1, min(64, (64 << 20) // (mask.height * mask.width * 3)))
    boxes = np.full((mask.num_frames, 4), -1, np.int64)
    counts = np.zeros(mask.num_frames, np.int64)
    for start in range(0, mask.num_frames, batch):
        hole = np.asarray(mask.read(start, min(start + batch, mask.num_frames)))
        rows, cols = hole.any(axis=2), hole.any(axis=1)  # (t, H), (t, W)
        for i in np.nonzero(rows.any(axis=1))[0]:
            ys, xs = np.nonzero(rows[i])[0], np.nonzero(cols[i])[0]
            boxes[start + i] = (ys[0], ys[-1] + 1, xs[0], xs[-1] + 1)
        counts[start : start + len(hole)] = hole.sum(axis=(1, 2))
    return HoleScan(boxes, counts)


def plan_chunks(num_frames: int, size: int, overlap: int, box_pixels: int, max_pixels: int | None) -> list[Window]:
    """Chunks of at most `size` frames, consecutive ones sharing `overlap` frames, and no frame in three chunks.

    A chunk's `own_start` is the middle of its overlap with the chunk before: the frames before it are carried in
    finished (what the earlier chunk propagated there is known content). The whole overlap is cross-faded from one
    chunk's fill to the next's, which needs each frame to be in at most two chunks.

    Args:
        num_frames: frames in the job.
        size: frames per chunk (>= 1).
        overlap: frames shared by consecutive chunks (clipped to fewer than half of `size`).
        box_pixels: pixels of the largest box a chunk will process (bounds memory per frame).
        max_pixels: pixels a chunk may hold in all (None = no limit); never fewer than 2 * overlap + 1 frames.
    """
    if max_pixels is not None:
        size = min(size, max(2 * overlap + 1, max_pixels // max(1, box_pixels)))
    if num_frames <= size:
        return [Window(0, num_frames, 0, num_frames)]
    overlap = min(overlap, (size - 1) // 2)
    count = -(-(num_frames - overlap) // (size - overlap))  # chunks needed at full size
    # Spread the frames evenly over that many chunks, but step at least `overlap` frames (no frame in three chunks);
    # the last chunk is then shorter.
    step = max(overlap, -(-(num_frames - overlap) // count), 1)
    starts = list(range(0, num_frames - overlap, step))
    stops = [min(start + step + overlap, num_frames) for start in starts]
    cuts = [0] + [(starts[i + 1] + stops[i]) // 2 for i in range(len(starts) - 1)] + [num_frames]
    return [Window(starts[i], stops[i], cuts[i], cuts[i + 1]) for i in range(len(starts))]


def seam_pairs(chunks: list[Window]) -> list[range]:
    """Per pair of consecutive chunks, the frames t whose pair (t - 1, t) passes from one chunk's fill to the next's:
    from the pair entering the frames they share (which are cross-faded) to the pair leaving them."""
    return [range(b.start, a.stop + 1) for a, b in zip(chunks, chunks[1:])]


def sample_segments(num_frames: int, max_frames: int, segment: int) -> list[tuple[int, int]]:
    """Frame ranges to fit the per-video models on: all frames if at most `max_frames`, else evenly spread segments.

    Fitting cost and memory then stay flat in the video's length. Segments are `segment` frames long (so training
    windows inside one are consecutive frames) and never overlap.
    """
    if num_frames <= max_frames:
        return [(0, num_frames)]
    segment = max(1, min(segment, max_frames))
    count = max(1, max_frames // segment)
    starts = np.linspace(0, num_frames - segment, count).round().astype(int)
    return [(int(s), int(s) + segment) for s in starts]
