"""Training clips: random fixed-size clips from videos, still images and procedural video.

A `ClipSampler` holds a list of sources and draws one clip ``(3, T, H, W)`` float in [-1, 1] at a time from a
randomly chosen (weighted) source. Sources, built from strings by `build_sources`:

* a **video file** or a **frame folder** (a folder of PNG/JPG frames, as everywhere in videovq): a random window of
  ``clip_len`` consecutive frames (temporal stride 1 or 2 at random, where the video is long enough), a random
  crop of the clip's aspect ratio covering 50-100 % of the largest such crop, resized to the clip size
  (``cv2.INTER_AREA`` when shrinking), and a random horizontal flip. ``frame_range`` / ``held_out`` restrict which
  frames may be used, e.g. to keep the last frames of a video for evaluation.
* ``images:FOLDER`` (every image below FOLDER, recursively, each a separate still) or a **single image file**: each
  still becomes a clip by a synthetic camera move, a crop window interpolated between two random windows (pan and
  zoom, linear or eased), resampled at sub-pixel precision with ``cv2.warpAffine`` after one anti-aliased
  pre-shrink.
* ``procedural``: clips rendered by `videovq.data.procedural.procedural_clip` with a seed drawn from the rng.
* a **corpus folder** (one holding ``corpus.json``, built by ``videovq data corpus``): its training clips, photos
  and bundled-clip frames (`corpus_sources`).

Determinism: a clip depends only on the ``np.random.Generator`` passed to `ClipSampler.sample` (no torch or global
random state, and caches never change results), so a trainer can resume exactly after a crash with
``sample_batch(sampler, np.random.default_rng([seed, step, rank]), batch_size)``.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from videovq.config import AT_LEAST_ONE, FRACTION, NON_NEGATIVE, Range, check_ranges
from videovq.data import sample_video_path
from videovq.data.procedural import _options as _procedural_options
from videovq.data.procedural import procedural_clip
from videovq.errors import InputError
from videovq.io.tensors import uint8_to_video
from videovq.io.video import IMAGE_SUFFIXES, VideoReader, probe

__all__ = [
    "IMAGES_PREFIX",
    "PROCEDURAL",
    "ClipSampler",
    "ClipSource",
    "ClipSpec",
    "ImageSource",
    "VideoDataConfig",
    "ProceduralSource",
    "VideoSource",
    "build_sources",
    "corpus_sources",
    "hold_out_range",
    "make_sampler",
    "sample_batch",
    "sample_frame_batch",
]

PROCEDURAL = "procedural"
IMAGES_PREFIX = "images:"


def hold_out_range(num_frames: int, held_out: int) -> tuple[int, int]:
    """The frame range ``[start, stop)`` left for training when the last `held_out` frames are kept for evaluation."""
    if held_out < 0:
        raise InputError(f"held_out={held_out}: the number of held-out frames must be >= 0")
    if held_out >= num_frames:
        raise InputError(
            f"held_out={held_out} frames leaves nothing of a {num_frames}-frame video to train on; hold out fewer"
        )
    return 0, num_frames - held_out


@dataclass(frozen=True)
class ClipSpec:
    """What a sampler asks of a source: clip size and augmentation ranges (see `ClipSampler`)."""

    clip_len: int
    height: int
    width: int
    strides: tuple[int, ...] = (1, 2)
    scale: tuple[float, float] = (0.5, 1.0)
    flip: bool = True
    image_pan_speed: float = 0.015
    image_zoom: float = 1.3


class ClipSource:
    """One place clips come from. Subclasses implement `check` and `sample`."""

    name: str = "?"
    weight: float = 1.0

    def check(self, spec: ClipSpec) -> None:
        """Raise `InputError` if this source cannot provide clips of this spec."""

    def sample(self, rng: np.random.Generator, spec: ClipSpec) -> np.ndarray:
        """One clip, uint8 ``(clip_len, height, width, 3)``, drawn from `rng` only."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, weight={self.weight:g})"


