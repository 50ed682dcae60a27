"""Overlapping temporal windows, written once and shared by fitting, prediction and decoding.

A long video is processed window by window so memory stays flat in its length. Windows overlap by `overlap`
frames: each frame is *owned* by exactly one window (the one where it sits farthest from an edge), and the
overlapping frames give every window context from its neighbours.
"""

from __future__ import annotations

from typing import NamedTuple


class Window(NamedTuple):
    start: int  # first frame the window reads
    stop: int  # one past the last frame it reads
    own_start: int  # first frame whose result this window keeps
    own_stop: int  # one past the last frame it keeps

    @property
    def size(self) -> int:
        return self.stop - self.start

    @property
    def own_slice(self) -> slice:
        """The owned frames, relative to the window's start."""
        return slice(self.own_start - self.start, self.own_stop - self.start)


def temporal_windows(num_frames: int, size: int, overlap: int) -> list[Window]:
    """Cover `num_frames` with windows of `size` frames overlapping by `overlap`.

    Owned ranges tile [0, num_frames) exactly once; a video no longer than `size` is a single window.

    Args:
        num_frames: frames in the video (>= 1).
        size: frames per window (>= 1).
        overlap: frames shared by consecutive windows (0 <= overlap < size).
    """
    if num_frames < 1 or size < 1 or not 0 <= overlap < size:
        raise ValueError(f"need num_frames >= 1, size >= 1 and 0 <= overlap < size; got {num_frames}, {size}, {overlap}")
    if num_frames <= size:
        return [Window(0, num_frames, 0, num_frames)]
    step = size - overlap
    starts = list(range(0, num_frames - size, step)) + [num_frames - size]
    # Split each overlap in the middle: frames go to the window where they have more context.
    cuts = [0] + [(starts[i + 1] + starts[i] + size) // 2 for i in range(len(starts) - 1)] + [num_frames]
    return [Window(start, start + size, cuts[i], cuts[i + 1]) for i, start in enumerate(starts)]
