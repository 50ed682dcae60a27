"""Video reading and writing.

Frames leave and enter this module as uint8 RGB numpy arrays: one frame `(H, W, 3)`, several `(T, H, W, 3)`.
A "video" is any file PyAV can demux, or a folder of PNG/JPG frames (sorted by name, numbers in natural order).

Reading streams: `VideoReader` iterates frames or fixed-size chunks without holding the video in memory, and
`read(start, stop)` / `read_indices(...)` give random access (decord when installed, PyAV seeking otherwise; both
return the same pixels, see tests/test_video_io.py).
Writing is atomic: `VideoWriter` writes to a hidden sibling and renames it into place on `close()`.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Sequence

import av
import numpy as np
from PIL import Image

from videovq.errors import InputError
from videovq.io.atomic import AtomicOutput, check_output_path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
LOSSLESS_SUFFIXES = (".mkv",)
DEFAULT_FOLDER_FPS = Fraction(25)


@dataclass(frozen=True)
class VideoInfo:
    """What a video is, without decoding it.

    Args:
        path: the file or frame folder.
        num_frames: number of decodable frames (counted from the container's packets, not the header).
        height, width: frame size in pixels.
        fps: frame rate (frame folders report 25 unless the caller says otherwise).
        has_audio: the file carries at least one audio stream.
        codec: the video codec name, or "frames" for a frame folder.
    """

    path: Path
    num_frames: int
    height: int
    width: int
    fps: Fraction
    has_audio: bool
    codec: str

    @property
    def duration(self) -> float:
        return self.num_frames / float(self.fps)

    def describe(self) -> str:
        audio = "audio" if self.has_audio else "no audio"
        return (
            f"{self.path}: {self.num_frames} frames, {self.width}x{self.height}, {float(self.fps):g} fps, "
            f"{self.duration:.2f} s, {self.codec}, {audio}"
        )


def decord_available() -> bool:
    try:
        import decord  # noqa: F401
    except ImportError:
        return False
    return True


def probe(path: str | Path) -> VideoInfo:
    """Describe a video file or frame folder; raises `InputError` for anything that is not a readable video."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder; check the path")
    if path.is_dir():
        return _probe_folder(path)
    return _probe_file(path)[0]


def open_video(path: str | Path, backend: str = "auto") -> "VideoReader":
    """Open a video file or frame folder for streaming and random access.

    Args:
        path: a video file or a folder of PNG/JPG frames.
        backend: random-access backend for files: "auto" (decord when installed), "decord" or "pyav".
    """
    return VideoReader(path, backend=backend)


def read_video(path: str | Path) -> np.ndarray:
    """The whole video as `(T, H, W, 3)` uint8. Prefer `open_video(...)` for long videos."""
    with open_video(path) as reader:
        return reader.read_all()


