"""Residual temporal aggregation (DLFormer §3.2): each frame's latent features borrow from its neighbours'.

Neighbouring frames of a static region may land on different codes; decoded one by one they then jitter. Mixing
each frame's quantised features with a small temporal window before decoding smooths that out. The block is
residual and zero-initialised, so a freshly built tokenizer decodes exactly as one without it (tested), and
finetuning learns how much to mix.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from videovq.modules.temporal import Conv3dResBlock, TemporalAttention


class ResidualTemporalAggregation(nn.Module):
    """`x + f(x)` over a window of neighbouring frames, identity at initialisation.

    Args:
        channels: latent channels.
        window: frames each frame sees (odd): 3 = itself and one neighbour on each side.
        kind: "attention" (windowed temporal attention per latent position) or "conv3d" (3D-conv residual block).
        heads: attention heads (kind="attention").
    """

    def __init__(self, channels: int, window: int = 3, kind: Literal["attention", "conv3d"] = "attention", heads: int = 4):
        super().__init__()
        if kind == "attention":
            self.block = TemporalAttention(channels, heads=heads, window=window, zero_init=True)
        elif kind == "conv3d":
            self.block = Conv3dResBlock(channels, kernel_size=(window, 3, 3), zero_init=True)
        else:
            raise ValueError(f"aggregation kind {kind!r}: use 'attention' or 'conv3d'")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, T, h, w) -> (B, C, T, h, w). Both blocks already add their input back (residual)."""
        return self.block(x)