class VideoSource(ClipSource):
    """Random windows of a video file or frame folder.

    Args:
        path: the video file or frame folder.
        frame_range: ``(start, stop)``: only frames ``start <= i < stop`` are ever used; default all.
        weight: relative probability of this source in a sampler.
        backend: random-access backend, as in `videovq.io.video.open_video`.
        cache_mb: if the usable frames take at most this many MiB decoded, they are decoded once (at the first
            sample) and kept in memory, which makes sampling short videos much faster; 0 disables. Default 512.
    """

    def __init__(
        self,
        path: str | Path,
        frame_range: tuple[int, int] | None = None,
        weight: float = 1.0,
        backend: str = "auto",
        cache_mb: float = 512,
    ):
        self.path = Path(path)
        self.info = probe(self.path)  # InputError for a missing or unreadable video
        n = self.info.num_frames
        start, stop = (0, n) if frame_range is None else (int(frame_range[0]), int(frame_range[1]))
        if not 0 <= start < stop <= n:
            raise InputError(
                f"{self.path}: frame_range=({start}, {stop}) is outside the video's {n} frames; "
                f"use 0 <= start < stop <= {n}"
            )
        self.frame_range = (start, stop)
        self.name = str(self.path)
        self.weight = float(weight)
        self.backend = backend
        self.cache_mb = cache_mb
        self._reader: VideoReader | None = None
        self._reader_pid = -1
        self._frames: np.ndarray | None = None  # decoded frame_range, when cached

    @property
    def reader(self) -> VideoReader:
        """The open reader, reopened in a forked worker process (decoder handles must not cross a fork)."""
        if self._reader is None or self._reader_pid != os.getpid():
            self._reader = VideoReader(self.path, backend=self.backend)
            self._reader_pid = os.getpid()
        return self._reader

    def __getstate__(self):  # picklable for DataLoader workers started with spawn
        state = self.__dict__.copy()
        state["_reader"], state["_reader_pid"], state["_frames"] = None, -1, None
        return state

    def _strides(self, spec: ClipSpec) -> list[int]:
        usable = self.frame_range[1] - self.frame_range[0]
        return [s for s in spec.strides if (spec.clip_len - 1) * s + 1 <= usable]

    def check(self, spec: ClipSpec) -> None:
        if not self._strides(spec):
            start, stop = self.frame_range
            n = self.info.num_frames
            where = "" if (start, stop) == (0, n) else f" (frames {start}-{stop - 1} of {n})"
            raise InputError(
                f"{self.path}: has {stop - start} usable frames{where} but clip_len={spec.clip_len} needs at least "
                f"{spec.clip_len}; use a shorter clip_len or a longer video"
            )

    def _read(self, indices: range) -> np.ndarray:
        lo, hi = self.frame_range
        if self._frames is None and (hi - lo) * self.info.height * self.info.width * 3 <= self.cache_mb * 2**20:
            self._frames = self.reader.read(lo, hi)
        if self._frames is not None:
            return self._frames[indices.start - lo : indices.stop - lo : indices.step]
        return self.reader.read_indices(indices)

    def sample(self, rng: np.random.Generator, spec: ClipSpec) -> np.ndarray:
        strides = self._strides(spec)
        stride = strides[int(rng.integers(len(strides)))]
        span = (spec.clip_len - 1) * stride + 1
        lo, hi = self.frame_range
        first = int(rng.integers(lo, hi - span + 1))
        box = _random_crop(rng, self.info.height, self.info.width, spec)
        flip = spec.flip and bool(rng.random() < 0.5)
        frames = self._read(range(first, first + span, stride))
        y0, x0, ch, cw = box
        out = np.empty((spec.clip_len, spec.height, spec.width, 3), np.uint8)
        for i, frame in enumerate(frames):
            out[i] = _resize(frame[y0 : y0 + ch, x0 : x0 + cw], spec.height, spec.width)
        return out[:, :, ::-1] if flip else out


