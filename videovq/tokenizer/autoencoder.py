"""VQGAN-style convolutional autoencoder over frames, with a vector quantiser and residual temporal aggregation.

Frames are encoded one by one (2D convolutions on `(B*T, C, H, W)`), quantised, mixed over time by the
aggregation block, and decoded one by one. Downsampling factor = patch_size * 2 ** (len(channel_mult) - 1).

`patch_size` > 1 starts with a space-to-depth stem (pixel unshuffle) and ends with depth-to-space: no convolution
runs at full resolution, which is what makes per-video finetuning affordable on a CPU (docs/tokenizer.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from videovq.errors import InputError
from videovq.tokenizer.aggregation import ResidualTemporalAggregation
from videovq.tokenizer.quantizer import VectorQuantizer


@dataclass
class AutoencoderConfig:
    """Architecture of the tokenizer; stored in every checkpoint so the checkpoint rebuilds its model.

    Args:
        patch_size: space-to-depth factor of the stem (1 = VQGAN's full-resolution first level).
        channels: width of the first level; level i has channels * channel_mult[i].
        channel_mult: one entry per resolution level; downsampling = patch_size * 2 ** (len - 1).
        num_res_blocks: residual blocks per level.
        latent_dim: channels of the encoder output / decoder input.
        codebook_size: codes in the general codebank.
        code_dim: dimension of the code lookup space (low-dimensional lookup).
        quantizer_update: "ema" or "loss" codebook updates.
        l2_normalize: cosine-similarity code lookup.
        commitment: beta of the commitment loss.
        split_overused: restart dead codes by splitting over-used ones (else from recent encoder outputs).
        aggregation: residual temporal aggregation block: "attention", "conv3d" or "none".
        aggregation_window: frames the aggregation block sees (odd).
    """

    patch_size: int = 2
    channels: int = 64
    channel_mult: list[int] = field(default_factory=lambda: [1, 2, 2, 4])
    num_res_blocks: int = 1
    latent_dim: int = 256
    codebook_size: int = 8192
    code_dim: int = 32
    quantizer_update: Literal["ema", "loss"] = "ema"
    l2_normalize: bool = True
    commitment: float = 0.25
    split_overused: bool = False
    aggregation: Literal["attention", "conv3d", "none"] = "attention"
    aggregation_window: int = 3

    @property
    def downsample(self) -> int:
        return self.patch_size * 2 ** (len(self.channel_mult) - 1)


class AutoencoderOutput(NamedTuple):
    recon: torch.Tensor  # (B, C, T, H, W)
    indices: torch.Tensor  # (B, T, h, w)
    commit_loss: torch.Tensor
    codebook_loss: torch.Tensor
    perplexity: torch.Tensor
    codes_used: torch.Tensor


class EncodeOutput(NamedTuple):
    quantized: torch.Tensor  # (B, D, T, h, w)
    indices: torch.Tensor  # (B, T, h, w)
    commit_loss: torch.Tensor
    codebook_loss: torch.Tensor
    perplexity: torch.Tensor
    codes_used: torch.Tensor


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(32, channels) if channels % min(32, channels) == 0 else 1, channels, eps=1e-6)


class ResBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.norm1, self.conv1 = _norm(in_channels), nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2, self.conv2 = _norm(out_channels), nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class Encoder(nn.Module):
    def __init__(
        self, in_channels: int, patch_size: int, channels: int, channel_mult: list[int], num_res_blocks: int, latent_dim: int
    ):
        super().__init__()
        widths = [channels * m for m in channel_mult]
        layers: list[nn.Module] = [nn.PixelUnshuffle(patch_size)] if patch_size > 1 else []
        layers.append(nn.Conv2d(in_channels * patch_size**2, widths[0], 3, padding=1))
        prev = widths[0]
        for level, width in enumerate(widths):
            for _ in range(num_res_blocks):
                layers.append(ResBlock(prev, width))
                prev = width
            if level < len(widths) - 1:
                layers.append(nn.Conv2d(prev, prev, 3, stride=2, padding=1))  # downsample by 2
        layers += [ResBlock(prev, prev), _norm(prev), nn.SiLU(), nn.Conv2d(prev, latent_dim, 1)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class Decoder(nn.Module):
    def __init__(
        self, out_channels: int, patch_size: int, channels: int, channel_mult: list[int], num_res_blocks: int, latent_dim: int
    ):
        super().__init__()
        widths = [channels * m for m in channel_mult][::-1]
        layers: list[nn.Module] = [nn.Conv2d(latent_dim, widths[0], 3, padding=1), ResBlock(widths[0], widths[0])]
        prev = widths[0]
        for level, width in enumerate(widths):
            for _ in range(num_res_blocks):
                layers.append(ResBlock(prev, width))
                prev = width
            if level < len(widths) - 1:
                layers += [nn.Upsample(scale_factor=2.0, mode="nearest"), nn.Conv2d(prev, prev, 3, padding=1)]
        layers += [_norm(prev), nn.SiLU(), nn.Conv2d(prev, out_channels * patch_size**2, 3, padding=1)]
        if patch_size > 1:
            layers.append(nn.PixelShuffle(patch_size))
        self.layers = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.layers(z)

    @property
    def last_layer(self) -> torch.Tensor:
        """The weight of the last convolution (where VQGAN balances the adversarial and reconstruction gradients)."""
        return [m for m in self.layers if isinstance(m, nn.Conv2d)][-1].weight


class VQAutoencoder(nn.Module):
    """The tokenizer: video `(B, 3, T, H, W)` in [-1, 1] <-> code indices `(B, T, H/f, W/f)`.

    Args:
        config: architecture (see `AutoencoderConfig`).
    """

    def __init__(self, config: AutoencoderConfig):
        super().__init__()
        self.config = config
        c = config
        self.encoder = Encoder(3, c.patch_size, c.channels, c.channel_mult, c.num_res_blocks, c.latent_dim)
        self.quantizer = VectorQuantizer(
            c.latent_dim,
            codebook_size=c.codebook_size,
            code_dim=c.code_dim,
            update=c.quantizer_update,
            l2_normalize=c.l2_normalize,
            commitment=c.commitment,
            split_overused=c.split_overused,
        )
        self.aggregation = (
            ResidualTemporalAggregation(c.latent_dim, c.aggregation_window, c.aggregation)
            if c.aggregation != "none"
            else None
        )
        self.decoder = Decoder(3, c.patch_size, c.channels, c.channel_mult, c.num_res_blocks, c.latent_dim)

    @property
    def downsample(self) -> int:
        return self.config.downsample

    def check_video(self, video: torch.Tensor) -> None:
        f = self.downsample
        if video.ndim != 5 or video.shape[1] != 3:
            raise ValueError(f"expected video (B, 3, T, H, W), got {tuple(video.shape)}")
        if video.shape[-2] % f or video.shape[-1] % f:
            raise ValueError(f"frame size {video.shape[-1]}x{video.shape[-2]} must be a multiple of {f}; pad it first")

    def encode(
        self, video: torch.Tensor, valid: torch.Tensor | None = None, allowed: torch.Tensor | None = None
    ) -> EncodeOutput:
        """Quantise a video.

        Args:
            video: (B, 3, T, H, W) in [-1, 1], H and W multiples of the downsampling factor.
            valid: (B, T, H, W) bool/float, 1 = known pixel; only fully valid latent cells train the codebook.
            allowed: (codebook_size,) bool: restrict codes to a video-specific sub-codebook.
        """
        self.check_video(video)
        b = video.shape[0]
        z = self.encoder(rearrange(video, "b c t h w -> (b t) c h w"))  # (B*T, D, h, w)
        cell_valid = None
        if valid is not None:
            # A latent cell counts as valid only if every pixel under it is (min-pool = -maxpool(-x)).
            v = rearrange(valid.float(), "b t h w -> (b t) 1 h w")
            cell_valid = -F.max_pool2d(-v, self.downsample)[:, 0]  # (B*T, h, w)
        q = self.quantizer(z, cell_valid, allowed)
        return EncodeOutput(
            quantized=rearrange(q.quantized, "(b t) d h w -> b d t h w", b=b),
            indices=rearrange(q.indices, "(b t) h w -> b t h w", b=b),
            commit_loss=q.commit_loss,
            codebook_loss=q.codebook_loss,
            perplexity=q.perplexity,
            codes_used=q.codes_used,
        )

    def decode(self, quantized: torch.Tensor) -> torch.Tensor:
        """(B, D, T, h, w) quantised features -> (B, 3, T, H, W) video (not clamped)."""
        b = quantized.shape[0]
        if self.aggregation is not None:
            quantized = self.aggregation(quantized)
        frames = self.decoder(rearrange(quantized, "b d t h w -> (b t) d h w"))  # (B*T, 3, H, W)
        return rearrange(frames, "(b t) c h w -> b c t h w", b=b)

    def embed_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """(B, T, h, w) general-codebank indices -> (B, D, T, h, w) quantised features."""
        return rearrange(self.quantizer.embed(indices), "b t h w d -> b d t h w")

    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """(B, T, h, w) general-codebank indices -> (B, 3, T, H, W) video."""
        return self.decode(self.embed_indices(indices))

    def forward(
        self, video: torch.Tensor, valid: torch.Tensor | None = None, allowed: torch.Tensor | None = None
    ) -> AutoencoderOutput:
        enc = self.encode(video, valid, allowed)
        return AutoencoderOutput(
            recon=self.decode(enc.quantized),
            indices=enc.indices,
            commit_loss=enc.commit_loss,
            codebook_loss=enc.codebook_loss,
            perplexity=enc.perplexity,
            codes_used=enc.codes_used,
        )


def load_tokenizer(path: str | Path | None = None, device: str | torch.device = "cpu") -> VQAutoencoder:
    """Rebuild a tokenizer from a model or checkpoint folder (model.safetensors + config.yaml) or its .safetensors.

    None loads the general tokenizer shipped with videovq.
    """
    from videovq.io.weights import load_weights, read_config

    if path is None:
        from videovq.weights import tokenizer_path

        path = tokenizer_path()
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such tokenizer file or folder; check the --tokenizer path")
    if path.is_file() and path.suffix != ".safetensors":  # a .pt/.ckpt would need unpickling: never done
        raise InputError(
            f"{path}: not a tokenizer (pickles and .pt files are never loaded); pass a model folder "
            "(model.safetensors + config.yaml) or its .safetensors file"
        )
    weights = path / "model.safetensors" if path.is_dir() else path
    model = VQAutoencoder(read_config(AutoencoderConfig, path, section="model"))
    load_weights(model, weights, strict=True)
    return model.to(device).eval()
