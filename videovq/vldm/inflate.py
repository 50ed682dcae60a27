"""Turn a frozen image UNet (or VAE decoder) into a video model by inserting temporal layers (Align your Latents §3.1).

After every spatial ResNet block goes a 3-D-convolution residual block, after every spatial attention (or
transformer) block goes a temporal attention block; each is blended into the spatial output by its own learned
factor alpha (`videovq.modules.temporal.MixingFactor`, alpha = 1 at initialisation, so the video model starts as the
image model applied frame by frame). The spatial blocks are diffusers' own, unchanged: each is wrapped in a
`SpatioTemporal` module that calls it and then its temporal layer. `inflate` wraps a new copy of the UNet's module
tree whose spatial parameters are the image UNet's own tensors, so the image UNet stays a working image model.

Spatial layers see frames folded into the batch, ``((B*T), C, H, W)``. The temporal layers take the frame count as
an argument; it reaches the `SpatioTemporal` wrappers through a `FrameContext` because diffusers' blocks call their
sub-layers with fixed signatures that have no place for it. Each video model owns its context, and fills it only
for the duration of its own forward.

Unlike diffusers' `UNetMotionModel` (temporal layers only after the ResNets of the down/up blocks, a fixed 32-frame
position table), this inflates every spatial layer including the middle block, works for any diffusers block that
calls its sub-layers as modules (UNet2DModel, UNet2DConditionModel, the AutoencoderKL decoder), has no frame-count
limit (sinusoidal positions), bypasses the temporal layers for a single frame (a 1-frame video is exactly the image
model), and can condition the temporal layers on given context frames (the paper's prediction model).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import nn
from torch.utils.checkpoint import checkpoint

from videovq.errors import InputError
from videovq.modules.temporal import Conv3dResBlock, MixingFactor, TemporalAttention

TEMPORAL_PREFIX = "temporal_"  # every inserted parameter lives under a module whose name starts with this


@dataclass
class TemporalConfig:
    """Which temporal layers to insert and how.

    Args:
        conv: a 3-D-conv residual block after every spatial ResNet block.
        attention: temporal attention after every spatial attention / transformer block.
        attention_after_resnets: also temporal attention after ResNets (for models with few spatial attentions).
        heads: temporal attention heads (lowered to divide the channels).
        kernel_size: the 3-D convolutions' (kt, kh, kw).
        conv_norm: GroupNorm statistics of the 3-D-conv blocks per "frame" (local in time: chunked processing is
            exact away from chunk edges) or per "clip".
        context: condition the temporal layers on context frames (latents + mask), for continuing a clip.
        gradient_checkpointing: recompute temporal activations in the backward pass (memory for compute).
        backend: attention backend ("auto": xformers on CUDA when installed, else torch SDPA).
    """

    conv: bool = True
    attention: bool = True
    attention_after_resnets: bool = False
    heads: int = 4
    kernel_size: list[int] | None = None
    conv_norm: str = "frame"
    context: bool = True
    gradient_checkpointing: bool = False
    backend: str = "auto"


class FrameContext:
    """The frame count and context conditioning of the forward in progress, for the `SpatioTemporal` wrappers.

    Owned by one video model (a `VideoUNet` or `TemporalDecoder`), which creates it, hands it to its wrappers and
    fills it with `during` for the duration of each forward; outside a forward it is empty and the wrappers refuse to
    run.
    """

    def __init__(self) -> None:
        self.num_frames: int | None = None
        self.condition: torch.Tensor | None = None  # ((B*T), C+1, h, w): context latents * mask, and the mask

    @contextlib.contextmanager
    def during(self, num_frames: int, condition: torch.Tensor | None = None) -> Iterator[None]:
        """Hold `num_frames` and `condition` for one forward; the previous values come back afterwards."""
        previous = self.num_frames, self.condition
        self.num_frames, self.condition = num_frames, condition
        try:
            yield
        finally:
            self.num_frames, self.condition = previous

    def frames(self) -> int:
        if self.num_frames is None:
            raise RuntimeError("a temporal layer was called outside its video model's forward; call the video model")
        return self.num_frames


class SpatioTemporal(nn.Module):
    """A spatial block followed by its temporal layer: ``alpha * s + (1 - alpha) * temporal(s + cond(c))``.

    `s` is the spatial block's output (the first element when it returns a tuple); `cond(c)` is a zero-initialised
    1x1 projection of the context-frame conditioning resized to this layer's resolution (absent when the model has
    no context conditioning).
    """

    def __init__(
        self,
        spatial: nn.Module,
        temporal: nn.Module,
        channels: int,
        frames: FrameContext,
        condition_channels: int,
        checkpointing: bool,
    ):
        super().__init__()
        self.spatial = spatial
        self.temporal_layer = temporal
        self.temporal_mix = MixingFactor(1.0)
        self.temporal_condition = None
        if condition_channels:
            self.temporal_condition = nn.Conv2d(condition_channels, channels, 1)
            nn.init.zeros_(self.temporal_condition.weight)
            nn.init.zeros_(self.temporal_condition.bias)
        self.checkpointing = checkpointing
        self._frames = [frames]  # in a list: a plain attribute, not a submodule or state

    def forward(self, *args, **kwargs):
        out = self.spatial(*args, **kwargs)
        frames = self._frames[0].frames()
        if frames == 1:  # a single frame has no time axis: exactly the image model
            return out
        hidden = out[0] if isinstance(out, tuple) else out
        mixed = self.mix(hidden, frames)
        return (mixed, *out[1:]) if isinstance(out, tuple) else mixed

    def mix(self, hidden: torch.Tensor, frames: int) -> torch.Tensor:
        temporal_in = hidden
        condition = self._frames[0].condition
        if self.temporal_condition is not None and condition is not None:
            resized = F.adaptive_avg_pool2d(condition.to(hidden.dtype), hidden.shape[-2:])
            temporal_in = hidden + self.temporal_condition(resized)
        if self.checkpointing and self.training and torch.is_grad_enabled():
            temporal = checkpoint(self.temporal_layer, temporal_in, frames, use_reentrant=False)
        else:
            temporal = self.temporal_layer(temporal_in, frames)
        return self.temporal_mix(hidden, temporal)


def _channels(block: nn.Module) -> int:
    """Output channels of a diffusers ResNet / attention / transformer block."""
    for name in ("out_channels", "in_channels", "channels"):
        value = getattr(block, name, None)
        if isinstance(value, int):
            return value
    if hasattr(block, "to_out"):  # diffusers Attention
        return block.to_out[0].out_features
    raise InputError(f"cannot tell the channel count of {block.__class__.__name__}; inflate supports diffusers blocks")


def _heads(channels: int, wanted: int) -> int:
    return max(h for h in range(1, min(channels, wanted) + 1) if channels % h == 0)


def _temporal_for(kind: str, channels: int, config: TemporalConfig) -> nn.Module:
    if kind == "conv":
        kernel = tuple(config.kernel_size or (3, 3, 3))
        return Conv3dResBlock(channels, kernel_size=kernel, norm=config.conv_norm)
    return TemporalAttention(channels, heads=_heads(channels, config.heads), backend=config.backend)


def insert_temporal_layers(
    blocks: list[nn.Module], config: TemporalConfig, frames: FrameContext, condition_channels: int
) -> int:
    """Wrap the ResNets and attentions of diffusers blocks (each with ``resnets`` / ``attentions`` lists) in place.

    Returns the number of temporal layers inserted.
    """
    inserted = 0
    for block in blocks:
        if block is None:
            continue
        for list_name, kind in (("resnets", "conv"), ("attentions", "attention")):
            layers = getattr(block, list_name, None)
            if layers is None:
                continue
            for i, spatial in enumerate(layers):
                if spatial is None or isinstance(spatial, SpatioTemporal):
                    continue
                kinds = []
                if kind == "conv" and config.conv:
                    kinds.append("conv")
                if (kind == "attention" and config.attention) or (kind == "conv" and config.attention_after_resnets):
                    kinds.append("attention")
                if not kinds:
                    continue
                channels = _channels(spatial)
                temporal = [_temporal_for(k, channels, config) for k in kinds]
                layer = temporal[0] if len(temporal) == 1 else _Sequential(temporal)
                layers[i] = SpatioTemporal(
                    spatial, layer, channels, frames, condition_channels, config.gradient_checkpointing
                )
                inserted += len(temporal)
    return inserted


class _Sequential(nn.Module):
    """Temporal layers applied one after the other (each takes ``(x, num_frames)``)."""

    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor, num_frames: int) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, num_frames)
        return x


class VideoUNet(nn.Module):
    """An image UNet with temporal layers: denoises ``(B, C, T, H, W)`` latents.

    Build it with `inflate`. Spatial weights are the image model's (frozen by `freeze_spatial`); `frames` is this
    model's own `FrameContext`.
    """

    def __init__(self, unet: nn.Module, config: TemporalConfig, frames: FrameContext):
        super().__init__()
        self.unet = unet
        self.temporal_config = config
        self.frames = frames

    @property
    def latent_channels(self) -> int:
        return int(self.unet.config.in_channels)

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        *,
        context: torch.Tensor | None = None,
        context_mask: torch.Tensor | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        class_labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Predict the noise of every frame.

        Args:
            sample: noisy latents ``(B, C, T, H, W)``.
            timestep: one per clip ``(B,)`` or a scalar (the same noise level for all frames).
            context: clean latents of given frames ``(B, C, T, H, W)`` (only where `context_mask` is True).
            context_mask: ``(B, T)`` bool, True for given (context) frames.
            encoder_hidden_states: text embeddings ``(B, L, D)`` for a text-conditioned UNet.
            class_labels: ``(B,)`` for a class-conditional UNet.

        Returns:
            ``(B, C, T, H, W)``.
        """
        batch, _, num_frames = sample.shape[:3]
        timestep = torch.as_tensor(timestep, device=sample.device)
        timestep = timestep.expand(batch) if timestep.dim() == 0 else timestep
        kwargs = {}
        if encoder_hidden_states is not None:
            kwargs["encoder_hidden_states"] = encoder_hidden_states.repeat_interleave(num_frames, dim=0)
        if class_labels is not None:
            kwargs["class_labels"] = class_labels.repeat_interleave(num_frames, dim=0)
        with self.frames.during(num_frames, self._condition(sample, context, context_mask)):
            out = self.unet(
                rearrange(sample, "b c t h w -> (b t) c h w"),
                timestep.repeat_interleave(num_frames),
                return_dict=False,
                **kwargs,
            )[0]
        return rearrange(out, "(b t) c h w -> b c t h w", t=num_frames)

    def _condition(self, sample, context, context_mask) -> torch.Tensor | None:
        if not self.temporal_config.context:
            if context_mask is not None and bool(context_mask.any()):
                raise InputError("this video model was built without context conditioning (temporal.context=false)")
            return None
        batch, channels, num_frames, height, width = sample.shape
        if context_mask is None:
            context_mask = torch.zeros(batch, num_frames, dtype=torch.bool, device=sample.device)
        if context is None:
            if bool(context_mask.any()):
                raise ValueError("context_mask marks given frames but no context latents were passed")
            context = torch.zeros_like(sample)
        mask = repeat(context_mask.to(sample.dtype), "b t -> b 1 t h w", h=height, w=width)
        condition = torch.cat([context * mask, mask], dim=1)
        return rearrange(condition, "b c t h w -> (b t) c h w")


