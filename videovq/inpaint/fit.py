"""Self-supervised per-video training of the token transformer (DLFormer §3.3).

The video's own valid tokens are the training data: random pseudo-holes shaped like real masks (strokes, blobs,
boxes at token resolution) are cut out of valid regions, replaced by the completion token, and the transformer
learns to predict them from what is left. Real hole positions are always inputs (completion token), never targets.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from videovq.config import AT_LEAST_ONE, FRACTION, NON_NEGATIVE, POSITIVE, check_ranges
from videovq.inpaint.transformer import TokenTransformer, TransformerConfig
from videovq.io.mask_shapes import random_mask_like
from videovq.lr_schedule import warmup_cosine


@dataclass
class TransformerFitConfig:
    """Per-video transformer training.

    Args:
        steps: optimiser steps.
        batch_size: windows per step.
        window_frames: frames per training window (match the prediction window).
        lr: peak AdamW learning rate (linear warm-up over the first 10% of steps, then cosine).
        weight_decay: AdamW weight decay.
        scatter: extra share of valid tokens hidden at random, up to this fraction, so the model also learns the
            partly revealed states that iterative decoding passes through.
        hole_shaped: share of pseudo-holes that are the video's own hole, moved to a random place (the shapes
            prediction will face); the others are random strokes, blobs or boxes.
    """

    steps: int = 300
    batch_size: int = 4
    window_frames: int = 8
    lr: float = 1e-3
    weight_decay: float = 0.01
    scatter: float = 0.3
    hole_shaped: float = 0.0

    def __post_init__(self):
        check_ranges(self, steps=AT_LEAST_ONE, batch_size=AT_LEAST_ONE, window_frames=AT_LEAST_ONE, lr=POSITIVE)
        check_ranges(self, weight_decay=NON_NEGATIVE, scatter=FRACTION, hole_shaped=FRACTION)


class FittedTransformer(NamedTuple):
    model: TokenTransformer
    seconds: float
    losses: list[float]


def pseudo_mask(
    rng: np.random.Generator, valid: torch.Tensor, scatter: float, hole_shaped: float = 0.0
) -> torch.Tensor:
    """Training targets for one window: mask-shaped pseudo-holes (+ random scatter), inside valid cells only.

    Args:
        rng: randomness source.
        valid: (T, h, w) bool, True where the real token is known.
        scatter: maximum extra fraction of tokens hidden at random.
        hole_shaped: probability that the shape is the window's real hole shifted by a random offset.
    """
    t, h, w = valid.shape
    if hole_shaped > 0 and rng.random() < hole_shaped and not valid.all():  # no draw when off: seeds keep results
        offset = (int(rng.integers(h)), int(rng.integers(w)))
        shape = torch.roll(~valid, shifts=offset, dims=(1, 2))
    else:
        shape = torch.from_numpy(random_mask_like(rng, t, h, w))
    noise = torch.from_numpy(rng.random((t, h, w)) < rng.uniform(0, scatter))
    return (shape | noise) & valid


def fit_transformer(
    tokens: torch.Tensor,
    hole: torch.Tensor,
    num_codes: int,
    config: TransformerConfig = TransformerConfig(),
    fit: TransformerFitConfig = TransformerFitConfig(),
    code_vectors: torch.Tensor | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = True,
    init: TokenTransformer | None = None,
    segments: list[tuple[int, int]] | None = None,
    on_step: Callable[[], None] | None = None,
) -> FittedTransformer:
    """Train a transformer on one video's tokens.

    Args:
        tokens: (T, h, w) local indices; hole positions may hold anything (they are replaced).
        hole: (T, h, w) bool, True where the code is unknown.
        num_codes: size of the video codebook (the completion token is `num_codes`).
        config: architecture.
        fit: training settings.
        code_vectors: (num_codes, code_dim) to initialise token embeddings.
        seed: seeds initialisation, windows and pseudo-masks.
        init: start from this transformer (over the same `num_codes`, e.g. `videovq.inpaint.prior.prior_for_video`
            of the general prior) instead of a fresh one; it is copied, never modified. `config` and `code_vectors`
            are then unused.
        device: where to train.
        progress: show a progress bar.
        segments: frame ranges of `tokens` that are consecutive in the video (a sample of a long video); training
            windows never straddle two. None = all of `tokens` is one.
        on_step: called after every optimiser step (a progress bar of a larger job).
    """
    started = time.time()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    if init is not None and init.num_codes != num_codes:
        raise ValueError(f"init predicts {init.num_codes} codes but the video codebook has {num_codes}")
    model = copy.deepcopy(init) if init is not None else TokenTransformer(config, num_codes, code_vectors)
    model = model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=fit.lr, weight_decay=fit.weight_decay, betas=(0.9, 0.95))
    warmup = max(1, fit.steps // 10)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_cosine(s, warmup, fit.steps))
    tokens, hole = tokens.to(device), hole.to(device)
    inputs = tokens.masked_fill(hole, num_codes)  # the real hole is always the completion token
    segments = segments or [(0, tokens.shape[0])]
    window = min([fit.window_frames] + [b - a for a, b in segments])
    losses: list[float] = []
    bar = tqdm(range(fit.steps), desc="fit transformer", unit="step", disable=not progress or fit.steps == 0)
    for _ in bar:
        batch_in, batch_target, batch_weight = [], [], []
        for _ in range(fit.batch_size):
            a, b = segments[int(rng.integers(len(segments)))] if len(segments) > 1 else segments[0]
            t0 = a + int(rng.integers(0, b - a - window + 1))
            valid = ~hole[t0 : t0 + window]
            target_mask = pseudo_mask(rng, valid.cpu(), fit.scatter, fit.hole_shaped).to(device)
            batch_in.append(inputs[t0 : t0 + window].masked_fill(target_mask, num_codes))
            batch_target.append(tokens[t0 : t0 + window].masked_fill(~target_mask, 0))
            batch_weight.append(target_mask.float())
        logits = model(torch.stack(batch_in))  # (B, T, h, w, K)
        weight = torch.stack(batch_weight)
        ce = F.cross_entropy(logits.flatten(0, 3), torch.stack(batch_target).flatten(), reduction="none")
        loss = (ce * weight.flatten()).sum() / weight.sum().clamp(min=1.0)  # only pseudo-hole positions count
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(float(loss.detach()))
        bar.set_postfix(loss=f"{losses[-1]:.3f}", refresh=False)
        if on_step is not None:
            on_step()
    model.eval()
    return FittedTransformer(model, time.time() - started, losses)
