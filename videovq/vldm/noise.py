"""The starting noise of a clip: independent per frame, or "mixed" so frames share part of it (Ge et al., ICCV 2023).

One definition for training (`videovq train vldm` noises its clips with it) and sampling (`generate` starts from it).
"""

from __future__ import annotations

from typing import Sequence

import torch


def mixed_noise(shape: Sequence[int], correlation: float, generator: torch.Generator) -> torch.Tensor:
    """Unit Gaussian noise ``(B, C, T, h, w)`` whose frames share `correlation` of their variance."""
    noise = torch.randn(tuple(shape), generator=generator)
    if correlation > 0:
        b, c, _, h, w = shape
        noise = mix_noise(noise, torch.randn((b, c, 1, h, w), generator=generator), correlation)
    return noise


def mix_noise(own: torch.Tensor, shared: torch.Tensor, correlation: float) -> torch.Tensor:
    """``sqrt(rho) * shared + sqrt(1 - rho) * own``: unit variance again, correlation rho between frames."""
    return correlation**0.5 * shared + (1 - correlation) ** 0.5 * own
