"""The learning-rate schedule of every optimiser in the package (trainers and per-video fits): linear warm-up, then
a cosine decay to a floor."""

from __future__ import annotations

import math


def warmup_cosine(step: int, warmup: int, total: int, min_ratio: float = 0.0) -> float:
    """Multiplier of the peak LR at `step`: a pure function of the step, so resuming reproduces it exactly.

    Args:
        step: optimiser steps taken so far.
        warmup: steps of linear warm-up (from 1 / warmup to 1).
        total: steps in all; the cosine reaches `min_ratio` there and stays.
        min_ratio: the floor, as a share of the peak.
    """
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
