"""A video LDM: a frozen image LDM, its trained temporal layers and (optionally) a temporal decoder; its config, and
loading one from ``RUN/model`` of `videovq train vldm`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from einops import rearrange

from videovq.errors import InputError
from videovq.io.weights import load_weights, read_config
from videovq.vldm.inflate import TemporalConfig, TemporalWeights, VideoUNet, inflate
from videovq.vldm.models import SHIPPED, ImageLDM, load_image_ldm


@dataclass
class VideoLDMConfig:
    """What rebuilds a trained video LDM around its image model (stored as config.yaml beside the weights).

    Args:
        image_model: the image LDM folder it was trained on ("shipped" = the small model shipped with videovq).
        temporal: the inserted temporal layers.
        clip_len: frames per clip in training (generation goes longer by continuing with context frames).
        max_context_frames: the largest number of context frames it was trained with.
        noise_correlation: the share of noise its training clips' frames had in common; `generate` starts from the
            same mixture unless told otherwise.
    """

    image_model: str = SHIPPED
    temporal: TemporalConfig = field(default_factory=TemporalConfig)
    clip_len: int = 8
    max_context_frames: int = 2
    noise_correlation: float = 0.0


@dataclass
class VideoLDM:
    """A frozen image LDM with trained temporal layers (and, when present, a temporal VAE decoder)."""

    image: ImageLDM
    unet: VideoUNet
    config: VideoLDMConfig
    decoder: Any = None  # a temporal decoder (videovq.vldm.decoder) used instead of the image VAE's when set

    @property
    def latent_channels(self) -> int:
        return self.unet.latent_channels

    @property
    def latent_size(self) -> tuple[int, int]:
        size = self.image.unet.config.sample_size
        return (size, size) if isinstance(size, int) else tuple(size)


def load_video_ldm(
    model_dir: str | Path | None = None, image_model: str | Path | None = None, device: str = "cpu"
) -> VideoLDM:
    """Rebuild a video LDM from ``RUN/model`` of `videovq train vldm` (None: the shipped one).

    Args:
        model_dir: folder with temporal.safetensors + config.yaml; None for the model shipped with videovq.
        image_model: the image LDM folder; default: the one the model was trained on (its config's image_model).
        device: torch device.
    """
    if model_dir is None:
        from videovq.weights import vldm_path

        model_dir = vldm_path()
    folder = Path(model_dir)
    weights = folder / "temporal.safetensors"
    if not weights.exists():
        raise InputError(f"{folder}: no temporal.safetensors here; pass RUN/model of `videovq train vldm`")
    config = read_config(VideoLDMConfig, folder)
    image = load_image_ldm(image_model if image_model is not None else config.image_model)
    unet = inflate(image.unet, config.temporal)
    load_weights(TemporalWeights(unet), weights)
    image.to(device)
    unet.to(device).eval()
    decoder = None
    if (folder / "decoder").is_dir():
        from videovq.vldm.decoder import load_temporal_decoder

        decoder = load_temporal_decoder(folder / "decoder", image.vae).to(device).eval()
    return VideoLDM(image, unet, config, decoder)


def encode_prompt(image: ImageLDM, prompts: list[str], device) -> torch.Tensor:
    """Text embeddings (B, L, D) from the image model's tokenizer and text encoder."""
    tokens = image.tokenizer(
        prompts, padding="max_length", max_length=image.tokenizer.model_max_length, truncation=True, return_tensors="pt"
    )
    with torch.no_grad():
        return image.text_encoder(tokens.input_ids.to(device))[0]


def encode_video(vae, video: torch.Tensor, scale: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """(B, 3, T, H, W) in [-1, 1] -> scaled latents (B, C, T, h, w), frame by frame (sampled given a generator)."""
    frames = rearrange(video, "b c t h w -> (b t) c h w")
    dist = vae.encode(frames).latent_dist
    latents = dist.sample(generator) if generator is not None else dist.mean
    return rearrange(latents * scale, "(b t) c h w -> b c t h w", t=video.shape[2])
