"""The general masked-token prior: the per-video transformer's architecture over the whole general codebank.

DLFormer fits its transformer to each video from scratch. A prior trained once on the corpus's token grids
(`videovq train prior`, MaskGIT-style masking) knows what codes tend to sit next to each other in natural video;
per-video fitting then starts from it (`prior_for_video`) and only adapts it to the video's own codes.

The prior is a `TokenTransformer` with ``num_codes`` = the general codebank's size and the completion token at
index ``num_codes``. `prior_for_video` restricts it to a video codebook: the embedding rows and output logits of
the video's codes (and the completion token's row) are kept, everything else is copied unchanged, so the
per-video model starts out predicting exactly the prior's logits over those codes (tested).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from videovq.errors import InputError
from videovq.inpaint.transformer import TokenTransformer, TransformerConfig


@dataclass
class PriorConfig:
    """What rebuilds a prior: the transformer and the size of the codebank it predicts.

    Args:
        transformer: architecture (as the per-video transformer's).
        num_codes: codes of the general tokenizer's codebank.
    """

    transformer: TransformerConfig = field(default_factory=TransformerConfig)
    num_codes: int = 8192


def build_prior(config: PriorConfig, code_vectors: torch.Tensor | None = None) -> TokenTransformer:
    """A fresh prior; `code_vectors` (num_codes, code_dim) initialise its token embeddings (see TokenTransformer)."""
    return TokenTransformer(config.transformer, config.num_codes, code_vectors)


def load_prior(folder: str | Path) -> TokenTransformer:
    """A trained prior, loaded strictly: a model folder (``RUN/model``) or one of a run's checkpoints
    (``RUN/checkpoints/step_N``, whose config.yaml is the training config), so a run can be tried before it ends."""
    from videovq.config import read_yaml
    from videovq.io.weights import load_weights, read_config, read_safetensors

    folder = Path(folder)
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise InputError(f"{folder}: no model.safetensors; pass a prior's model folder or a checkpoint of its run")
    if "transformer" in read_yaml(folder / "config.yaml", "prior config (config.yaml)"):
        config = read_config(PriorConfig, folder)
    else:  # a checkpoint: its config is the training config, and the codebank's size is in the weights
        num_codes = len(read_safetensors(weights)["head.bias"])
        config = PriorConfig(read_config(TransformerConfig, folder, section="model"), num_codes)
    model = build_prior(config)
    load_weights(model, weights, strict=True)
    return model.eval()


def prior_for_video(prior: TokenTransformer, general_ids: torch.Tensor) -> TokenTransformer:
    """A per-video transformer over the codes `general_ids` (K,) (local index i = general code general_ids[i]),
    initialised from `prior`; the prior itself is not modified."""
    ids = general_ids.long().cpu()
    if ids.ndim != 1 or len(ids) == 0 or ids.min() < 0 or ids.max() >= prior.num_codes:
        raise InputError(f"general_ids must be a non-empty list of codes in [0, {prior.num_codes})")
    local = TokenTransformer(prior.config, len(ids))
    state = {k: v.detach().clone().cpu() for k, v in prior.state_dict().items()}
    completion = state["embed.weight"][prior.num_codes :]
    state["embed.weight"] = torch.cat([state["embed.weight"][ids], completion])
    state["head.weight"], state["head.bias"] = state["head.weight"][ids], state["head.bias"][ids]
    local.load_state_dict(state, strict=True)
    return local
