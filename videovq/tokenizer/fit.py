"""Per-video customisation of the tokenizer (DLFormer §3.1): finetune on the video's valid pixels, refine the codebook.

The general tokenizer is copied, finetuned on random crops of the target video with every loss restricted to
known pixels, and its quantiser is restricted to the codes this video uses. That set is collected from the
video's valid latent cells before finetuning and refreshed every `refresh_every` steps as the encoder adapts.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from videovq.config import AT_LEAST_ONE, FRACTION, NON_NEGATIVE, POSITIVE, Range, check_ranges
from videovq.errors import InputError
from videovq.io.tensors import uint8_to_video, video_to_uint8
from videovq.tokenizer.autoencoder import VQAutoencoder
from videovq.tokenizer.codebook import VideoCodebook
from videovq.tokenizer.losses import LossWeights, blank_hole, tokenizer_loss
from videovq.windows import temporal_windows


@dataclass
class VideoFitConfig:
    """Per-video finetuning.

    Args:
        steps: optimiser steps (0 = no finetuning, only codebook refinement).
        batch_size: crops per step.
        clip_len: frames per crop.
        crop: crop side in pixels (rounded down to the downsampling factor; the whole frame if smaller).
        lr: Adam learning rate.
        refresh_every: steps between re-collections of the codes the video uses.
        min_count: codes used fewer times than this on the valid region are dropped from the video codebook.
        max_codes: the video codebook keeps at most this many codes, the most used (None = all that are used).
        min_valid: a crop must have at least this share of valid pixels to be trained on.
        loss: loss weights.
    """

    steps: int = 200
    batch_size: int = 4
    clip_len: int = 4
    crop: int = 128
    lr: float = 1e-4
    refresh_every: int = 50
    min_count: int = 1
    max_codes: int | None = 256
    min_valid: float = 0.3
    loss: LossWeights = field(default_factory=LossWeights)

    def __post_init__(self):
        check_ranges(self, steps=NON_NEGATIVE, batch_size=AT_LEAST_ONE, clip_len=AT_LEAST_ONE, crop=Range(8))
        check_ranges(self, lr=POSITIVE, refresh_every=AT_LEAST_ONE, min_count=NON_NEGATIVE, max_codes=AT_LEAST_ONE)
        check_ranges(self, min_valid=FRACTION)


class FittedTokenizer(NamedTuple):
    model: VQAutoencoder
    codebook: VideoCodebook
    seconds: float
    losses: list[float]


def pad_frames(frames: np.ndarray, hole: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Pad uint8 (T, H, W, 3) frames and their (T, H, W) hole at the bottom/right to multiples of `factor`.

    Padding repeats the edge pixels and counts as hole: it never trains anything and is cropped off at the end.
    """
    h, w = frames.shape[1:3]
    ph, pw = (-h) % factor, (-w) % factor
    if ph == 0 and pw == 0:
        return frames, hole
    frames = np.pad(frames, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge")
    return frames, np.pad(hole, ((0, 0), (0, ph), (0, pw)), constant_values=True)


@torch.no_grad()
def encode_frames(
    model: VQAutoencoder,
    frames: np.ndarray,
    hole: np.ndarray,
    allowed: torch.Tensor | None = None,
    chunk: int = 8,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantise a whole video, a few frames at a time (memory grows with the uint8 video only).

    Args:
        model: the tokenizer (its eval mode is set and restored).
        frames: uint8 (T, H, W, 3), H and W multiples of the downsampling factor (see `pad_frames`).
        hole: bool (T, H, W), True = unknown; blanked before encoding.
        allowed: restrict to a video codebook.

    Returns:
        indices (T, h, w) and known (T, h, w) bool: True where every pixel under the cell is known.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    f = model.downsample
    indices, cells = [], []
    for start in range(0, len(frames), chunk):
        clip = uint8_to_video(frames[start : start + chunk])[None].to(device)  # (1, 3, t, H, W)
        valid = torch.from_numpy(~hole[start : start + chunk])[None].to(device)  # (1, t, H, W)
        enc = model.encode(blank_hole(clip, valid), valid, allowed)
        indices.append(enc.indices[0].cpu())
        cells.append((-F.max_pool2d(-valid[0].float()[:, None], f)[:, 0] > 0.5).cpu())
    model.train(was_training)
    return torch.cat(indices), torch.cat(cells)


@torch.no_grad()
def decode_frames(model: VQAutoencoder, indices: torch.Tensor, window: int = 16, overlap: int = 2) -> np.ndarray:
    """Decode (T, h, w) general-codebank indices to uint8 (T, H, W, 3), window by window.

    Overlapping windows give the aggregation block neighbouring frames at every window edge, and memory stays flat
    in video length. The aggregation block's time positions restart in each window, so near window edges the result
    can differ slightly from decoding the whole clip at once.
    """
    out = []
    device = next(model.parameters()).device
    for w in temporal_windows(indices.shape[0], window, min(overlap, window - 1)):
        video = model.decode_indices(indices[None, w.start : w.stop].to(device))  # (1, 3, t, H, W)
        out.append(video_to_uint8(video[0, :, w.own_slice]))
    return np.concatenate(out)


def fit_video_tokenizer(
    general: VQAutoencoder,
    frames: np.ndarray,
    hole: np.ndarray,
    config: VideoFitConfig = VideoFitConfig(),
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = True,
    segments: list[tuple[int, int]] | None = None,
    on_step: Callable[[], None] | None = None,
) -> FittedTokenizer:
    """Customise the general tokenizer to one video.

    Args:
        general: the pretrained tokenizer (not modified).
        frames: uint8 (T, H, W, 3), any size (padded internally).
        hole: bool (T, H, W), True = unknown pixel; it never contributes to any loss or statistic.
        config: finetuning settings.
        seed: seeds the crops, so the same inputs give the same model.
        device: where to train.
        progress: show a progress bar.
        segments: frame ranges of `frames` that are consecutive in the video (a sample of a long video); crops
            never straddle two. None = all of `frames` is one.
        on_step: called after every optimiser step (a progress bar of a larger job).

    Returns:
        The finetuned model (eval mode), its video codebook, the time taken, and the loss curve.
    """
    if frames.shape[:3] != hole.shape:
        raise ValueError(f"frames {frames.shape[:3]} and hole {hole.shape} must have the same (T, H, W)")
    if hole.all():
        raise InputError(
            "at the working resolution every pixel is in the hole, so there is nothing to fit the tokenizer on; "
            "use a smaller mask or a larger max_side"
        )
    started = time.time()
    model = copy.deepcopy(general).to(device).train()
    f = model.downsample
    frames, hole = pad_frames(frames, hole, f)  # kept as uint8: crops become float one batch at a time

    def refresh() -> VideoCodebook:
        indices, cells = encode_frames(model, frames, hole)
        size = model.quantizer.codebook_size
        return VideoCodebook.from_indices(indices, size, cells, config.min_count, config.max_codes)

    codebook = refresh()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=config.lr)
    rng = np.random.default_rng(seed)
    losses: list[float] = []
    bar = tqdm(range(config.steps), desc="fit tokenizer", unit="step", disable=not progress or config.steps == 0)
    for step in bar:
        clips, clip_valid = _sample_crops(frames, hole, config, f, rng, segments)
        clips, clip_valid = clips.to(device), clip_valid.to(device)
        loss = tokenizer_loss(model, clips, clip_valid, config.loss, allowed=codebook.allowed(device))
        optimizer.zero_grad(set_to_none=True)
        loss.total.backward()
        optimizer.step()
        losses.append(float(loss.total.detach()))
        if (step + 1) % config.refresh_every == 0 or step + 1 == config.steps:
            codebook = refresh()
            bar.set_postfix(loss=f"{losses[-1]:.4f}", codes=codebook.size, refresh=False)
        if on_step is not None:
            on_step()
    model.eval()
    return FittedTokenizer(model, codebook, time.time() - started, losses)


def _sample_crops(
    frames: np.ndarray,
    hole: np.ndarray,
    config: VideoFitConfig,
    f: int,
    rng: np.random.Generator,
    segments: list[tuple[int, int]] | None = None,
):
    """`batch_size` random crops: float (B, 3, t, ch, cw) in [-1, 1] and valid (B, t, ch, cw)."""
    t, h, w = hole.shape
    segments = segments or [(0, t)]
    clip_len = min([config.clip_len] + [b - a for a, b in segments])
    ch, cw = min(h, config.crop // f * f), min(w, config.crop // f * f)
    clips, valids = [], []
    for _ in range(config.batch_size):
        for _attempt in range(20):  # prefer crops that show enough known pixels
            a, b = segments[int(rng.integers(len(segments)))] if len(segments) > 1 else segments[0]
            t0 = a + int(rng.integers(0, b - a - clip_len + 1))
            y0 = int(rng.integers(0, h - ch + 1)) // f * f
            x0 = int(rng.integers(0, w - cw + 1)) // f * f
            valid = ~hole[t0 : t0 + clip_len, y0 : y0 + ch, x0 : x0 + cw]
            if valid.mean() >= config.min_valid:
                break
        clips.append(uint8_to_video(frames[t0 : t0 + clip_len, y0 : y0 + ch, x0 : x0 + cw])[None])
        valids.append(torch.from_numpy(valid)[None])
    return torch.cat(clips), torch.cat(valids)