class VideoReader:
    """Streams frames or chunks of a video, and reads frame ranges by index.

    Args:
        path: a video file or a folder of PNG/JPG frames.
        backend: random-access backend for files: "auto", "decord" or "pyav".
    """

    def __init__(self, path: str | Path, backend: str = "auto"):
        if backend not in ("auto", "decord", "pyav"):
            raise ValueError(f"backend={backend!r}: use 'auto', 'decord' or 'pyav'")
        if backend == "decord" and not decord_available():
            raise InputError("backend 'decord' requested but decord is not installed; pip install 'videovq[decord]'")
        path = Path(path)
        # Presentation timestamps of the frames (for PyAV seeking) come with probing a file: one demux pass.
        self._seek_index: np.ndarray | None = None
        if path.is_file():
            self.info, self._seek_index = _probe_file(path)
        else:
            self.info = probe(path)
        self.path = self.info.path
        self.frame_files = _folder_frames(self.path) if self.path.is_dir() else None
        use_decord = backend == "decord" or (backend == "auto" and decord_available())
        self.backend = "frames" if self.frame_files is not None else ("decord" if use_decord else "pyav")
        self._decord = None

    def __len__(self) -> int:
        return self.info.num_frames

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._decord = None

    # -- streaming ---------------------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[np.ndarray]:
        """Yield frames `(H, W, 3)` uint8 in order, decoding as it goes."""
        if self.frame_files is not None:
            for i, f in enumerate(self.frame_files):
                yield _read_image(f, self.info, i)
            return
        count = 0
        with _open_container(self.path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"  # frame-threaded decoding: what makes us match bare PyAV's speed
            try:
                for frame in container.decode(stream):
                    yield frame.to_ndarray(format="rgb24")
                    count += 1
            except av.error.FFmpegError as e:
                raise _corrupt(self.path, f"decoding failed after frame {count} ({e})") from None
        if count < self.info.num_frames:
            raise _corrupt(self.path, f"only {count} of {self.info.num_frames} frames could be decoded")

    def read_all(self) -> np.ndarray:
        """Every frame, decoded in order straight into one `(T, H, W, 3)` array (no list of frames beside it)."""
        out = np.empty((len(self), self.info.height, self.info.width, 3), np.uint8)
        start = 0
        for chunk in self.chunks(32):
            out[start : start + len(chunk)] = chunk
            start += len(chunk)
        return out

    def chunks(self, size: int) -> Iterator[np.ndarray]:
        """Yield consecutive chunks `(size, H, W, 3)`; the last one may be shorter."""
        if size < 1:
            raise ValueError(f"chunk size {size}: must be >= 1")
        buf: list[np.ndarray] = []
        for frame in self:
            buf.append(frame)
            if len(buf) == size:
                yield np.stack(buf)
                buf = []
        if buf:
            yield np.stack(buf)

    # -- random access -----------------------------------------------------------------------------------------
    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames `start <= i < stop` as `(stop - start, H, W, 3)` uint8."""
        n = len(self)
        if not 0 <= start < stop <= n:
            raise ValueError(f"{self.path}: frame range [{start}, {stop}) is outside [0, {n})")
        return self.read_indices(range(start, stop))

    def read_indices(self, indices: Sequence[int]) -> np.ndarray:
        """Frames at arbitrary indices (any order, repeats allowed) as `(len(indices), H, W, 3)` uint8."""
        idx = [int(i) for i in indices]
        n = len(self)
        bad = [i for i in idx if not 0 <= i < n]
        if bad:
            raise ValueError(f"{self.path}: frame indices {bad[:5]} are outside [0, {n})")
        if not idx:
            return np.zeros((0, self.info.height, self.info.width, 3), np.uint8)
        if self.backend == "frames":
            return np.stack([_read_image(self.frame_files[i], self.info, i) for i in idx])
        if self.backend == "decord":
            return self._read_decord(idx)
        return self._read_pyav(idx)

    def _read_decord(self, idx: list[int]) -> np.ndarray:
        import decord

        try:
            if self._decord is None:
                self._decord = decord.VideoReader(str(self.path), ctx=decord.cpu(0))
            return self._decord.get_batch(idx).asnumpy()
        except decord.DECORDError as e:
            # decord 0.6 fails on some valid files (e.g. frames narrower than 64 px); PyAV reads them.
            warnings.warn(
                f"{self.path}: decord failed ({str(e).splitlines()[-1][:100]}); reading with PyAV instead",
                stacklevel=3,
            )
            self._decord = None
            self.backend = "pyav"
            return self._read_pyav(idx)

    def _read_pyav(self, idx: list[int]) -> np.ndarray:
        pts = self._seek_index
        wanted = sorted(set(idx))
        frames: dict[int, np.ndarray] = {}
        with _open_container(self.path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            run_start = 0
            # One seek per run of nearby indices: decoding forward is cheaper than seeking for small gaps.
            while run_start < len(wanted):
                run_end = run_start
                while run_end + 1 < len(wanted) and wanted[run_end + 1] - wanted[run_end] <= 16:
                    run_end += 1
                first, last = wanted[run_start], wanted[run_end]
                container.seek(int(pts[first]), stream=stream, backward=True, any_frame=False)
                # Frame index = rank of its timestamp among all frames (exact for variable frame rate too).
                for frame in _decode_checked(container, stream, self.path):
                    if frame.pts is None or frame.pts < pts[first]:
                        continue
                    i = int(np.searchsorted(pts, frame.pts))
                    if i < len(pts) and pts[i] == frame.pts and i in wanted[run_start : run_end + 1]:
                        frames[i] = frame.to_ndarray(format="rgb24")
                    if frame.pts >= pts[last]:
                        break
                run_start = run_end + 1
        missing = [i for i in wanted if i not in frames]
        if missing:
            raise _corrupt(self.path, f"frames {missing[:5]} could not be decoded")
        return np.stack([frames[i] for i in idx])


class VideoWriter:
    """Write frames to a video file or PNG folder, atomically.

    The format follows the target: `.mp4`/`.mov`/`.m4v` -> H.264 (`crf` sets quality, 0 = best, 18 = visually
    lossless, 23 = x264's default), `.mkv` -> FFV1 lossless RGB (bit-exact round trip), a path without a suffix ->
    folder of PNG frames. `lossless=True` with an mp4 target uses H.264 RGB lossless (libx264rgb, qp 0).
    If `audio_from` names a file with audio, its first audio stream is copied across unchanged.

    Args:
        path: the output.
        fps: frame rate to store (keep the source's).
        crf: H.264 quality for lossy mp4.
        lossless: force lossless coding for an mp4 target.
        audio_from: a source video whose audio to copy.
        overwrite: replace an existing output.
        inputs: files this job reads; writing over them is refused.
    """

    def __init__(
        self,
        path: str | Path,
        fps: Fraction | float | int,
        *,
        crf: int = 18,
        lossless: bool = False,
        audio_from: str | Path | None = None,
        overwrite: bool = False,
        inputs: Sequence[str | Path] = (),
    ):
        self.path = check_output_path(path, inputs=[*inputs, *([audio_from] if audio_from else [])], overwrite=overwrite)
        if not 0 <= crf <= 51:
            raise InputError(f"crf={crf}: H.264 quality must be in [0, 51] (lower is better, 18 is a good default)")
        self.fps = Fraction(fps).limit_denominator(100000)
        if self.fps <= 0:
            raise InputError(f"fps={fps}: the frame rate must be positive")
        self.crf = crf
        self.lossless = lossless
        self.audio_from = Path(audio_from) if audio_from else None
        self.count = 0
        self._atomic = AtomicOutput(self.path, overwrite=overwrite)
        self._tmp = self._atomic.tmp
        self._container = None
        self._stream = None
        self._audio_in = None
        self._audio_stream = None
        self._is_folder = self.path.suffix == ""
        if self._is_folder:
            self._tmp.mkdir()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, frames: np.ndarray) -> None:
        """Append one frame `(H, W, 3)` or several `(T, H, W, 3)`, uint8 RGB."""
        frames = np.asarray(frames)
        if frames.ndim == 3:
            frames = frames[None]
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
        for frame in frames:
            if self._is_folder:
                Image.fromarray(frame).save(self._tmp / f"{self.count:06d}.png", compress_level=1)
            else:
                self._write_frame(frame)
            self.count += 1

    def close(self) -> Path:
        """Finish the file and move it into place."""
        if self.count == 0:
            self.abort()
            raise ValueError(f"{self.path}: no frames were written")
        if self._container is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._copy_audio()
            self._container.close()
            self._container = None
        return self._atomic.commit()

    def abort(self) -> None:
        """Drop the partial output; the target path is left as it was."""
        if self._container is not None:
            self._container.close()
            self._container = None
        if self._audio_in is not None:
            self._audio_in.close()
            self._audio_in = None
        self._atomic.discard()

    def _write_frame(self, frame: np.ndarray) -> None:
        if self._container is None:
            self._open(frame.shape[0], frame.shape[1])
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        vf.pts = self.count
        for packet in self._stream.encode(vf):
            self._container.mux(packet)

    def _open(self, height: int, width: int) -> None:
        suffix = self.path.suffix.lower()
        container = av.open(str(self._tmp), mode="w")
        try:
            if suffix in LOSSLESS_SUFFIXES:
                stream = container.add_stream("ffv1", rate=self.fps)
                stream.pix_fmt = "bgr0"  # RGB coded losslessly (FFV1 applies a reversible colour transform)
            elif self.lossless:
                stream = container.add_stream("libx264rgb", rate=self.fps)
                stream.pix_fmt = "rgb24"
                stream.options = {"qp": "0", "preset": "veryfast"}
            else:
                stream = container.add_stream("libx264", rate=self.fps)
                # 4:2:0 needs even sizes; odd sizes keep every pixel with 4:4:4 instead of padding or cropping.
                stream.pix_fmt = "yuv420p" if height % 2 == 0 and width % 2 == 0 else "yuv444p"
                stream.options = {"crf": str(self.crf), "preset": "medium"}
            stream.width, stream.height = width, height
            stream.time_base = Fraction(1) / self.fps
            self._container, self._stream = container, stream
            self._add_audio_stream()
        except av.error.FFmpegError as e:
            container.close()
            raise InputError(f"{self.path}: cannot write this format ({e}); use .mp4, .mkv or a folder") from None

    def _add_audio_stream(self) -> None:
        if self.audio_from is None or not probe(self.audio_from).has_audio:
            return
        self._audio_in = _open_container(self.audio_from)
        try:
            self._audio_stream = self._container.add_stream_from_template(self._audio_in.streams.audio[0])
        except (av.error.FFmpegError, ValueError) as e:
            raise InputError(
                f"{self.path}: cannot copy the audio of {self.audio_from} into this container ({e}); write .mkv"
            ) from None

    def _copy_audio(self) -> None:
        if self._audio_in is None:
            return
        audio = self._audio_in.streams.audio[0]
        for packet in self._audio_in.demux(audio):
            if packet.dts is None:  # the demuxer's end-of-stream marker
                continue
            packet.stream = self._audio_stream
            self._container.mux(packet)
        self._audio_in.close()
        self._audio_in = None


def write_video(
    path: str | Path,
    frames: np.ndarray,
    fps: Fraction | float | int,
    **options,
) -> Path:
    """Write a whole `(T, H, W, 3)` uint8 video at once; see `VideoWriter` for the formats and options."""
    with VideoWriter(path, fps, **options) as writer:
        writer.write(frames)
    return writer.path


# -- helpers ------------------------------------------------------------------------------------------------------
def _open_container(path: Path):
    try:
        return av.open(str(path), mode="r")
    except av.error.EOFError:
        raise InputError(f"{path}: the file ends before its first frame; pass a video with frames") from None
    except av.error.FFmpegError as e:
        raise _corrupt(path, f"it cannot be opened as a video ({e.strerror or e})") from None


def _corrupt(path: Path, what: str) -> InputError:
    return InputError(f"{path}: {what}; the file is corrupt, truncated or not a video - re-export or re-download it")


def _decode_checked(container, stream, path: Path):
    try:
        yield from container.decode(stream)
    except av.error.FFmpegError as e:
        raise _corrupt(path, f"decoding failed ({e})") from None


def _packet_pts(path: Path) -> np.ndarray:
    """Sorted presentation timestamps of every video packet: frame i is the i-th smallest."""
    with _open_container(path) as container:
        stream = container.streams.video[0]
        try:
            pts = [p.pts for p in container.demux(stream) if p.pts is not None and p.size > 0]
        except av.error.FFmpegError as e:
            raise _corrupt(path, f"demuxing failed ({e})") from None
    return np.sort(np.asarray(pts, dtype=np.int64))


def _probe_file(path: Path) -> tuple[VideoInfo, np.ndarray]:
    """The file's `VideoInfo` and its frames' sorted presentation timestamps (counting them is what probing costs)."""
    with _open_container(path) as container:
        if not container.streams.video:
            raise InputError(f"{path}: has no video stream; pass a video file or a folder of frames")
        stream = container.streams.video[0]
        has_audio = len(container.streams.audio) > 0
        width, height = stream.codec_context.width, stream.codec_context.height
        fps = stream.average_rate or stream.guessed_rate or stream.base_rate
        codec = stream.codec_context.name
        header_frames = stream.frames
    pts = _packet_pts(path)
    num_frames = len(pts)
    if num_frames == 0 or not width or not height:
        raise InputError(f"{path}: the video has no frames; pass a non-empty video")
    if header_frames and num_frames < header_frames:
        raise _corrupt(path, f"the header lists {header_frames} frames but only {num_frames} are present")
    rate = Fraction(fps) if fps else DEFAULT_FOLDER_FPS
    return VideoInfo(path, num_frames, height, width, rate, has_audio, codec), pts


def _folder_frames(path: Path) -> list[Path]:
    files = [p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")]
    # Natural order: frame2.png before frame10.png.
    return sorted(files, key=lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)])


def _probe_folder(path: Path) -> VideoInfo:
    files = _folder_frames(path)
    if not files:
        raise InputError(f"{path}: the folder holds no PNG/JPG frames; pass a video file or a folder of frames")
    try:
        with Image.open(files[0]) as im:
            width, height = im.size
    except OSError as e:
        raise InputError(f"{files[0]}: cannot read this image ({e}); replace or remove it") from None
    return VideoInfo(path, len(files), height, width, DEFAULT_FOLDER_FPS, False, "frames")


def _read_image(path: Path, info: VideoInfo, index: int) -> np.ndarray:
    try:
        with Image.open(path) as im:
            frame = np.asarray(im.convert("RGB"))
    except OSError as e:
        raise InputError(f"{path}: cannot read this image ({e}); replace or remove it") from None
    if frame.shape[:2] != (info.height, info.width):
        raise InputError(
            f"{path}: frame {index} is {frame.shape[1]}x{frame.shape[0]} but the first frame is "
            f"{info.width}x{info.height}; all frames of a folder must have one size"
        )
    return frame
