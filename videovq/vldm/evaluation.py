"""Held-out clips of the shipped models' domain, and the temporal-consistency summary the benchmarks report."""

from __future__ import annotations

import numpy as np

from videovq.data import sample_video_path
from videovq.data.clips import ClipSampler, ProceduralSource, VideoSource, hold_out_range
from videovq.io.video import probe
from videovq.metrics.consistency import temporal_flicker, warping_error
from videovq.metrics.psnr_ssim import nan_mean

HELD_OUT_FRAMES = 16  # every trainer's `held_out_frames`: the bundled clip's last 16 frames are never trained on


def held_out_clips(count: int, size: int, clip_len: int = 16, seed: int = 20261123) -> list[np.ndarray]:
    """`count` uint8 clips (clip_len, size, size, 3) no trainer saw: half crops of the bundled clip's held-out
    frames, half procedural scenes (seeds drawn here, outside training's draws)."""
    path = sample_video_path()
    frames = probe(path).num_frames
    _, stop = hold_out_range(frames, HELD_OUT_FRAMES)
    sampler = ClipSampler(
        [VideoSource(path, frame_range=(stop, frames)), ProceduralSource()], clip_len, size, strides=[1]
    )
    rng = np.random.default_rng(seed)
    return [sampler.sample_frames(rng) for _ in range(count)]


def consistency(videos: list[np.ndarray], references: list[np.ndarray] | None = None) -> tuple[float, float]:
    """Mean warping error (x 1e-3, flow from the reference or, without one, the video itself) and mean temporal
    flicker (grey levels) over videos."""
    references = references or videos
    warp = float(np.mean([nan_mean(warping_error(v, r)) for v, r in zip(videos, references)])) * 1e3
    flick = float(np.mean([nan_mean(temporal_flicker(v)) for v in videos]))
    return warp, flick