class ImageSource(ClipSource):
    """Still images turned into clips by a smooth synthetic pan/zoom.

    Args:
        paths: image files.
        name: label for messages (the folder).
        weight: relative probability of this source in a sampler.
        cache_size: decoded images kept in memory (results never depend on it).
    """

    def __init__(self, paths: Sequence[str | Path], name: str = "images", weight: float = 1.0, cache_size: int = 64):
        self.paths = [Path(p) for p in paths]
        if not self.paths:
            raise InputError(f"{name}: holds no images ({', '.join(IMAGE_SUFFIXES)}); pass a folder with images")
        self.name = name
        self.weight = float(weight)
        self.cache_size = cache_size
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    @classmethod
    def from_folder(cls, folder: str | Path, weight: float = 1.0) -> ImageSource:
        """Every image below `folder` (recursively, hidden files skipped), in sorted order."""
        folder = Path(folder)
        if not folder.is_dir():
            raise InputError(f"{folder}: no such folder; '{IMAGES_PREFIX}PATH' needs a folder of images")
        files = sorted(
            p
            for p in folder.rglob("*")
            if p.suffix.lower() in IMAGE_SUFFIXES
            and p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        )
        if not files:
            raise InputError(f"{folder}: the image folder holds no images ({', '.join(IMAGE_SUFFIXES)}); add some")
        return cls(files, name=str(folder), weight=weight)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_cache"] = OrderedDict()
        return state

    def _image(self, index: int) -> np.ndarray:
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        path = self.paths[index]
        try:
            with Image.open(path) as im:
                image = np.asarray(im.convert("RGB"))
        except OSError as e:
            raise InputError(f"{path}: cannot read this image ({e}); replace or remove it") from None
        self._cache[index] = image
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return image

    def check(self, spec: ClipSpec) -> None:
        if len(self.paths) == 1:
            self._image(0)  # a single image: fail early if unreadable

    def sample(self, rng: np.random.Generator, spec: ClipSpec) -> np.ndarray:
        index = int(rng.integers(len(self.paths)))
        image = self._image(index)
        return pan_zoom_clip(image, rng, spec)


class ProceduralSource(ClipSource):
    """Procedural video (`videovq.data.procedural`), a fresh seed from the rng for every clip.

    Args:
        weight: relative probability of this source in a sampler.
        **options: options of `procedural_clip`.
    """

    def __init__(self, weight: float = 1.0, **options):
        _procedural_options(options)  # InputError for unknown options, now rather than at the first sample
        self.options = options
        self.name = PROCEDURAL
        self.weight = float(weight)

    def sample(self, rng: np.random.Generator, spec: ClipSpec) -> np.ndarray:
        seed = int(rng.integers(2**63))
        return procedural_clip(spec.clip_len, spec.height, spec.width, seed=seed, **self.options)


def build_sources(
    paths: Sequence[str | Path],
    procedural_weight: float = 0.0,
    *,
    weights: Sequence[float] | None = None,
    held_out: int = 0,
    procedural_options: dict | None = None,
) -> list[ClipSource]:
    """Sources from strings.

    Args:
        paths: each one of: a video file or frame folder; ``"images:FOLDER"`` for a folder of separate stills; an
            image file; ``"procedural"``.
        procedural_weight: fraction of all clips (in [0, 1]) to draw from procedural video, added as one more source
            on top of `paths`; default 0 (none). 1 means procedural video only.
        weights: relative weight of each path (default 1 each); the procedural share is applied on top.
        held_out: the last `held_out` frames of every video are never used (kept for evaluation).
        procedural_options: options for `procedural_clip`.

    Returns:
        A list of sources, each with its ``weight``.
    """
    if not 0 <= procedural_weight <= 1:
        raise InputError(f"procedural_weight={procedural_weight}: must be a fraction in [0, 1]")
    if weights is not None and len(weights) != len(paths):
        raise InputError(f"weights has {len(weights)} entries but there are {len(paths)} paths; give one per path")
    popts = dict(procedural_options or {})
    sources: list[ClipSource] = []
    for i, entry in enumerate(paths):
        weight = 1.0 if weights is None else float(weights[i])
        if weight < 0:
            raise InputError(f"weight {weight} for {entry}: weights must be >= 0")
        text = str(entry)
        if text == PROCEDURAL:
            sources.append(ProceduralSource(weight, **popts))
        elif text.startswith(IMAGES_PREFIX):
            sources.append(ImageSource.from_folder(text[len(IMAGES_PREFIX) :], weight=weight))
        else:
            path = Path(entry)
            if not path.exists():
                raise InputError(f"{path}: no such file or folder; check the path")
            if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                sources.append(ImageSource([path], name=str(path), weight=weight))
            elif path.is_dir() and (path / "corpus.json").exists():  # a corpus folder: its training half
                for source in corpus_sources(path):
                    source.weight *= weight
                    sources.append(source)
            else:
                frame_range = hold_out_range(probe(path).num_frames, held_out) if held_out else None
                sources.append(VideoSource(path, frame_range=frame_range, weight=weight))
    if procedural_weight > 0:
        others = sum(s.weight for s in sources)
        if procedural_weight == 1 or others == 0:
            sources = [ProceduralSource(1.0, **popts)]
        else:
            sources.append(ProceduralSource(others * procedural_weight / (1 - procedural_weight), **popts))
    if not sources:
        raise InputError("no training sources: pass video files, frame folders, 'images:FOLDER' or 'procedural'")
    return sources


