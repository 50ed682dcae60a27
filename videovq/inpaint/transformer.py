"""Bidirectional spatio-temporal transformer over a video's tokens (DLFormer §3.3).

Input: local code indices `(B, T, h, w)` of one video's codebook, with the *completion token* at positions whose
code is unknown (the hole, and pseudo-holes during training). Output: logits over the video's real codes at every
position. Attention is factorised (ViViT model 3 / TimeSformer "divided"): each block attends within a frame, then
across frames at each position, so cost grows with T*(h*w)^2 + h*w*T^2 rather than (T*h*w)^2. Both go through the
shared attention dispatch (torch SDPA; xformers on CUDA when installed).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import rearrange
from torch import nn

from videovq.config import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, ConfigRangeError, Range, check_ranges
from videovq.modules.attention import MultiHeadAttention
from videovq.modules.temporal import band_mask, sinusoidal_embedding


@dataclass
class TransformerConfig:
    """Architecture of the per-video transformer.

    Args:
        dim: token width.
        depth: number of (spatial attention, temporal attention, MLP) blocks.
        heads: attention heads.
        mlp_ratio: MLP hidden width / dim.
        dropout: dropout in attention output and MLP.
        temporal_window: frames each temporal attention sees (odd), or 0 for all frames of the window.
    """

    dim: int = 192
    depth: int = 4
    heads: int = 6
    mlp_ratio: float = 4.0
    dropout: float = 0.1
    temporal_window: int = 0

    def __post_init__(self):
        check_ranges(self, dim=AT_LEAST_ONE, depth=AT_LEAST_ONE, heads=AT_LEAST_ONE, mlp_ratio=POSITIVE)
        check_ranges(self, dropout=Range(0, 1, high_open=True), temporal_window=NON_NEGATIVE)
        if self.dim % self.heads:
            raise ConfigRangeError("dim", self.dim, f"a multiple of heads ({self.heads})")


class FactorisedBlock(nn.Module):
    """Pre-norm block: spatial self-attention, temporal self-attention, MLP; each residual."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float):
        super().__init__()
        self.norm_s, self.spatial = nn.LayerNorm(dim), MultiHeadAttention(dim, heads=heads, dropout=dropout)
        self.norm_t, self.temporal = nn.LayerNorm(dim), MultiHeadAttention(dim, heads=heads, dropout=dropout)
        self.norm_m = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, temporal_mask: torch.Tensor | None) -> torch.Tensor:
        b, t, h, w, _ = x.shape
        s = rearrange(x, "b t h w d -> (b t) (h w) d")
        s = s + self.spatial(self.norm_s(s))
        x = rearrange(s, "(b t) (h w) d -> (b h w) t d", b=b, h=h)
        x = x + self.temporal(self.norm_t(x), attn_mask=temporal_mask)
        x = x + self.mlp(self.norm_m(x))
        return rearrange(x, "(b h w) t d -> b t h w d", b=b, h=h)


class TokenTransformer(nn.Module):
    """Predicts every position's code from the visible ones.

    Args:
        config: architecture.
        num_codes: codes in the video codebook; index `num_codes` is the completion token.
        code_vectors: (num_codes, code_dim) the codes themselves; the token embedding starts as their projection,
            so similar-looking codes start with similar embeddings (optional).
    """

    def __init__(self, config: TransformerConfig, num_codes: int, code_vectors: torch.Tensor | None = None):
        super().__init__()
        self.config, self.num_codes = config, num_codes
        d = config.dim
        self.embed = nn.Embedding(num_codes + 1, d)  # + the completion token
        if code_vectors is not None:
            with torch.no_grad():
                proj = torch.randn(code_vectors.shape[1], d, generator=torch.Generator().manual_seed(0))
                init = code_vectors.float() @ proj
                self.embed.weight[:num_codes] = init / init.std().clamp(min=1e-6) * 0.02
        nn.init.normal_(self.embed.weight[num_codes:], std=0.02)
        self.pos = nn.Linear(3 * _axis_dim(d), d)  # (t, y, x) sinusoids -> token width
        self.blocks = nn.ModuleList(
            FactorisedBlock(d, config.heads, config.mlp_ratio, config.dropout) for _ in range(config.depth)
        )
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, num_codes)

    @property
    def completion_token(self) -> int:
        return self.num_codes

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, T, h, w) long -> logits (B, T, h, w, num_codes).

        Args:
            tokens: local indices, the completion token where unknown. Frame positions are relative to the window:
                training draws windows from anywhere in the video, so that is what the model knows.
        """
        b, t, h, w = tokens.shape
        if tokens.min() < 0 or tokens.max() > self.num_codes:
            raise ValueError(f"token indices must lie in [0, {self.num_codes}]")
        x = self.embed(tokens) + self.pos(_positions(t, h, w, self.config.dim, tokens.device))[None]
        window = self.config.temporal_window
        mask = band_mask(t, window, tokens.device) if window and window < t else None
        for block in self.blocks:
            x = block(x, mask)
        return self.head(self.norm(x))


def _axis_dim(dim: int) -> int:
    return 2 * max(4, dim // 6)  # even: half sin, half cos


def _positions(t: int, h: int, w: int, dim: int, device) -> torch.Tensor:
    """(T, h, w, 3 * axis_dim): sinusoids of the frame, row and column index, concatenated."""
    a = _axis_dim(dim)
    et = sinusoidal_embedding(torch.arange(t, device=device, dtype=torch.float32), a)  # (T, a)
    ey = sinusoidal_embedding(torch.arange(h, device=device, dtype=torch.float32), a)  # (h, a)
    ex = sinusoidal_embedding(torch.arange(w, device=device, dtype=torch.float32), a)  # (w, a)
    return torch.cat(
        [et[:, None, None].expand(t, h, w, a), ey[None, :, None].expand(t, h, w, a), ex[None, None].expand(t, h, w, a)],
        dim=-1,
    )
