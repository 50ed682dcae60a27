"""Frames and masks read by frame range, so an inpainting job never holds the whole video.

`read(start, stop)` gives frames `start <= i < stop` of the part being worked on (`first` shifts it inside the
file, for `--start`/`--end`). Arrays in memory and files on disk look the same to the pipeline. `within(box)` gives
the same source cut to a box of the frame: what the pipeline reads once it knows where the hole is, so that a
decoder's cache holds only the box's pixels (a logo's neighbourhood, not 4K frames).
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from videovq.errors import InputError
from videovq.inpaint.chunks import Box
from videovq.io.masks import _is_lossy, _load_image_mask, check_mask_size, dilate_mask
from videovq.io.video import IMAGE_SUFFIXES, VideoInfo, VideoReader, open_video, probe


class ArrayFrames:
    """Frames held in memory: uint8 (T, H, W, 3)."""

    def __init__(self, frames: np.ndarray):
        self.frames = frames
        self.num_frames, self.height, self.width = frames.shape[:3]

    def read(self, start: int, stop: int) -> np.ndarray:
        return self.frames[start:stop]

    def within(self, box: Box) -> "ArrayFrames":
        return ArrayFrames(self.frames[(slice(None), *box.slices)])


class ArrayMask:
    """A hole held in memory: bool (T, H, W)."""

    def __init__(self, hole: np.ndarray):
        self.hole = hole
        self.num_frames, self.height, self.width = hole.shape

    def read(self, start: int, stop: int) -> np.ndarray:
        return self.hole[start:stop]

    def within(self, box: Box, keep: int | None = None) -> "ArrayMask":
        """The hole cut to `box` (`keep` is for decoders; an array holds every frame)."""
        return ArrayMask(self.hole[(slice(None), *box.slices)])


class VideoFrames:
    """Frames `first <= i < first + num_frames` of an open video, decoded on demand.

    Reads that move forward are served by sequential decoders (one per reader of the part: fitting, chunks, output),
    each keeping its last `keep` frames for reads that step back a little (a chunk's overlap): random access into
    H.264 decodes from the previous keyframe on every read, 2.5-4.5x slower per frame at 1080p. A read that no
    decoder can serve uses random access.

    Args:
        reader: the open video.
        first, num_frames: the part to work on (default: all of it).
        keep: decoded frames each sequential decoder keeps.
        box: the part of every frame to give (None = all of it).
    """

    MAX_DECODERS = 3

    def __init__(
        self, reader: VideoReader, first: int = 0, num_frames: int | None = None, keep: int = 16, box: Box | None = None
    ):  # fmt: skip
        self.reader, self.first, self.keep = reader, first, keep
        self.num_frames = len(reader) - first if num_frames is None else num_frames
        self.box = box or Box(0, reader.info.height, 0, reader.info.width)
        self.height, self.width = self.box.height, self.box.width
        self._decoders: list[_Decoder] = []

    def within(self, box: Box) -> "VideoFrames":
        """This part of the video cut to `box` (in this source's coordinates), with decoders of its own."""
        return VideoFrames(self.reader, self.first, self.num_frames, self.keep, box.outside(self.box))

    def read(self, start: int, stop: int) -> np.ndarray:
        able = [d for d in self._decoders if d.lowest <= start]
        if able:
            decoder = max(able, key=lambda d: d.lowest)  # the one closest behind
        elif start == 0:
            if len(self._decoders) == self.MAX_DECODERS:
                self._decoders.remove(min(self._decoders, key=lambda d: d.next))
            decoder = _Decoder(self.reader, self.first, self.keep, self.box)
            self._decoders.append(decoder)
        else:
            frames = self.reader.read(self.first + start, self.first + stop)
            return np.ascontiguousarray(frames[(slice(None), *self.box.slices)])
        return decoder.read(start, stop)


class _Decoder:
    """One sequential pass over a part of a video, with a cache of its last `keep` frames."""

    def __init__(self, reader: VideoReader, first: int, keep: int, box: Box):
        self.frames = iter(reader)
        for _ in range(first):  # frames before the part
            next(self.frames)
        self.keep, self.next, self.slices = keep, 0, box.slices
        self.cache: dict[int, np.ndarray] = {}

    @property
    def lowest(self) -> int:
        return min(self.cache, default=self.next)

    def read(self, start: int, stop: int) -> np.ndarray:
        while self.next < stop:
            frame = next(self.frames)
            if self.next >= start or self.next >= stop - self.keep:
                self.cache[self.next] = np.ascontiguousarray(frame[self.slices])  # a copy: the full frame is freed
            self.next += 1
        out = np.stack([self.cache[i] for i in range(start, stop)])
        for i in [i for i in self.cache if i < self.next - self.keep]:
            del self.cache[i]
        return out


class MaskFile:
    """A mask file (video, frame folder or one image for every frame), read by frame range and dilated.

    Checked against the video when opened, so a mismatch is reported before any work. A mask video is decoded by
    sequential decoders like `VideoFrames` (PyAV: decord's memory grew with every frame read, by 3.5 GB over the
    1200 frames of a 1080p mask); cut to a box, they keep only the box and the dilation's margin around it.

    Args:
        path: the mask.
        like: the video it belongs to.
        resize: resize a mask of another size to the video's instead of refusing it.
        dilate: grow the hole by this many pixels.
        first, num_frames: the part to work on (default: all of it).
        keep: decoded frames each sequential decoder keeps for reads that step back (see `VideoFrames`).
    """

    def __init__(
        self, path: str | Path, like: VideoInfo, resize: bool = False, dilate: int = 0, first: int = 0,
        num_frames: int | None = None, keep: int = 0,
    ):  # fmt: skip
        self.path, self.like, self.resize, self.dilate, self.first = Path(path), like, resize, dilate, first
        self.num_frames = like.num_frames - first if num_frames is None else num_frames
        self.height, self.width = like.height, like.width
        if dilate < 0:
            raise InputError(f"--dilate {dilate}: the dilation must be >= 0 pixels")
        if not self.path.exists():
            raise InputError(f"{self.path}: no such mask file or folder; check the --mask path")
        self._image: np.ndarray | None = None
        self._reader: VideoReader | None = None
        self._frames: VideoFrames | None = None
        self._box: Box | None = None  # the part of the frame given, in the video's coordinates
        self._inner: Box | None = None  # that part inside what `_frames` decodes (the box plus the dilation margin)
        if self.path.is_file() and self.path.suffix.lower() in IMAGE_SUFFIXES:
            self._image = self._prepare(_load_image_mask(self.path)[None])[0]
            return
        info = probe(self.path)
        if info.num_frames != like.num_frames:
            raise InputError(
                f"{self.path}: the mask has {info.num_frames} frames but {like.path} has {like.num_frames}; "
                "pass a mask with one frame per video frame (or a single image for all frames)"
            )
        self._reader = open_video(self.path, backend="pyav")
        self._frames = VideoFrames(self._reader, first, self.num_frames, keep)
        self._threshold = 127 if _is_lossy(self._reader) else 0
        self.read(0, 1)  # checks the size now

    def read(self, start: int, stop: int) -> np.ndarray:
        if self._image is not None:
            image = self._image[self._box.slices] if self._box else self._image
            return np.broadcast_to(image, (stop - start, *image.shape))
        hole = self._frames.read(start, stop).max(axis=-1) > self._threshold
        if self._inner is not None:  # a crop with its dilation margin: dilated, then cut (the same pixels)
            return dilate_mask(hole, self.dilate)[(slice(None), *self._inner.slices)]
        hole = self._prepare(hole)  # dilated whole, then cut
        return hole[(slice(None), *self._box.slices)] if self._box else hole

    def within(self, box: Box, keep: int | None = None) -> "MaskFile":
        """The mask cut to `box` (in this mask's coordinates), read by decoders of its own that keep `keep` frames
        (default: as many as this one's); it shares this one's file (close this one)."""
        cut = copy.copy(self)
        cut._box = box.outside(self._box) if self._box else box
        cut.height, cut.width = box.height, box.width
        if self._frames is None:  # one image for every frame
            return cut
        keep = self._frames.keep if keep is None else keep
        if (self._reader.info.height, self._reader.info.width) == (self.like.height, self.like.width):
            grown = cut._box.grown(self.dilate, self.like.height, self.like.width)
            cut._frames = VideoFrames(self._reader, self.first, self.num_frames, keep, grown)
            cut._inner = cut._box.inside(grown)
        else:  # every frame is read whole, resized to the video's size, then cut
            cut._frames = VideoFrames(self._reader, self.first, self.num_frames, keep)
        return cut

    def _prepare(self, mask: np.ndarray) -> np.ndarray:
        return dilate_mask(check_mask_size(mask, self.like, self.path, self.resize), self.dilate)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