def corpus_sources(folder: str | Path, split: str = "train") -> list[ClipSource]:
    """Sources for one split of a corpus (`videovq data corpus`): every clip, the photos (camera moves drawn at
    random by the sampler) and the bundled clip's frames of that split."""
    from videovq.data.corpus import load_manifest  # corpus.py renders clips; it never needs the sampler

    folder = Path(folder)
    manifest = load_manifest(folder)
    clips = [c for c in manifest["clips"] if c["split"] == split]
    # cache_mb=0: hundreds of short clips would otherwise each keep their decoded frames in memory.
    sources = [VideoSource(folder / c["frames"], weight=1.0, cache_mb=0) for c in clips]
    photos = [folder / c["photo"] for c in manifest["candidates"] if c["kept"] and c["split"] == split]
    if photos:
        sources.append(ImageSource(photos, name=f"{folder}/photos/{split}", weight=float(len(photos))))
    start, stop = manifest["bundled"][split]
    sources.append(VideoSource(sample_video_path(), frame_range=(start, stop), weight=4.0))
    return sources


class ClipSampler:
    """Draws fixed-size training clips from weighted sources.

    Args:
        sources: `ClipSource` objects and/or strings/paths (each passed to `build_sources`).
        clip_len: frames per clip T.
        size: output size, an int (square) or ``(height, width)``.
        weights: relative weight per source; default each source's ``weight``.
        strides: temporal strides to choose from for videos (those the video is long enough for); default (1, 2).
        scale: crop size range as a fraction of the largest crop of the clip's aspect ratio; default (0.5, 1.0).
        flip: random horizontal flips; default True.
        image_pan_speed: maximum pan per frame for stills, as a fraction of the clip's short side; default 0.015.
        image_zoom: maximum zoom ratio between the first and last frame for stills; default 1.3.
    """

    def __init__(
        self,
        sources: Sequence[ClipSource | str | Path],
        clip_len: int,
        size: int | tuple[int, int],
        *,
        weights: Sequence[float] | None = None,
        strides: Sequence[int] = (1, 2),
        scale: tuple[float, float] = (0.5, 1.0),
        flip: bool = True,
        image_pan_speed: float = 0.015,
        image_zoom: float = 1.3,
    ):
        if isinstance(sources, (str, Path, ClipSource)):
            sources = [sources]
        sources = [
            s for entry in sources for s in ([entry] if isinstance(entry, ClipSource) else build_sources([entry]))
        ]
        if not sources:
            raise InputError("no training sources given")
        height, width = (size, size) if isinstance(size, (int, np.integer)) else (int(size[0]), int(size[1]))
        if clip_len < 1 or height < 8 or width < 8:
            raise InputError(f"clip_len={clip_len}, size={height}x{width}: need clip_len >= 1 and sides >= 8")
        strides = tuple(int(s) for s in strides)
        if not strides or min(strides) < 1:
            raise InputError(f"strides={strides}: give temporal strides >= 1")
        if not 0 < scale[0] <= scale[1] <= 1:
            raise InputError(f"scale={scale}: use a range (lo, hi) with 0 < lo <= hi <= 1")
        if image_pan_speed < 0 or image_zoom < 1:
            raise InputError(f"image_pan_speed={image_pan_speed}, image_zoom={image_zoom}: need >= 0 and >= 1")
        self.sources = list(sources)
        self.spec = ClipSpec(
            clip_len,
            height,
            width,
            strides,
            (float(scale[0]), float(scale[1])),
            flip,
            float(image_pan_speed),
            float(image_zoom),
        )
        w = np.array([s.weight for s in self.sources] if weights is None else list(weights), np.float64)
        if len(w) != len(self.sources) or (w < 0).any() or w.sum() <= 0:
            raise InputError(f"weights={w.tolist()}: give one weight >= 0 per source, not all zero")
        self.probs = w / w.sum()
        for source, p in zip(self.sources, self.probs):
            if p > 0:
                source.check(self.spec)

    @property
    def clip_len(self) -> int:
        return self.spec.clip_len

    def sample_frames(self, rng: np.random.Generator) -> np.ndarray:
        """One clip as uint8 ``(T, H, W, 3)``."""
        index = int(rng.choice(len(self.sources), p=self.probs)) if len(self.sources) > 1 else 0
        frames = self.sources[index].sample(rng, self.spec)
        return np.ascontiguousarray(frames)

    def sample(self, rng: np.random.Generator) -> torch.Tensor:
        """One clip as float32 ``(3, T, H, W)`` in [-1, 1]."""
        return uint8_to_video(self.sample_frames(rng))

    def __repr__(self) -> str:
        parts = ", ".join(f"{s.name} ({p:.0%})" for s, p in zip(self.sources, self.probs))
        s = self.spec
        return f"ClipSampler({s.clip_len}x{s.height}x{s.width}: {parts})"


