"""Filling unknown tokens: MaskGIT-style iterative decoding (Chang et al., CVPR 2022, §3.2) or one shot.

Each step predicts every unknown token, keeps the most confident ones, and re-predicts the rest with those as
context; a cosine schedule decides how many stay unknown after each step. One step = one-shot argmax prediction.

Taking the most likely code everywhere (temperature 0) fills a large region with the few codes that are likeliest
anywhere, which decode to a flat patch. Two of MaskGIT's remedies are here: sampling from the `top_k` likeliest codes
at a temperature, and `confidence_noise`, Gumbel noise added to the confidence that picks which tokens to keep,
annealed to zero over the steps, so that the kept tokens are spread over the region instead of all agreeing early
(MaskGIT's "choice temperature", 4.5 in its code).

Both draw their randomness once per spatial position and share it across frames (sampling by the Gumbel-max trick
with one Gumbel field per (y, x, code)): where the scene is still, so are the logits, and every frame gets the same
sample instead of a fresh one that flickers; where the content moves, the logits move and the choice with them.
"""

from __future__ import annotations

import math

import torch

from videovq.inpaint.transformer import TokenTransformer


@torch.no_grad()
def predict_tokens(
    model: TokenTransformer,
    tokens: torch.Tensor,
    unknown: torch.Tensor,
    steps: int = 8,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    top_k: int = 0,
    confidence_noise: float = 0.0,
) -> torch.Tensor:
    """Fill the unknown positions of one window of tokens.

    Args:
        model: the video's transformer.
        tokens: (T, h, w) local indices (values at unknown positions are ignored).
        unknown: (T, h, w) bool, positions to predict.
        steps: decoding steps; 1 = one-shot.
        temperature: sampling temperature; 0 = always take the most likely code.
        generator: randomness for sampling and confidence noise (fixed seed, same result): a generator in the same
            state gives every window the same per-position noise.
        top_k: sample among the k likeliest codes only (0 = all); unused at temperature 0.
        confidence_noise: scale of the Gumbel noise on the keep-or-re-predict confidence at the first step,
            falling linearly to 0 at the last (0 = none).

    Returns:
        (T, h, w) tokens with every unknown position filled by a real code.
    """
    if steps < 1:
        raise ValueError(f"steps={steps}: need at least one decoding step")
    tokens = tokens.masked_fill(unknown, model.completion_token).clone()
    remaining = unknown.clone()
    total = int(unknown.sum())
    _, height, width = tokens.shape
    code_noise = _gumbel((height, width, model.num_codes), generator, tokens.device) if temperature > 0 else None
    keep_noise = _gumbel((height, width), generator, tokens.device) if confidence_noise > 0 else None
    for step in range(steps):
        if not remaining.any():
            break
        logits = model(tokens[None])[0].float()  # (T, h, w, K)
        if temperature > 0:
            if 0 < top_k < logits.shape[-1]:
                cut = logits.topk(top_k, dim=-1).values[..., -1:]
                logits = logits.masked_fill(logits < cut, float("-inf"))
            probs = torch.softmax(logits / temperature, dim=-1)
            choice = (logits / temperature + code_noise).argmax(-1)  # a sample of `probs` (Gumbel-max)
        else:
            probs = torch.softmax(logits, dim=-1)
            choice = probs.argmax(-1)
        confidence = probs.gather(-1, choice[..., None])[..., 0].clamp_min(1e-30).log()
        if keep_noise is not None:
            confidence = confidence + confidence_noise * (1 - step / steps) * keep_noise
        confidence = confidence.masked_fill(~remaining, float("-inf"))
        # Cosine schedule: after step s, total * cos(pi/2 * (s+1)/steps) tokens stay unknown.
        keep_unknown = int(math.floor(total * math.cos(math.pi / 2 * (step + 1) / steps)))
        reveal = int(remaining.sum()) - keep_unknown
        if reveal <= 0:
            continue
        chosen = confidence.flatten().topk(reveal).indices
        flat_tokens, flat_remaining = tokens.view(-1), remaining.view(-1)
        flat_tokens[chosen] = choice.view(-1)[chosen]
        flat_remaining[chosen] = False
    return tokens


def _gumbel(shape: tuple[int, ...], generator: torch.Generator | None, device) -> torch.Tensor:
    """Standard Gumbel noise (drawn on the CPU, so a seed gives the same draw on every device)."""
    uniform = torch.rand(shape, generator=generator).clamp(1e-20, 1 - 1e-7)
    return (-torch.log(-torch.log(uniform))).to(device)