def _unet_blocks(unet: nn.Module) -> list[nn.Module]:
    return [*unet.down_blocks, getattr(unet, "mid_block", None), *unet.up_blocks]


def inflate(unet: nn.Module, config: TemporalConfig | None = None) -> VideoUNet:
    """A video UNet: a diffusers ``UNet2DModel`` / ``UNet2DConditionModel`` with temporal layers inserted.

    `unet` itself is left as it was and stays usable as the image model. The video UNet's spatial parameters and
    buffers are `unet`'s own tensors (shared, not copied: no extra memory), so freezing, moving or casting them
    acts on both. At initialisation the result equals the image UNet applied to every frame.
    """
    config = config or TemporalConfig()
    if not hasattr(unet, "down_blocks") or not hasattr(unet, "up_blocks"):
        raise InputError(
            f"inflate expects a diffusers UNet2DModel or UNet2DConditionModel, got {unet.__class__.__name__}"
        )
    frames = FrameContext()
    condition_channels = int(unet.config.in_channels) + 1 if config.context else 0
    unet = share_weights_copy(unet)
    if insert_temporal_layers(_unet_blocks(unet), config, frames, condition_channels) == 0:
        raise InputError("no temporal layers were inserted: enable temporal.conv or temporal.attention")
    return VideoUNet(unet, config, frames)