def sample_batch(sampler: ClipSampler, rng: np.random.Generator, batch_size: int) -> torch.Tensor:
    """`batch_size` clips stacked into ``(B, 3, T, H, W)``, drawn in order from `rng`."""
    return torch.stack([sampler.sample(rng) for _ in range(batch_size)])


def sample_frame_batch(sampler: ClipSampler, rng: np.random.Generator, batch_size: int) -> torch.Tensor:
    """`batch_size` single frames ``(B, 3, H, W)`` (the first frame of each clip), for the image models."""
    return sample_batch(sampler, rng, batch_size)[:, :, 0]


@dataclass
class VideoDataConfig:
    """Training clips, the `data:` section of every trainer's config.

    Args:
        size: square frame size in pixels (a multiple of the model's downsampling).
        clip_len: frames per clip (the image stages use each clip's first frame).
        procedural_weight: share of clips drawn from procedural video.
        held_out_frames: the last frames of every training video, never trained on (kept for evaluation).
        strides: temporal strides to sample from.
        workers: processes that draw the coming steps' batches ahead of the training loop (a GPU otherwise waits
            for its data); 0 draws them in the loop. The batches are the same either way.
    """

    size: int = 64
    clip_len: int = 1
    procedural_weight: float = 0.5
    held_out_frames: int = 16
    strides: list[int] = field(default_factory=lambda: [1, 2])
    workers: int = 0

    def __post_init__(self):
        check_ranges(self, size=Range(8, 4096), clip_len=AT_LEAST_ONE, procedural_weight=FRACTION)
        check_ranges(self, held_out_frames=NON_NEGATIVE, strides=AT_LEAST_ONE, workers=NON_NEGATIVE)


def make_sampler(config: VideoDataConfig, data: Sequence[str | Path]) -> ClipSampler:
    """The sampler of a trainer's `data:` section over the `--data` sources."""
    sources = build_sources(data, config.procedural_weight, held_out=config.held_out_frames)
    return ClipSampler(sources, config.clip_len, config.size, strides=config.strides)


# -- spatial helpers ------------------------------------------------------------------------------------------------
def _max_crop(height: int, width: int, spec: ClipSpec) -> tuple[float, float]:
    """Largest (h, w) with the clip's aspect ratio that fits in a height x width frame."""
    aspect = spec.height / spec.width
    if height / width >= aspect:
        return width * aspect, float(width)
    return float(height), height / aspect


