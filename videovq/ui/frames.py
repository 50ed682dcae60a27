"""The videos the page looks at: kept open for random access, recently decoded frames cached.

Frames are decoded one at a time (decord when installed, PyAV seeking otherwise), so scrubbing a long or large
video costs memory for the cached frames only; tracking decodes the whole clip, as `videovq mask track` does.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from videovq.io.video import VideoInfo, VideoReader, open_video


class OpenVideos:
    """Readers for the last `max_open` videos, and up to `cache_bytes` of their decoded frames.

    A file replaced on disk (new modification time) is opened afresh.
    """

    def __init__(self, max_open: int = 4, cache_bytes: int = 256 << 20):
        self._readers: OrderedDict[tuple, tuple[VideoReader, threading.Lock]] = OrderedDict()
        self._frames: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._cached, self._max_open, self._cache_bytes = 0, max_open, cache_bytes
        self._lock = threading.Lock()

    def info(self, path: Path) -> VideoInfo:
        return self._reader(path)[0].info

    def frame(self, path: Path, t: int) -> np.ndarray:
        """Frame t, uint8 `(H, W, 3)`."""
        key = (*self._key(path), t)
        with self._lock:
            if key in self._frames:
                self._frames.move_to_end(key)
                return self._frames[key]
        reader, lock = self._reader(path)
        with lock:  # one decoder is not safe to share between threads
            image = reader.read(t, t + 1)[0]
        with self._lock:
            self._frames[key] = image
            self._cached += image.nbytes
            while self._cached > self._cache_bytes and len(self._frames) > 1:
                self._cached -= self._frames.popitem(last=False)[1].nbytes
        return image

    def all_frames(self, path: Path) -> np.ndarray:
        """Every frame, uint8 `(T, H, W, 3)` (not cached)."""
        with open_video(path) as reader:
            return reader.read_all()

    def _key(self, path: Path) -> tuple:
        return (path, path.stat().st_mtime_ns)

    def _reader(self, path: Path) -> tuple[VideoReader, threading.Lock]:
        key = self._key(path)
        with self._lock:
            if key in self._readers:
                self._readers.move_to_end(key)
                return self._readers[key]
            entry = (open_video(path), threading.Lock())
            self._readers[key] = entry
            while len(self._readers) > self._max_open:
                old, _ = self._readers.popitem(last=False)[1]
                old.close()
            return entry
