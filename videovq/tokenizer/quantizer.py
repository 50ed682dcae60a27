"""Vector quantiser with a large general codebank (DLFormer §3.1, after VQ-VAE / VQGAN).

Choices, each selectable because each was measured (docs/tokenizer.md):
- `update="ema"`: codes move to the running mean of their assigned encoder outputs (VQ-VAE-2, App. A);
  `update="loss"`: codes are learned by the codebook loss |sg(z) - e|^2 (VQ-VAE eq. 3).
  Both use the straight-through estimator and the commitment loss beta |z - sg(e)|^2.
- `code_dim` < `dim`: lookup in a low-dimensional space through linear projections (ViT-VQGAN §3.2) ...
- `l2_normalize`: ... on the unit sphere (cosine similarity), which spreads assignments over far more codes.
- Dead-code restart: a code unused for a while is re-seeded from a recent encoder output (Jukebox §3.3);
  `split_overused`: or from a perturbed copy of the most used code, which splits its cluster (UViM §3.1).
`valid` weights restrict every statistic and loss to valid (unmasked) positions, so per-video finetuning never
learns from hole pixels.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


# Recent encoder outputs kept for dead-code restarts (a fixed-size buffer, so DDP and the state dict see one tensor).
RESTART_POOL = 4096


class QuantizerOutput(NamedTuple):
    quantized: torch.Tensor  # (N, dim, ...) like the input, straight-through
    indices: torch.Tensor  # (N, ...) long
    commit_loss: torch.Tensor  # scalar, beta already applied
    codebook_loss: torch.Tensor  # scalar (0 with EMA updates)
    perplexity: torch.Tensor  # scalar: exp(entropy of code usage in this batch)
    codes_used: torch.Tensor  # scalar: distinct codes used in this batch


class VectorQuantizer(nn.Module):
    """Nearest-neighbour vector quantisation of channel vectors.

    Args:
        dim: channels of the encoder output.
        codebook_size: number of codes (8192 for the general codebank).
        code_dim: dimension of the lookup space (None = `dim`).
        update: "ema" or "loss" (see module docstring).
        l2_normalize: look codes up by cosine similarity.
        commitment: beta of the commitment loss.
        decay: EMA decay of code statistics.
        dead_after: a code whose EMA usage falls below this (assignments per step) counts as dead.
        split_overused: restart dead codes by splitting the most used codes instead of from recent outputs.
    """

    def __init__(
        self,
        dim: int,
        codebook_size: int = 8192,
        code_dim: int | None = None,
        update: Literal["ema", "loss"] = "ema",
        l2_normalize: bool = True,
        commitment: float = 0.25,
        decay: float = 0.99,
        dead_after: float = 0.03,
        split_overused: bool = False,
    ):
        super().__init__()
        # Set by data-parallel training (one model on many processes); processes that each fit their own video
        # (batch inpainting) must not wait for each other here.
        self.sync_processes = False
        if update not in ("ema", "loss"):
            raise ValueError(f"update={update!r}: use 'ema' or 'loss'")
        self.dim, self.codebook_size = dim, codebook_size
        self.code_dim = code_dim or dim
        self.update, self.l2_normalize = update, l2_normalize
        self.commitment, self.decay = commitment, decay
        self.dead_after, self.split_overused = dead_after, split_overused
        self.project_in = nn.Linear(dim, self.code_dim) if self.code_dim != dim else nn.Identity()
        self.project_out = nn.Linear(self.code_dim, dim) if self.code_dim != dim else nn.Identity()
        codes = torch.randn(codebook_size, self.code_dim)
        codes = F.normalize(codes, dim=-1) if l2_normalize else codes / self.code_dim**0.5
        if update == "ema":
            self.register_buffer("codebook", codes)
            self.register_buffer("ema_count", torch.ones(codebook_size))
            self.register_buffer("ema_sum", codes.clone())
        else:
            self.codebook = nn.Parameter(codes)
        # EMA of assignments per step, for dead codes. Starting just above the threshold means a code that is never
        # picked is declared dead after ~70 steps (ln 2 / (1 - decay)), not after hundreds.
        self.register_buffer("usage", torch.full((codebook_size,), 2.0 * dead_after))
        # What dead codes are re-seeded from: the first `restart_pool_size` rows are the last training batch's valid
        # encoder outputs. In the state dict, so a run resumed right before a restart restarts the same codes.
        self.register_buffer("restart_pool", torch.zeros(RESTART_POOL, self.code_dim))
        self.register_buffer("restart_pool_size", torch.zeros((), dtype=torch.long))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Weights saved before the pool was part of the state (the shipped tokenizer, older runs) load with an
        # empty pool: it only matters to training, whose next step fills it.
        for name in ("restart_pool", "restart_pool_size"):
            state_dict.setdefault(prefix + name, torch.zeros_like(getattr(self, name)))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # -- lookup -------------------------------------------------------------------------------------------------
    def embed(self, indices: torch.Tensor) -> torch.Tensor:
        """Codes of `indices` in the encoder's channel space: (...,) -> (..., dim)."""
        return self.project_out(self._codes()[indices])

    def _codes(self) -> torch.Tensor:
        return F.normalize(self.codebook, dim=-1) if self.l2_normalize else self.codebook

    def _lookup_space(self, z: torch.Tensor) -> torch.Tensor:
        z = self.project_in(z)
        return F.normalize(z, dim=-1) if self.l2_normalize else z

    def nearest(self, z: torch.Tensor, allowed: torch.Tensor | None = None) -> torch.Tensor:
        """Index of the nearest code for each row of z (M, code_dim); `allowed` (K,) bool restricts the search."""
        codes = self._codes()
        norms = codes.pow(2).sum(-1)[None]  # (1, K)
        out = []
        for rows in z.split(2048):  # chunks: a full (M, 8192) distance matrix of a video would take gigabytes
            # |z - e|^2 = |z|^2 - 2 z.e + |e|^2; |z|^2 is the same for every code.
            dist = norms - 2 * rows @ codes.t()  # (m, K)
            if allowed is not None:
                dist = dist.masked_fill(~allowed[None], float("inf"))
            out.append(dist.argmin(dim=-1))
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.long, device=z.device)

    # -- forward ------------------------------------------------------------------------------------------------
    def forward(
        self, z: torch.Tensor, valid: torch.Tensor | None = None, allowed: torch.Tensor | None = None
    ) -> QuantizerOutput:
        """Quantise a feature map.

        Args:
            z: (N, dim, *spatial) encoder output, e.g. (B*T, dim, h, w).
            valid: (N, *spatial) weights in [0, 1]; zero positions neither train the codebook nor add to losses.
            allowed: (codebook_size,) bool; restrict lookup to a video-specific sub-codebook.
        """
        shape = z.shape
        flat = rearrange(z, "n c ... -> (n ...) c")  # (M, dim)
        weight = torch.ones(flat.shape[0], device=z.device) if valid is None else valid.reshape(-1).float()
        # Lookup and codebook updates stay in fp32 under bf16/fp16 autocast: nearest-code distances and EMA sums
        # lose too much in half precision.
        with torch.autocast(device_type=z.device.type, enabled=False):
            z_lookup = self._lookup_space(flat.float())  # (M, code_dim)
            with torch.no_grad():
                indices = self.nearest(z_lookup, allowed)
            codes = self._codes()[indices]  # (M, code_dim)
            denom = weight.sum().clamp(min=1.0)
            commit = self.commitment * ((z_lookup - codes.detach()).pow(2).mean(-1) * weight).sum() / denom
            if self.update == "loss":
                codebook_loss = ((z_lookup.detach() - codes).pow(2).mean(-1) * weight).sum() / denom
            else:
                codebook_loss = z.new_zeros(())
                if self.training:
                    self._ema_update(z_lookup.detach(), indices, weight)
            # Straight-through: the decoder sees the code, the encoder gets the decoder's gradient.
            quantized_lookup = z_lookup + (codes - z_lookup).detach()
            quantized = rearrange(self.project_out(quantized_lookup).to(z.dtype), "(n s) c -> n c s", n=shape[0])
        counts = torch.bincount(indices, weights=weight, minlength=self.codebook_size)
        if self.training:
            self._track_usage(counts, z_lookup.detach(), weight)
        probs = counts / counts.sum().clamp(min=1e-8)
        perplexity = torch.exp(-(probs * torch.log(probs.clamp(min=1e-10))).sum())
        return QuantizerOutput(
            quantized=quantized.reshape(shape),
            indices=indices.reshape(shape[0], *shape[2:]),
            commit_loss=commit,
            codebook_loss=codebook_loss,
            perplexity=perplexity,
            codes_used=(counts > 0).sum(),
        )

    @torch.no_grad()
    def _ema_update(self, z: torch.Tensor, indices: torch.Tensor, weight: torch.Tensor) -> None:
        onehot_sum = torch.zeros_like(self.ema_sum).index_add_(0, indices, z * weight[:, None])  # (K, code_dim)
        counts = torch.bincount(indices, weights=weight, minlength=self.codebook_size)
        if self.sync_processes:
            # Every process must apply the same update, from everyone's assignments (DDP would otherwise
            # broadcast rank 0's buffers and drop the other ranks' statistics).
            torch.distributed.all_reduce(onehot_sum)
            torch.distributed.all_reduce(counts)
        if counts.sum() == 0:  # nothing valid in this batch: no evidence to move the codes
            return
        self.ema_count.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(onehot_sum, alpha=1 - self.decay)
        n = self.ema_count.sum()
        smoothed = (self.ema_count + 1e-5) / (n + self.codebook_size * 1e-5) * n  # Laplace smoothing
        self.codebook.copy_(self.ema_sum / smoothed[:, None])

    @torch.no_grad()
    def _track_usage(self, counts: torch.Tensor, z: torch.Tensor, weight: torch.Tensor) -> None:
        if counts.sum() == 0:
            return
        self.usage.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        candidates = z[weight > 0]  # (m, code_dim)
        n = min(len(candidates), RESTART_POOL)
        if n > 0:
            # Evenly spaced rows, not a random subset: no draw from the global RNG, which a resume does not restore.
            rows = torch.arange(n, device=z.device) * len(candidates) // n
            self.restart_pool[:n].copy_(candidates[rows])
            self.restart_pool_size.fill_(n)

    @torch.no_grad()
    def restart_dead_codes(self, generator: torch.Generator | None = None) -> int:
        """Re-seed codes whose usage has decayed below `dead_after`; returns how many were restarted.

        Call it every few hundred steps (the trainer does). Dead codes take recent encoder outputs (Jukebox), or
        with `split_overused` noisy copies of the most used codes (UViM), so the busiest clusters split in two.
        """
        dead = (self.usage < self.dead_after).nonzero().squeeze(1)
        recent = self.restart_pool[: int(self.restart_pool_size)]  # (n, code_dim)
        if len(dead) == 0 or len(recent) == 0:
            return 0
        if self.split_overused:
            busiest = self.usage.argsort(descending=True)[: len(dead)]
            source = self._codes()[busiest.repeat((len(dead) + len(busiest) - 1) // len(busiest))[: len(dead)]]
            noise = torch.randn(source.shape, generator=generator, device=source.device) * 0.01
            new = source + noise
            self.usage[busiest] *= 0.5  # the busy code now shares its cluster
        else:
            pick = torch.randint(len(recent), (len(dead),), generator=generator, device=recent.device)
            # A little noise keeps codes seeded from the same output apart (argmin would never pick the twin).
            noise = torch.randn(len(dead), self.code_dim, generator=generator, device=recent.device) * 0.01
            new = recent[pick].to(self.codebook.dtype) + noise
        if self.l2_normalize:
            new = F.normalize(new, dim=-1)
        self.codebook[dead] = new
        if self.update == "ema":
            self.ema_sum[dead] = new
            self.ema_count[dead] = 1.0
        self.usage[dead] = self.dead_after * 10  # give restarted codes time to be picked before judging them
        return len(dead)

    @torch.no_grad()
    def fraction_in_use(self) -> float:
        """Share of codes still alive by the usage EMA (what the trainer logs as 'codes in use')."""
        return float((self.usage >= self.dead_after).float().mean())