def _random_crop(rng: np.random.Generator, height: int, width: int, spec: ClipSpec) -> tuple[int, int, int, int]:
    """(y0, x0, crop_h, crop_w): an integer crop of the clip's aspect ratio, `spec.scale` of the largest one."""
    mh, mw = _max_crop(height, width, spec)
    s = rng.uniform(*spec.scale)
    ch = min(height, max(1, int(round(mh * s))))
    cw = min(width, max(1, int(round(mw * s))))
    y0 = int(rng.integers(0, height - ch + 1))
    x0 = int(rng.integers(0, width - cw + 1))
    return y0, x0, ch, cw


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    if image.shape[:2] == (height, width):
        return image
    shrink = image.shape[0] >= height and image.shape[1] >= width
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def pan_zoom_clip(image: np.ndarray, rng: np.random.Generator, spec: ClipSpec) -> np.ndarray:
    """A clip ``(T, H, W, 3)`` uint8 from one still: a crop window moving smoothly between two random windows.

    Both windows have the clip's aspect ratio and `spec.scale` of the largest such window; their size ratio is at
    most `spec.image_zoom` and their centres at most ``image_pan_speed * min(H, W) * (T - 1)`` output pixels apart.
    The path is linear or eased (smoothstep). The image region is shrunk once with area averaging so that the larger
    window maps to the output size, then every frame is resampled bilinearly at sub-pixel positions.
    """
    ih, iw = image.shape[:2]
    T, oh, ow = spec.clip_len, spec.height, spec.width
    mh, mw = _max_crop(ih, iw, spec)
    lo, hi = spec.scale
    s0 = rng.uniform(lo, hi)
    s1 = float(np.clip(s0 * math.exp(rng.uniform(-1, 1) * math.log(spec.image_zoom)), lo, hi))
    sizes = np.array([[mw * s0, mh * s0], [mw * s1, mh * s1]])  # (w, h) per window
    # First centre anywhere valid; second one moved by up to the pan budget (in image pixels), then kept inside.
    half0 = sizes[0] / 2
    c0 = np.array([rng.uniform(half0[0], iw - half0[0]), rng.uniform(half0[1], ih - half0[1])])
    px_per_out = max(sizes[:, 0]) / ow
    dist = rng.uniform(0, 1) * spec.image_pan_speed * min(oh, ow) * max(T - 1, 0) * px_per_out
    angle = rng.uniform(0, 2 * np.pi)
    c1 = c0 + dist * np.array([math.cos(angle), math.sin(angle)])
    c1 = np.clip(c1, sizes[1] / 2, np.array([iw, ih]) - sizes[1] / 2)
    eased = bool(rng.random() < 0.5)
    flip = spec.flip and bool(rng.random() < 0.5)

    # Pre-shrink the union of both windows (plus a margin) so that the larger window is about output-sized.
    corners = np.stack([c0 - sizes[0] / 2, c0 + sizes[0] / 2, c1 - sizes[1] / 2, c1 + sizes[1] / 2])
    x0, y0 = np.maximum(np.floor(corners.min(axis=0)).astype(int) - 2, 0)
    x1, y1 = np.minimum(np.ceil(corners.max(axis=0)).astype(int) + 2, [iw, ih])
    region = image[y0:y1, x0:x1]
    factor = ow / max(sizes[:, 0])
    rw, rh = max(1, int(round((x1 - x0) * factor))), max(1, int(round((y1 - y0) * factor)))
    region = cv2.resize(region, (rw, rh), interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
    fx, fy = rw / (x1 - x0), rh / (y1 - y0)

    u = np.linspace(0.0, 1.0, T) if T > 1 else np.zeros(1)
    if eased:
        u = u * u * (3 - 2 * u)
    out = np.empty((T, oh, ow, 3), np.uint8)
    for t in range(T):
        c = c0 + u[t] * (c1 - c0)
        w, h = np.exp(np.log(sizes[0]) + u[t] * (np.log(sizes[1]) - np.log(sizes[0])))
        # output pixel centre (x + 0.5) / ow across the window -> image coords -> region pixel coords
        ax, ay = w / ow * fx, h / oh * fy
        bx = (c[0] - w / 2 - x0 + 0.5 * w / ow) * fx - 0.5
        by = (c[1] - h / 2 - y0 + 0.5 * h / oh) * fy - 0.5
        m = np.array([[ax, 0.0, bx], [0.0, ay, by]])
        out[t] = cv2.warpAffine(
            region, m, (ow, oh), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT101
        )
    return out[:, :, ::-1] if flip else out