def share_weights_copy(module: nn.Module) -> nn.Module:
    """A new module tree holding `module`'s own parameter and buffer tensors: changing the copy's structure (inserting
    layers) leaves `module` alone, while the weights stay one set."""
    shared = {id(t): t for t in (*module.parameters(), *module.buffers())}
    return copy.deepcopy(module, memo=shared)


def is_temporal(name: str) -> bool:
    """Whether a parameter/buffer name belongs to an inserted temporal layer."""
    return any(part.startswith(TEMPORAL_PREFIX) for part in name.split("."))


def freeze_spatial(model: nn.Module) -> nn.Module:
    """Only temporal parameters require grad afterwards."""
    for name, param in model.named_parameters():
        param.requires_grad_(is_temporal(name))
    return model


def temporal_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    return {name: p for name, p in model.named_parameters() if is_temporal(name)}


def spatial_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The image model's weights under their original names (``.spatial`` wrappers removed)."""
    return {
        name.replace(".spatial.", "."): value for name, value in model.state_dict().items() if not is_temporal(name)
    }


def temporal_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: value for name, value in model.state_dict().items() if is_temporal(name)}


def load_temporal_state_dict(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load temporal weights (e.g. from `temporal_state_dict`); every temporal tensor must be given, and only those."""
    own = temporal_state_dict(model)
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise InputError(
            f"temporal weights do not fit this model ({len(missing)} missing, e.g. {missing[:2]}; {len(unexpected)} "
            f"unexpected, e.g. {unexpected[:2]}); were they trained with another image model or temporal config?"
        )
    full = model.state_dict()
    full.update({k: v.to(full[k].dtype) for k, v in state.items()})
    model.load_state_dict(full)


class TemporalWeights:
    """The temporal part of a model as something with ``state_dict()`` / ``load_state_dict()`` (for checkpoints)."""

    def __init__(self, model: nn.Module):
        self.model = model

    def state_dict(self) -> dict[str, torch.Tensor]:
        return temporal_state_dict(self.model)

    def load_state_dict(self, state: dict[str, torch.Tensor], strict: bool = True):
        load_temporal_state_dict(self.model, state)
        return nn.modules.module._IncompatibleKeys([], [])
