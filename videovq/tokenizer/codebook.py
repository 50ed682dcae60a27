"""Video-specific codebook (DLFormer §3.1): the subset of the general codebank that one video actually uses.

Restricting the quantiser to the codes a video uses makes its token vocabulary small (hundreds instead of 8192),
which is what the per-video transformer predicts over. One extra index, the *completion token*, marks hole
positions whose code is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class VideoCodebook:
    """A remap between general-codebank indices and a video's local vocabulary.

    Args:
        global_ids: (K,) general index of each local code, most used first.
        counts: (K,) how often each code was used on the video's valid region.
        codebook_size: size of the general codebank.
    """

    global_ids: torch.Tensor
    counts: torch.Tensor
    codebook_size: int

    def __post_init__(self) -> None:
        if self.global_ids.numel() == 0:
            raise ValueError("a video codebook needs at least one code; the video has no valid (unmasked) pixels")
        lookup = torch.full((self.codebook_size,), -1, dtype=torch.long)
        lookup[self.global_ids] = torch.arange(len(self.global_ids))
        self._to_local = lookup

    @classmethod
    def from_indices(
        cls,
        indices: torch.Tensor,
        codebook_size: int,
        valid: torch.Tensor | None = None,
        min_count: int = 1,
        max_codes: int | None = None,
    ) -> "VideoCodebook":
        """Collect the codes used at valid positions.

        Args:
            indices: (...) general-codebank indices of a video's latent grid.
            codebook_size: size of the general codebank.
            valid: (...) bool, same shape; only valid positions count.
            min_count: drop codes used fewer times (rare codes are mostly noise at hole borders).
            max_codes: keep at most this many, the most used; quantising with `allowed()` then maps every other
                feature to its nearest kept code. A small vocabulary is what lets a per-video transformer learn.
        """
        flat = indices.reshape(-1).cpu()
        if valid is not None:
            flat = flat[valid.reshape(-1).cpu().bool()]
        counts = torch.bincount(flat, minlength=codebook_size)
        keep = (counts >= max(min_count, 1)).nonzero().squeeze(1)
        if len(keep) == 0 and len(flat) > 0:  # min_count too strict for a tiny video: keep what there is
            keep = (counts > 0).nonzero().squeeze(1)
        order = counts[keep].argsort(descending=True, stable=True)
        if max_codes is not None:
            order = order[:max_codes]
        return cls(keep[order], counts[keep][order], codebook_size)

    @property
    def size(self) -> int:
        """Number of real codes (the completion token not included)."""
        return len(self.global_ids)

    @property
    def completion_token(self) -> int:
        """Local index that marks a hole position."""
        return self.size

    @property
    def vocab_size(self) -> int:
        """Real codes + the completion token: the transformer's input vocabulary."""
        return self.size + 1

    def allowed(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """(codebook_size,) bool mask of the general codebank: the quantiser's `allowed` argument."""
        mask = torch.zeros(self.codebook_size, dtype=torch.bool, device=device)
        mask[self.global_ids.to(device)] = True
        return mask

    def to_local(self, global_indices: torch.Tensor, hole: torch.Tensor | None = None) -> torch.Tensor:
        """General indices -> local ones; positions in `hole` (bool, same shape) get the completion token.

        Every non-hole index must be in this codebook (quantise with `allowed()` to guarantee it).
        """
        local = self._to_local.to(global_indices.device)[global_indices]
        if hole is not None:
            local = torch.where(hole, torch.full_like(local, self.completion_token), local)
        outside = (local < 0).sum().item()
        if outside:
            raise ValueError(f"{outside} indices are not in this video codebook; quantise with allowed=codebook.allowed()")
        return local

    def to_global(self, local: torch.Tensor) -> torch.Tensor:
        """Local indices -> general ones; the completion token has no code and is refused."""
        if (local >= self.size).any() or (local < 0).any():
            raise ValueError("completion tokens (or out-of-range indices) left; predict every hole code first")
        return self.global_ids.to(local.device)[local]

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"global_ids": self.global_ids, "counts": self.counts, "codebook_size": torch.tensor(self.codebook_size)}

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> "VideoCodebook":
        return cls(state["global_ids"].long(), state["counts"].long(), int(state["codebook_size"]))
