"""One attention dispatch used by every transformer in the package, and a multi-head attention layer on top of it.

Backends (pick one with ``backend=``):

* ``"sdpa"``: `torch.nn.functional.scaled_dot_product_attention`. On CPU (checked with torch 2.13) it runs a fused
  flash-attention kernel for float32/float16/bfloat16/float64, with or without a 2-D/4-D mask, so memory stays O(N)
  instead of O(N^2) (benchmarks/attention.py: 18 MB instead of 4 GB at 8k tokens). It falls back to the O(N^2)
  "math" kernel when ``dropout_p > 0``; that is why `MultiHeadAttention` applies its dropout to the output
  projection (as LDM does) and never to the attention probabilities.
* ``"xformers"``: `xformers.ops.memory_efficient_attention` (CUDA tensors only). Masks are passed as an additive
  float bias (``-inf`` where attending is forbidden), padded to the alignment the kernel requires.
* ``"naive"``: explicit ``softmax(Q K^T / sqrt(d)) V``. It materialises the full N x N matrix; it exists as a
  readable reference for tests and benchmarks.
* ``"auto"``: ``"xformers"`` when it is installed, the tensors are on CUDA and their dtype is one it supports
  (float16, bfloat16, float32); ``"sdpa"`` otherwise. `resolve_backend` tells what it picks.

Tensors are ``(B, heads, N, head_dim)`` in and out for every backend. ``attn_mask`` is either boolean (True = this
query may attend to this key, the SDPA convention) or a float bias added to the scores, broadcastable to
``(B, heads, Nq, Nk)``. With a boolean mask, a query that may attend to no key at all gets a zero output on every
backend (softmax over an empty set is undefined; zero is what SDPA itself returns on CPU in torch 2.13).

Asking explicitly for a backend that cannot run (``"xformers"`` without the package, or on CPU tensors) raises
`InputError`; nothing silently falls back.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from videovq.errors import InputError

BACKENDS = ("auto", "sdpa", "xformers", "naive")
_XFORMERS_DTYPES = (torch.float16, torch.bfloat16, torch.float32)
# xformers' CUTLASS kernel reads the bias in 8-element aligned rows (stride(-2) % 8 == 0).
_XFORMERS_BIAS_ALIGN = 8


@functools.lru_cache(maxsize=None)
def xformers_available() -> bool:
    """Whether ``xformers.ops`` can be imported (checked once, lazily: importing it is slow)."""
    try:
        import xformers.ops  # noqa: F401
    except ImportError:
        return False
    return True


def check_backend(backend: str) -> str:
    """Validate a backend name (and that xformers is installed when it is asked for by name).

    Args:
        backend: One of ``"auto"``, ``"sdpa"``, ``"xformers"``, ``"naive"``.

    Returns:
        The same name, so the call can be used inline.
    """
    if backend not in BACKENDS:
        raise InputError(f"unknown attention backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "xformers" and not xformers_available():
        raise InputError(
            "attention backend 'xformers' was requested but xformers is not installed; "
            "install it with `pip install 'videovq[xformers]'` or use backend='auto' or 'sdpa'"
        )
    return backend


def resolve_backend(backend: str, device: torch.device | str, dtype: torch.dtype | None = None) -> str:
    """The concrete backend a call with these settings runs on.

    Args:
        backend: Requested backend (``"auto"``, ``"sdpa"``, ``"xformers"`` or ``"naive"``).
        device: Device of the query/key/value tensors.
        dtype: Their dtype; None means "any dtype xformers supports" when deciding ``"auto"``.

    Returns:
        ``"sdpa"``, ``"xformers"`` or ``"naive"``.

    Raises:
        InputError: An unknown name, or ``"xformers"`` asked for where it cannot run.
    """
    check_backend(backend)
    device = torch.device(device)
    xformers_ok = device.type == "cuda" and (dtype is None or dtype in _XFORMERS_DTYPES)
    if backend == "auto":
        return "xformers" if xformers_ok and xformers_available() else "sdpa"
    if backend == "xformers" and not xformers_ok:
        raise InputError(
            f"attention backend 'xformers' needs CUDA tensors of dtype float16, bfloat16 or float32, "
            f"got device={device.type}, dtype={dtype}; use backend='auto' or 'sdpa'"
        )
    return backend


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    attn_mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    scale: float | None = None,
    backend: str = "auto",
) -> torch.Tensor:
    """Scaled dot-product attention through the chosen backend.

    Args:
        q: Queries ``(B, heads, Nq, head_dim)``.
        k: Keys ``(B, heads, Nk, head_dim)``.
        v: Values ``(B, heads, Nk, head_dim_v)``.
        attn_mask: Optional boolean mask (True = may attend) or float additive bias, broadcastable to
            ``(B, heads, Nq, Nk)``.
        dropout_p: Dropout on the attention probabilities; pass 0 at eval time. Note that on CPU SDPA any
            ``dropout_p > 0`` drops to the O(N^2) math kernel.
        scale: Score scale; default ``1 / sqrt(head_dim)``.
        backend: ``"auto"``, ``"sdpa"``, ``"xformers"`` or ``"naive"`` (see the module docstring).

    Returns:
        ``(B, heads, Nq, head_dim_v)``.
    """
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        raise ValueError(
            f"attention expects q, k, v of shape (B, heads, N, head_dim), got {tuple(q.shape)}, "
            f"{tuple(k.shape)}, {tuple(v.shape)}"
        )
    batch, heads, n_q, _ = q.shape
    n_k = k.shape[-2]
    if attn_mask is not None:
        target = (batch, heads, n_q, n_k)
        try:
            broadcast = torch.broadcast_shapes(attn_mask.shape, target)
        except RuntimeError:
            broadcast = None
        if broadcast != target:
            raise ValueError(f"attn_mask of shape {tuple(attn_mask.shape)} does not broadcast to {target}")
        if attn_mask.dtype != torch.bool and not attn_mask.is_floating_point():
            raise ValueError(f"attn_mask must be boolean (True = may attend) or a float bias, got {attn_mask.dtype}")

    chosen = resolve_backend(backend, q.device, q.dtype)
    if chosen == "sdpa":
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p, scale=scale)
    elif chosen == "xformers":
        out = _xformers_attention(q, k, v, attn_mask, dropout_p, scale)
    else:
        out = _naive_attention(q, k, v, attn_mask, dropout_p, scale)
    if attn_mask is not None and attn_mask.dtype == torch.bool:
        # A query with no key to attend to gets exactly zero, whatever the kernel did with the empty softmax. In
        # place when autograd does not need `out` (it is fresh), so inference pays no extra output-sized copy.
        empty = ~attn_mask.any(dim=-1, keepdim=True)
        out = out.masked_fill(empty, 0.0) if out.requires_grad else out.masked_fill_(empty, 0.0)
    return out


def _naive_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    attn_mask: torch.Tensor | None,
    dropout_p: float,
    scale: float | None,
) -> torch.Tensor:
    """Reference ``softmax(Q K^T * scale + bias) V``; materialises ``(B, heads, Nq, Nk)``."""
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    # Scale q (O(N d)) rather than the scores, and edit the scores in place (matmul's backward does not need its
    # output): one N x N buffer for the scores and one for the softmax, the least a naive version can hold.
    scores = (q * scale) @ k.transpose(-2, -1)
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            # A finite fill keeps fully masked rows NaN-free (they are zeroed by the caller); exp(min - max) == 0
            # exactly, so partially masked rows are unaffected.
            scores.masked_fill_(~attn_mask, torch.finfo(scores.dtype).min)
        else:
            scores.add_(attn_mask)
    weights = scores.softmax(dim=-1)
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    return weights @ v


def _xformers_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    attn_mask: torch.Tensor | None,
    dropout_p: float,
    scale: float | None,
) -> torch.Tensor:
    """`xformers.ops.memory_efficient_attention`, which takes ``(B, N, heads, head_dim)``."""
    import xformers.ops as xops

    bias = None
    if attn_mask is not None:
        bias = _xformers_bias(attn_mask, q.shape[0], q.shape[1], q.shape[2], k.shape[2], q.dtype)
    out = xops.memory_efficient_attention(
        rearrange(q, "b h n d -> b n h d"),
        rearrange(k, "b h n d -> b n h d"),
        rearrange(v, "b h n d -> b n h d"),
        attn_bias=bias,
        p=dropout_p,
        scale=scale,
    )
    return rearrange(out, "b n h d -> b h n d")


def _xformers_bias(
    attn_mask: torch.Tensor, batch: int, heads: int, n_q: int, n_k: int, dtype: torch.dtype
) -> torch.Tensor:
    """An additive bias of shape ``(B, heads, Nq, Nk)`` in the form xformers accepts.

    xformers wants a float tensor of the query dtype with the full 4-D shape, whose rows start on 8-element
    boundaries. Broadcast dimensions stay stride-0 views (``expand``), so a ``(T, T)`` mask costs T * T memory,
    not B * heads * T * T.
    """
    mask = attn_mask.reshape((1,) * (4 - attn_mask.dim()) + tuple(attn_mask.shape))
    padded = n_k + (-n_k) % _XFORMERS_BIAS_ALIGN
    bias = torch.zeros(*mask.shape[:-1], padded, dtype=dtype, device=mask.device)[..., :n_k]
    if mask.dtype == torch.bool:
        bias.masked_fill_(~mask, float("-inf"))
    else:
        bias.copy_(mask.expand(*mask.shape[:-1], n_k))
    return bias.expand(batch, heads, n_q, n_k)


class MultiHeadAttention(nn.Module):
    """Multi-head self- or cross-attention on token sequences ``(B, N, dim)``.

    Parameter names (``to_q``, ``to_k``, ``to_v``, ``to_out.0``) follow the LDM / Stable Diffusion attention
    layers so that their checkpoints load without renaming.

    Args:
        dim: Channels of the query tokens (and of the output).
        heads: Number of attention heads.
        head_dim: Channels per head; default ``dim // heads`` (then ``dim`` must be divisible by ``heads``).
        context_dim: Channels of the context tokens for cross-attention; default ``dim``.
        dropout: Dropout on the output projection. Not applied to the attention probabilities: on CPU that would
            force SDPA onto its O(N^2) math kernel.
        backend: Attention backend, see `attention`.
        qkv_bias: Whether the q/k/v projections have a bias.
    """

    def __init__(
        self,
        dim: int,
        heads: int = 8,
        head_dim: int | None = None,
        context_dim: int | None = None,
        dropout: float = 0.0,
        backend: str = "auto",
        qkv_bias: bool = True,
    ) -> None:
        super().__init__()
        if head_dim is None:
            if dim % heads != 0:
                raise InputError(f"dim={dim} is not divisible by heads={heads}; pass head_dim explicitly")
            head_dim = dim // heads
        self.heads = heads
        self.head_dim = head_dim
        self.backend = check_backend(backend)
        inner = heads * head_dim
        context_dim = dim if context_dim is None else context_dim
        self.to_q = nn.Linear(dim, inner, bias=qkv_bias)
        self.to_k = nn.Linear(context_dim, inner, bias=qkv_bias)
        self.to_v = nn.Linear(context_dim, inner, bias=qkv_bias)
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(dropout))

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None = None, attn_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Attend from ``x`` to ``context`` (to ``x`` itself when None).

        Args:
            x: Query tokens ``(B, N, dim)``.
            context: Key/value tokens ``(B, M, context_dim)``, or None for self-attention.
            attn_mask: Optional mask broadcastable to ``(B, heads, N, M)``, see `attention`.

        Returns:
            ``(B, N, dim)``.
        """
        context = x if context is None else context
        q = rearrange(self.to_q(x), "b n (h d) -> b h n d", h=self.heads)
        k = rearrange(self.to_k(context), "b m (h d) -> b h m d", h=self.heads)
        v = rearrange(self.to_v(context), "b m (h d) -> b h m d", h=self.heads)
        out = attention(q, k, v, attn_mask=attn_mask, backend=self.backend)
        return self.to_out(rearrange(out, "b h n d -> b n (h d)"))

    def extra_repr(self) -> str:
        return f"heads={self.heads}, head_dim={self.head_dim}, backend={self.backend!r}"
