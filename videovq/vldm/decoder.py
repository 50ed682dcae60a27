"""Temporal VAE decoder (Align your Latents §3.1.1): the image decoder with temporal layers, finetuned on video.

The image autoencoder decodes every frame on its own, so independent decoding errors flicker. `inflate_decoder`
inserts 3-D-conv residual blocks (and optionally temporal attention) after the decoder's ResNet/attention blocks,
mixed in by learned factors that start at the identity, exactly as `inflate` does for the UNet. The encoder,
``quant_conv`` and hence the latent space are never touched: only the decoder side is trained.

Long clips decode in chunks of `chunk` frames that overlap by `overlap` frames; overlapping frames are cross-faded
linearly so no seam shows where one chunk hands over to the next, and memory stays flat in the clip length.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import torch
from einops import rearrange
from torch import nn

from videovq.errors import InputError
from videovq.io.weights import load_weights, read_config
from videovq.vldm.inflate import FrameContext, TemporalConfig, insert_temporal_layers
from videovq.windows import temporal_windows


@dataclass
class TemporalDecoderConfig:
    """Temporal layers of the decoder (no context conditioning: the decoder sees every frame's latent).

    Args:
        temporal: which layers to insert (``context`` is ignored).
        train_spatial: also finetune the decoder's own (spatial) weights, as the paper does; False trains only the
            inserted temporal layers.
    """

    temporal: TemporalConfig = field(default_factory=lambda: TemporalConfig(attention=False, context=False))
    train_spatial: bool = True


class TemporalDecoder(nn.Module):
    """A diffusers `AutoencoderKL` whose decoder has temporal layers; decodes ``(B, C, T, h, w)`` latents.

    It takes ownership of `vae`: the temporal layers go into `vae.decoder` in place, and training may change the
    decoder's own weights too (`train_spatial`), so pass a copy when the image VAE must stay as it is
    (`load_temporal_decoder` does).
    """

    def __init__(self, vae: nn.Module, config: TemporalDecoderConfig):
        super().__init__()
        self.vae = vae
        self.config = config
        self.frames = FrameContext()
        decoder = vae.decoder
        temporal = copy.copy(config.temporal)
        temporal.context = False  # every frame's latent is known: nothing to condition on
        if insert_temporal_layers([decoder.mid_block, *decoder.up_blocks], temporal, self.frames, 0) == 0:
            raise InputError(
                "no temporal layers were inserted into the decoder: enable temporal.conv or temporal.attention"
            )

    def decoder_parameters(self) -> dict[str, nn.Parameter]:
        """What training may change: the decoder side (post_quant_conv + decoder), never the encoder."""
        return {
            name: p
            for name, p in self.vae.named_parameters()
            if name.startswith(("decoder.", "post_quant_conv.")) and (self.config.train_spatial or "temporal_" in name)
        }

    def decoder_state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.vae.state_dict().items() if k.startswith(("decoder.", "post_quant_conv."))}

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """Unscaled latents ``(B, C, T, h, w)`` -> frames ``(B, 3, T, H, W)`` in about [-1, 1], all frames at once."""
        num_frames = latents.shape[2]
        with self.frames.during(num_frames):
            frames = self.vae.decode(rearrange(latents, "b c t h w -> (b t) c h w")).sample
        return rearrange(frames, "(b t) c h w -> b c t h w", t=num_frames)

    @torch.no_grad()
    def decode_video(self, latents: torch.Tensor, chunk: int = 16, overlap: int = 4) -> torch.Tensor:
        """Decode a clip of any length in overlapping chunks (memory flat in T); overlaps are cross-faded."""
        num_frames = latents.shape[2]
        overlap = min(overlap, max(0, chunk - 1))
        windows = temporal_windows(num_frames, chunk, overlap)
        out = weight_sum = None
        for i, window in enumerate(windows):
            part = self(latents[:, :, window.start : window.stop]).float()
            weight = crossfade_weights(window.size, overlap if i > 0 else 0, overlap if i < len(windows) - 1 else 0)
            weight = weight.to(part.device)[None, None, :, None, None]
            if out is None:
                out = torch.zeros(*part.shape[:2], num_frames, *part.shape[3:], device=part.device)
                weight_sum = torch.zeros(num_frames, device=part.device)
            out[:, :, window.start : window.stop] += part * weight
            weight_sum[window.start : window.stop] += weight.flatten()
        return out / weight_sum[None, None, :, None, None]


def crossfade_weights(size: int, fade_in: int, fade_out: int) -> torch.Tensor:
    """Per-frame weights of one chunk: ramps up over its first `fade_in` frames and down over its last `fade_out`."""
    weight = torch.ones(size)
    if fade_in:
        weight[:fade_in] = torch.arange(1, fade_in + 1) / (fade_in + 1)
    if fade_out:
        weight[size - fade_out :] = torch.minimum(
            weight[size - fade_out :], torch.arange(fade_out, 0, -1) / (fade_out + 1)
        )
    return weight


def inflate_decoder(vae: nn.Module, config: TemporalDecoderConfig | None = None) -> TemporalDecoder:
    """Insert temporal layers into a diffusers `AutoencoderKL`'s decoder, in place (the result owns `vae`, see
    `TemporalDecoder`); identity at initialisation."""
    if not hasattr(vae, "decoder") or not hasattr(vae.decoder, "up_blocks"):
        raise InputError(f"inflate_decoder expects a diffusers AutoencoderKL, got {vae.__class__.__name__}")
    return TemporalDecoder(vae, config or TemporalDecoderConfig())


DECODER_WEIGHTS = "decoder.safetensors"


class DecoderWeights:
    """The decoder side of a `TemporalDecoder` with ``state_dict()`` / ``load_state_dict()`` (for checkpoints)."""

    def __init__(self, model: TemporalDecoder):
        self.model = model

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.model.decoder_state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor], strict: bool = True):
        own = self.model.decoder_state_dict()
        missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        if strict and (missing or unexpected):
            raise InputError(
                f"decoder weights do not fit this autoencoder ({len(missing)} missing, {len(unexpected)} unexpected); "
                "were they trained for another VAE or temporal config?"
            )
        full = self.model.vae.state_dict()
        full.update({k: v.to(full[k].dtype) for k, v in state.items() if k in full})
        self.model.vae.load_state_dict(full)
        return nn.modules.module._IncompatibleKeys(missing, unexpected)


def load_temporal_decoder(folder: str | Path, vae: nn.Module) -> TemporalDecoder:
    """A temporal decoder from ``RUN/model`` of `videovq train decoder`, around a copy of `vae` (its encoder)."""
    folder = Path(folder)
    weights = folder / DECODER_WEIGHTS
    if not weights.exists():
        raise InputError(f"{folder}: no {DECODER_WEIGHTS} here; pass RUN/model of `videovq train decoder`")
    model = inflate_decoder(copy.deepcopy(vae), read_config(TemporalDecoderConfig, folder))
    load_weights(DecoderWeights(model), weights)
    return model
