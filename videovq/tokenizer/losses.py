"""Tokenizer losses, computed over valid (known) pixels only.

Per-video finetuning must not learn anything from the hole: the input's hole is blanked before encoding, and every
loss term reads only pixels whose whole support is valid (SSIM's window, the gradient's neighbours), so noise in
the hole changes neither the loss nor any gradient (tests/test_tokenizer.py proves it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import kornia
import torch
import torch.nn.functional as F
from einops import rearrange

from videovq.tokenizer.autoencoder import AutoencoderOutput, VQAutoencoder

SSIM_WINDOW = 11


@dataclass
class LossWeights:
    """Weights of the tokenizer loss terms.

    Args:
        l1: pixel L1.
        ssim: (1 - SSIM) / 2, 11x11 window (structure and contrast, what L1 alone blurs away).
        gradient: L1 between image gradients (sharp edges).
        codebook: the codebook term (only with quantizer_update="loss"; EMA needs none).
    """

    l1: float = 1.0
    ssim: float = 0.2
    gradient: float = 0.5
    codebook: float = 1.0


class LossBreakdown(NamedTuple):
    total: torch.Tensor
    l1: torch.Tensor
    ssim: torch.Tensor
    gradient: torch.Tensor
    commit: torch.Tensor
    codebook: torch.Tensor
    perplexity: torch.Tensor
    codes_used: torch.Tensor
    recon: torch.Tensor  # (B, 3, T, H, W)


def blank_hole(video: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """Replace hole pixels by 0 (mid-grey) so nothing about their content reaches the encoder."""
    if valid is None:
        return video
    return video * rearrange(valid.to(video.dtype), "b t h w -> b 1 t h w")


def erode(valid: torch.Tensor, radius: int) -> torch.Tensor:
    """Pixels whose (2r+1)^2 neighbourhood is entirely valid. valid: (N, 1, H, W) float."""
    if radius == 0:
        return valid
    return -F.max_pool2d(-valid, 2 * radius + 1, stride=1, padding=radius)


def tokenizer_loss(
    model: VQAutoencoder,
    video: torch.Tensor,
    valid: torch.Tensor | None = None,
    weights: LossWeights = LossWeights(),
    allowed: torch.Tensor | None = None,
) -> LossBreakdown:
    """Reconstruct `video` through the tokenizer and score it on valid pixels.

    Args:
        model: the tokenizer.
        video: (B, 3, T, H, W) in [-1, 1].
        valid: (B, T, H, W) bool, True = known pixel; None = all pixels known.
        weights: loss weights.
        allowed: restrict quantisation to a video codebook.
    """
    out: AutoencoderOutput = model(blank_hole(video, valid), valid, allowed)
    pred = rearrange(out.recon, "b c t h w -> (b t) c h w")
    target = rearrange(video, "b c t h w -> (b t) c h w")
    if valid is None:
        v = torch.ones_like(target[:, :1])
    else:
        v = rearrange(valid.to(video.dtype), "b t h w -> (b t) 1 h w")
    # Zero the hole in both images: the loss maps below are then exactly independent of hole content.
    pred, target = pred * v, target * v

    l1 = _masked_mean((pred - target).abs(), v)
    ssim_terms = zero = pred.new_zeros(())
    if weights.ssim > 0:
        ssim_map = kornia.metrics.ssim(pred * 0.5 + 0.5, target * 0.5 + 0.5, SSIM_WINDOW)  # (N, 3, H, W)
        ssim_terms = _masked_mean((1 - ssim_map) / 2, erode(v, SSIM_WINDOW // 2))
    grad = zero
    if weights.gradient > 0:
        g_pred, g_target = kornia.filters.spatial_gradient(pred), kornia.filters.spatial_gradient(target)  # (N,3,2,H,W)
        grad = _masked_mean((g_pred - g_target).abs().mean(2), erode(v, 1))
    total = (
        weights.l1 * l1
        + weights.ssim * ssim_terms
        + weights.gradient * grad
        + out.commit_loss
        + weights.codebook * out.codebook_loss
    )
    return LossBreakdown(
        total, l1, ssim_terms, grad, out.commit_loss, out.codebook_loss, out.perplexity, out.codes_used, out.recon
    )


def _masked_mean(values: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean of values (N, C, H, W) over positions where weight (N, 1, H, W) > 0."""
    w = weight.expand_as(values)
    return (values * w).sum() / w.sum().clamp(min=1.0)
