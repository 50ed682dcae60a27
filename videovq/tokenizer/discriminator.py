"""Patch discriminator for the tokenizer's optional adversarial term (VQGAN §3.2, PatchGAN of pix2pix).

Each output logit judges one receptive-field patch of a frame. Used when pretraining the general tokenizer with
`gan.weight > 0`; per-video finetuning does not use it (it has too few steps for an adversarial game to settle).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


class PatchDiscriminator(nn.Module):
    """Frames (N, 3, H, W) -> logits (N, 1, H/2^layers, W/2^layers), one per patch.

    Args:
        channels: width of the first layer (doubles per layer, up to 8x).
        layers: stride-2 layers (3 -> 70x70-pixel patches, as pix2pix).
    """

    def __init__(self, channels: int = 64, layers: int = 3):
        super().__init__()
        blocks: list[nn.Module] = [nn.Conv2d(3, channels, 4, 2, 1), nn.LeakyReLU(0.2)]
        width = channels
        for i in range(1, layers):
            nxt = channels * min(2**i, 8)
            blocks += [nn.Conv2d(width, nxt, 4, 2, 1), nn.GroupNorm(min(32, nxt), nxt), nn.LeakyReLU(0.2)]
            width = nxt
        blocks += [nn.Conv2d(width, width, 3, 1, 1), nn.GroupNorm(min(32, width), width), nn.LeakyReLU(0.2)]
        blocks.append(nn.Conv2d(width, 1, 3, 1, 1))
        self.net = nn.Sequential(*blocks)
        self.layers = layers

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.net(frames)


def video_frames(video: torch.Tensor) -> torch.Tensor:
    """(B, 3, T, H, W) -> (B*T, 3, H, W): the discriminator judges frames."""
    return rearrange(video, "b c t h w -> (b t) c h w")


def hinge_d_loss(real: torch.Tensor, fake: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Discriminator hinge loss: mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))."""
    return _wmean(F.relu(1 - real), weight) + _wmean(F.relu(1 + fake), weight)


def hinge_g_loss(fake: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Generator hinge loss: -mean(D(fake))."""
    return -_wmean(fake, weight)


def _wmean(x: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    if weight is None:
        return x.mean()
    return (x * weight).sum() / weight.sum().clamp(min=1.0)


def adaptive_weight(
    rec_loss: torch.Tensor, g_loss: torch.Tensor, last_layer: torch.Tensor, max_weight: float = 1e4
) -> torch.Tensor:
    """VQGAN's balance: ||d rec / d last|| / ||d g / d last||, so the adversarial gradient matches the reconstruction's
    size at the decoder's last layer whatever the discriminator's current scale (Esser et al. 2021, eq. 7)."""
    rec_grad = torch.autograd.grad(rec_loss, last_layer, retain_graph=True)[0]
    g_grad = torch.autograd.grad(g_loss, last_layer, retain_graph=True)[0]
    return (rec_grad.norm() / (g_grad.norm() + 1e-4)).clamp(0.0, max_weight).detach()
