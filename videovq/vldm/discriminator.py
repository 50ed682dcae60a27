"""Patch-wise video discriminator of 3-D convolutions (Align your Latents §3.1.1).

Each output logit judges one spatio-temporal patch of a clip, so the decoder is pushed towards frames that are
sharp *and* move like real video (a per-frame discriminator cannot see flicker). Hinge losses and VQGAN's adaptive
weight are the tokenizer's (`videovq.tokenizer.discriminator`).
"""

from __future__ import annotations

import torch
from torch import nn


class PatchDiscriminator3D(nn.Module):
    """Clips (B, 3, T, H, W) -> logits (B, 1, T', H / 2^layers, W / 2^layers), one per spatio-temporal patch.

    Space is halved by every layer; time by the first `time_downsample` layers only (short clips keep a time axis).

    Args:
        channels: width of the first layer (doubles per layer, up to 8x).
        layers: stride-2 layers.
        time_downsample: how many of them also halve time.
    """

    def __init__(self, channels: int = 32, layers: int = 3, time_downsample: int = 1):
        super().__init__()
        blocks: list[nn.Module] = []
        width = 3
        for i in range(layers):
            nxt = channels * min(2**i, 8)
            stride_t = 2 if i < time_downsample else 1
            blocks.append(nn.Conv3d(width, nxt, (3, 4, 4), (stride_t, 2, 2), (1, 1, 1)))
            if i > 0:
                blocks.append(nn.GroupNorm(min(32, nxt), nxt))
            blocks.append(nn.LeakyReLU(0.2))
            width = nxt
        blocks.append(nn.Conv3d(width, 1, 3, 1, 1))
        self.net = nn.Sequential(*blocks)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.net(clips)

