"""Temporal layers: attention and 3-D convolutions over frames, and the learned spatial/temporal blend.

These are the "temporal layers" that Align your Latents (Blattmann et al., CVPR 2023, §3.1) interleaves with the
frozen spatial layers of an image LDM, mixed in by a learned factor alpha, and the residual temporal aggregation
of DLFormer's tokenizer (Ren et al., CVPR 2022), which lets each location look at neighbouring frames.

Every layer takes either layout:

* ``(B, C, T, H, W)``: the package's canonical video layout, or
* ``((B*T), C, H, W)`` with ``num_frames=T``: the layout image UNet blocks see, frames folded into the batch.

and returns the same layout it was given.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from videovq.errors import InputError
from videovq.modules.attention import MultiHeadAttention


def sinusoidal_embedding(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Transformer sinusoids (Vaswani et al. 2017) for (possibly fractional) positions.

    Channel ``i < dim/2`` is ``sin(p * w_i)`` and channel ``dim/2 + i`` is ``cos(p * w_i)``, with
    ``w_i = 10000^(-i / (dim/2))`` (the same frequencies as Vaswani et al., sines and cosines in two halves rather
    than interleaved). An odd ``dim`` gets a zero last channel.

    Args:
        positions: Any shape, e.g. frame indices ``(T,)``; computed in float32 (float64 if given float64).
        dim: Embedding channels.

    Returns:
        ``positions.shape + (dim,)``.
    """
    if dim < 1:
        raise ValueError(f"dim must be positive, got {dim}")
    dtype = torch.float64 if positions.dtype == torch.float64 else torch.float32
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=dtype, device=positions.device) / max(half, 1))
    angles = positions.to(dtype).unsqueeze(-1) * freqs
    emb = torch.cat([angles.sin(), angles.cos()], dim=-1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb


def band_mask(num_frames: int, window: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Boolean ``(T, T)`` mask, True where ``|i - j| <= window // 2`` (frame i may attend to frame j).

    Args:
        num_frames: T.
        window: Odd window length; ``window=3`` lets each frame see itself and its two neighbours.
        device: Device of the mask.
    """
    idx = torch.arange(num_frames, device=device)
    return (idx[:, None] - idx[None, :]).abs() <= window // 2


def _largest_divisor_at_most(n: int, limit: int) -> int:
    return max(d for d in range(1, min(n, limit) + 1) if n % d == 0)


def _to_video(x: torch.Tensor, num_frames: int | None) -> tuple[torch.Tensor, bool]:
    """Bring either accepted layout to ``(B, C, T, H, W)``; also say whether the input was frame-folded 4-D."""
    if x.dim() == 5:
        if num_frames is not None and num_frames != x.shape[2]:
            raise ValueError(f"num_frames={num_frames} disagrees with the input's T={x.shape[2]} (B, C, T, H, W)")
        return x, False
    if x.dim() == 4:
        if num_frames is None:
            raise ValueError("a 4-D input ((B*T), C, H, W) needs num_frames to unfold the frames")
        if num_frames < 1 or x.shape[0] % num_frames:
            raise ValueError(f"batch {x.shape[0]} of the 4-D input is not a multiple of num_frames={num_frames}")
        return rearrange(x, "(b t) c h w -> b c t h w", t=num_frames), True
    raise ValueError(f"expected (B, C, T, H, W) or ((B*T), C, H, W), got shape {tuple(x.shape)}")


def _from_video(x: torch.Tensor, folded: bool) -> torch.Tensor:
    return rearrange(x, "b c t h w -> (b t) c h w") if folded else x


class TemporalAttention(nn.Module):
    """Residual self-attention along time, independently at every spatial location.

    Each pixel's T feature vectors form one sequence: ``x + to_out(attn(norm(x) + pos))``. Frame order enters via
    sinusoidal encodings of the frame index. The normalisation is a LayerNorm over channels of each token rather
    than a GroupNorm over (T, H, W): GroupNorm statistics would leak information across frames (breaking the
    ``window`` guarantee) and across pixels, while this layer is meant to be purely temporal and per location.

    Args:
        channels: C.
        heads: Attention heads.
        head_dim: Channels per head; default ``channels // heads``.
        window: If set (odd), a frame attends only to frames within ``+- window // 2`` -- DLFormer's aggregation
            over neighbouring frames. None = all frames.
        backend: Attention backend, see `videovq.modules.attention.attention`.
        zero_init: Zero the output projection so that the block is exactly the identity at initialisation (for a
            residual block used without a mixing factor, e.g. the tokenizer). Do not mix it in with a
            `MixingFactor` at alpha = 1 (see there).
    """

    def __init__(
        self,
        channels: int,
        heads: int = 8,
        head_dim: int | None = None,
        window: int | None = None,
        backend: str = "auto",
        zero_init: bool = False,
    ) -> None:
        super().__init__()
        if window is not None and (window < 1 or window % 2 == 0):
            raise InputError(f"temporal attention window must be a positive odd number of frames, got {window}")
        self.channels = channels
        self.window = window
        self.zero_init = zero_init
        self.norm = nn.LayerNorm(channels)
        self.attn = MultiHeadAttention(channels, heads=heads, head_dim=head_dim, backend=backend)
        if zero_init:
            nn.init.zeros_(self.attn.to_out[0].weight)
            nn.init.zeros_(self.attn.to_out[0].bias)

    def forward(self, x: torch.Tensor, num_frames: int | None = None) -> torch.Tensor:
        """Args:
            x: ``(B, C, T, H, W)``, or ``((B*T), C, H, W)`` together with ``num_frames``.
            num_frames: T, required for the 4-D layout.

        Returns:
            Same shape and layout as ``x``.
        """
        video, folded = _to_video(x, num_frames)
        batch, _, frames, height, width = video.shape
        tokens = rearrange(video, "b c t h w -> (b h w) t c")
        pos = sinusoidal_embedding(torch.arange(frames, device=x.device), self.channels).to(x.dtype)
        mask = None if self.window is None else band_mask(frames, self.window, device=x.device)
        out = self.attn(self.norm(tokens) + pos, attn_mask=mask)
        out = rearrange(out, "(b h w) t c -> b c t h w", b=batch, h=height, w=width)
        return _from_video(video + out, folded)

    def extra_repr(self) -> str:
        return f"window={self.window}, zero_init={self.zero_init}"


class Conv3dResBlock(nn.Module):
    """Residual block of two 3-D convolutions: ``skip(x) + conv(drop(act(norm(conv(act(norm(x)))))))``.

    Padding keeps T, H and W. Spatially it pads with zeros like the image convolutions it sits next to; in time it
    replicates the first and last frames, so the clip behaves as if its ends were held still: zero padding would
    feed the edge frames an all-black neighbour and make them darker / different from the middle ones.

    GroupNorm statistics are taken over (C/groups, T, H, W) of each video (``norm="clip"``), or over (C/groups, H, W)
    of each frame (``norm="frame"``). Per-frame statistics keep the block local in time -- frame t's output depends
    only on the frames its kernels reach -- so a long clip processed in overlapping chunks gives the same result as
    processed whole, away from the chunk edges; clip statistics would change with the chunk.

    Args:
        channels: Input channels.
        out_channels: Output channels; default ``channels`` (a 1x1x1 convolution maps the skip path otherwise).
        kernel_size: Odd ``(kt, kh, kw)``.
        groups: GroupNorm groups, lowered to the largest divisor of the channel count that does not exceed it.
        dropout: Dropout before the second convolution.
        zero_init: Zero the second convolution so the block starts as the identity (when channels are unchanged).
            Do not mix it in with a `MixingFactor` at alpha = 1 (see there).
        norm: "clip" or "frame": what the GroupNorm statistics are taken over (see above).
    """

    def __init__(
        self,
        channels: int,
        out_channels: int | None = None,
        kernel_size: tuple[int, int, int] = (3, 3, 3),
        groups: int = 32,
        dropout: float = 0.0,
        zero_init: bool = False,
        norm: str = "clip",
    ) -> None:
        super().__init__()
        if norm not in ("clip", "frame"):
            raise InputError(f"norm must be 'clip' or 'frame', got {norm!r}")
        self.norm = norm
        kernel_size = tuple(kernel_size)
        if len(kernel_size) != 3 or any(k < 1 or k % 2 == 0 for k in kernel_size):
            raise InputError(f"kernel_size must be three odd numbers (kt, kh, kw), got {kernel_size}")
        out_channels = channels if out_channels is None else out_channels
        self.zero_init = zero_init
        self.time_pad = kernel_size[0] // 2
        spatial_pad = (0, kernel_size[1] // 2, kernel_size[2] // 2)  # time is padded by hand, see _conv
        self.norm1 = nn.GroupNorm(_largest_divisor_at_most(channels, groups), channels)
        self.conv1 = nn.Conv3d(channels, out_channels, kernel_size, padding=spatial_pad)
        self.norm2 = nn.GroupNorm(_largest_divisor_at_most(out_channels, groups), out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv3d(out_channels, out_channels, kernel_size, padding=spatial_pad)
        self.skip = nn.Identity() if out_channels == channels else nn.Conv3d(channels, out_channels, 1)
        if zero_init:
            nn.init.zeros_(self.conv2.weight)
            nn.init.zeros_(self.conv2.bias)

    def _conv(self, conv: nn.Conv3d, x: torch.Tensor) -> torch.Tensor:
        if self.time_pad:
            x = F.pad(x, (0, 0, 0, 0, self.time_pad, self.time_pad), mode="replicate")
        return conv(x)

    def _norm(self, norm: nn.GroupNorm, x: torch.Tensor) -> torch.Tensor:
        if self.norm == "clip":
            return norm(x)
        frames = x.shape[2]
        return rearrange(norm(rearrange(x, "b c t h w -> (b t) c h w")), "(b t) c h w -> b c t h w", t=frames)

    def forward(self, x: torch.Tensor, num_frames: int | None = None) -> torch.Tensor:
        """Args:
            x: ``(B, C, T, H, W)``, or ``((B*T), C, H, W)`` together with ``num_frames``.
            num_frames: T, required for the 4-D layout.

        Returns:
            ``(B, C_out, T, H, W)``, or ``((B*T), C_out, H, W)`` for a 4-D input.
        """
        video, folded = _to_video(x, num_frames)
        h = self._conv(self.conv1, F.silu(self._norm(self.norm1, video)))
        h = self._conv(self.conv2, self.dropout(F.silu(self._norm(self.norm2, h))))
        return _from_video(self.skip(video) + h, folded)


class MixingFactor(nn.Module):
    """Learned blend ``alpha * spatial + (1 - alpha) * temporal`` with alpha in [0, 1] (Align your Latents, eq. 2).

    The video model must equal the image model at initialisation, so alpha starts at exactly 1. Keeping alpha in
    [0, 1] is done with a straight-through clamp, ``alpha = raw + (clamp(raw, 0, 1) - raw).detach()``: the value is
    clamped but the gradient reaches ``raw`` as if it were not. A plain clamp has zero gradient once ``raw``
    overshoots 1, so one step in that direction would freeze alpha forever; a sigmoid never reaches exactly 1.
    The price: ``raw`` may wander past a bound while the loss keeps pushing that way, and must come back before
    alpha moves again (with Adam that is at most about lr per step of wandering).

    Do not zero-initialise the temporal layer this factor mixes in. With alpha = 1 the output is already the
    image model's; if additionally temporal == spatial (a zero-initialised residual layer), then
    d loss / d alpha = <g, spatial - temporal> = 0 and d loss / d temporal = (1 - alpha) g = 0: neither alpha nor
    the temporal layer ever gets a gradient, and training is stuck.

    Args:
        init: Initial alpha in [0, 1]; 1 = spatial only.
    """

    def __init__(self, init: float = 1.0) -> None:
        super().__init__()
        if not 0.0 <= init <= 1.0:
            raise InputError(f"mixing factor init must lie in [0, 1], got {init}")
        self.raw = nn.Parameter(torch.tensor(float(init)))

    @property
    def alpha(self) -> torch.Tensor:
        """The clamped value (0-D tensor), differentiable with respect to ``raw`` everywhere."""
        return self.raw + (self.raw.clamp(0.0, 1.0) - self.raw).detach()

    def forward(self, spatial: torch.Tensor, temporal: torch.Tensor) -> torch.Tensor:
        """Args:
            spatial: Output of the spatial (image) layer.
            temporal: Output of the temporal layer, same shape.

        Returns:
            ``alpha * spatial + (1 - alpha) * temporal``, exactly ``spatial`` when alpha == 1.
        """
        alpha = self.alpha.to(spatial.dtype)
        # This form (not temporal + alpha * (spatial - temporal)) gives exactly `spatial` at alpha == 1.
        return alpha * spatial + (1.0 - alpha) * temporal

    def extra_repr(self) -> str:
        return f"alpha={self.alpha.item():.4f}"
