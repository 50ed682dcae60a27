"""Attention dispatch and temporal layers (videovq.modules.attention / videovq.modules.temporal)."""

from __future__ import annotations

import pytest
import torch
from einops import rearrange

from videovq.errors import InputError
from videovq.modules.attention import MultiHeadAttention, attention, resolve_backend, xformers_available
from videovq.modules.temporal import (
    Conv3dResBlock,
    MixingFactor,
    TemporalAttention,
    sinusoidal_embedding,
)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _qkv(batch=2, heads=4, n_q=37, n_k=37, dim=16):
    return torch.randn(batch, heads, n_q, dim), torch.randn(batch, heads, n_k, dim), torch.randn(batch, heads, n_k, dim)


# --- attention dispatch -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mask_shape",
    [None, (37, 37), (2, 1, 37, 37), (2, 4, 37, 37), (2, 1, 1, 37)],
    ids=["none", "shared", "per-batch", "full", "key-padding"],
)
def test_cpu_backends_agree(mask_shape):
    q, k, v = _qkv()
    mask = None
    if mask_shape is not None:
        mask = torch.rand(mask_shape) > 0.4
        mask[..., 0] = True  # every query keeps at least one key
    ref = attention(q, k, v, attn_mask=mask, backend="naive")
    for backend in ("sdpa", "auto"):
        out = attention(q, k, v, attn_mask=mask, backend=backend)
        assert out.shape == (2, 4, 37, 16)
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_bool_mask_semantics_and_empty_rows():
    q, k, v = _qkv(batch=1, heads=1, n_q=3, n_k=5)
    mask = torch.zeros(3, 5, dtype=torch.bool)
    mask[0, 2] = True  # query 0 may only attend to key 2 -> its output is exactly v[2]
    mask[2] = True  # query 2 attends everywhere; query 1 nowhere -> zero output
    for backend in ("naive", "sdpa"):
        out = attention(q, k, v, attn_mask=mask, backend=backend)
        torch.testing.assert_close(out[0, 0, 0], v[0, 0, 2])
        assert torch.equal(out[0, 0, 1], torch.zeros(16))
        torch.testing.assert_close(out[0, 0, 2], attention(q, k, v, backend="naive")[0, 0, 2])


def test_backends_agree_on_gradients_with_mask():
    mask = torch.rand(2, 1, 37, 37) > 0.5
    mask[0, 0, 3] = False  # one query with nothing to attend to
    inputs, grads = _qkv(), {}
    for backend in ("naive", "sdpa"):
        q, k, v = (t.clone().requires_grad_() for t in inputs)
        attention(q, k, v, attn_mask=mask, backend=backend).square().sum().backward()
        grads[backend] = (q.grad, k.grad, v.grad)
    for naive, sdpa in zip(grads["naive"], grads["sdpa"]):
        assert torch.isfinite(sdpa).all()
        torch.testing.assert_close(sdpa, naive, atol=1e-5, rtol=1e-4)


def test_float_bias_agrees():
    q, k, v = _qkv(n_q=9, n_k=11)
    bias = torch.randn(9, 11)
    torch.testing.assert_close(
        attention(q, k, v, attn_mask=bias, backend="sdpa"), attention(q, k, v, attn_mask=bias, backend="naive")
    )


def test_backend_resolution_and_errors():
    assert resolve_backend("auto", "cpu") == "sdpa"
    assert resolve_backend("naive", "cpu") == "naive"
    q, k, v = _qkv()
    with pytest.raises(InputError, match="xformers"):
        attention(q, k, v, backend="xformers")
    if not xformers_available():  # not installed: refused when the layer is built, not on first use
        with pytest.raises(InputError, match="not installed"):
            MultiHeadAttention(32, heads=4, backend="xformers")
    else:
        with pytest.raises(InputError, match="CUDA"):
            resolve_backend("xformers", "cpu")
    with pytest.raises(InputError, match="unknown attention backend"):
        attention(q, k, v, backend="flash")
    with pytest.raises(ValueError, match="does not broadcast"):
        attention(q, k, v, attn_mask=torch.ones(5, 5, dtype=torch.bool))


def test_multihead_attention_shapes():
    self_attn = MultiHeadAttention(32, heads=4)
    assert self_attn(torch.randn(2, 10, 32)).shape == (2, 10, 32)
    cross = MultiHeadAttention(32, heads=2, head_dim=8, context_dim=12)
    assert cross(torch.randn(2, 10, 32), context=torch.randn(2, 7, 12)).shape == (2, 10, 32)
    x = torch.randn(2, 10, 32)
    torch.testing.assert_close(self_attn(x, context=x), self_attn(x))


# --- temporal layers ----------------------------------------------------------------------------------------------


def test_sinusoidal_embedding():
    emb = sinusoidal_embedding(torch.tensor([0.0, 1.0, 2.5]), 9)
    assert emb.shape == (3, 9)
    assert torch.equal(emb[0, :4], torch.zeros(4)) and torch.equal(emb[0, 4:8], torch.ones(4))
    assert torch.equal(emb[:, 8], torch.zeros(3))
    torch.testing.assert_close(emb[1, 0], torch.sin(torch.tensor(1.0)))


@pytest.mark.parametrize("make", [lambda: TemporalAttention(16, heads=4, zero_init=True),
                                  lambda: Conv3dResBlock(16, groups=4, zero_init=True)], ids=["attn", "conv"])
def test_zero_init_is_identity(make):
    layer = make()
    video = torch.randn(2, 16, 5, 6, 7)
    assert torch.equal(layer(video), video)
    folded = rearrange(video, "b c t h w -> (b t) c h w")
    assert torch.equal(layer(folded, num_frames=5), folded)


@pytest.mark.parametrize("make", [lambda: TemporalAttention(16, heads=4, window=3),
                                  lambda: Conv3dResBlock(16, out_channels=8, groups=4)], ids=["attn", "conv"])
def test_folded_layout_matches_video_layout(make):
    layer = make()
    video = torch.randn(2, 16, 5, 6, 7)
    out = layer(video)
    folded = layer(rearrange(video, "b c t h w -> (b t) c h w"), num_frames=5)
    assert folded.shape == (10, out.shape[1], 6, 7)
    torch.testing.assert_close(rearrange(folded, "(b t) c h w -> b c t h w", t=5), out, atol=1e-6, rtol=1e-6)
    with pytest.raises(ValueError, match="num_frames"):
        layer(rearrange(video, "b c t h w -> (b t) c h w"))


def _changed_frames(layer, frame, shape=(1, 8, 6, 3, 3)):
    """Which output frames change when input frame `frame` changes."""
    video = torch.randn(shape)
    edited = video.clone()
    edited[:, :, frame] += torch.randn_like(edited[:, :, frame])
    with torch.no_grad():
        diff = (layer(edited) - layer(video)).abs().amax(dim=(0, 1, 3, 4))
    return diff > 1e-6


def test_temporal_attention_mixes_frames_within_window():
    assert _changed_frames(TemporalAttention(8, heads=2), frame=0)[2]
    changed = _changed_frames(TemporalAttention(8, heads=2, window=3), frame=0)
    assert changed.tolist() == [True, True, False, False, False, False]


def test_temporal_attention_is_per_location():
    layer = TemporalAttention(8, heads=2)
    video = torch.randn(1, 8, 4, 5, 5)
    edited = video.clone()
    edited[:, :, :, 2, 3] = torch.randn(1, 8, 4)
    with torch.no_grad():
        diff = (layer(edited) - layer(video)).abs().amax(dim=(0, 1, 2))
    assert diff[2, 3] > 0
    diff[2, 3] = 0
    assert torch.equal(diff, torch.zeros(5, 5))


def test_frame_order_matters():
    # Without positional encoding, attention is permutation-equivariant in time; with it, it is not.
    layer = TemporalAttention(8, heads=2)
    video = torch.randn(1, 8, 4, 2, 2)
    with torch.no_grad():
        out_rev = layer(video.flip(2)).flip(2)
        assert not torch.allclose(out_rev, layer(video), atol=1e-4)


def test_conv_block_shapes_single_frame_odd_size():
    block = Conv3dResBlock(12, out_channels=20, groups=32)  # groups clamped to 12 and 20
    assert block(torch.randn(2, 12, 1, 7, 5)).shape == (2, 20, 1, 7, 5)
    assert block(torch.randn(3, 12, 7, 5), num_frames=1).shape == (3, 20, 7, 5)
    # replicate padding in time: a constant-in-time clip stays constant in time (no darkened edge frames)
    same = Conv3dResBlock(4, groups=2)
    out = same(torch.randn(1, 4, 1, 6, 6).expand(1, 4, 5, 6, 6))
    torch.testing.assert_close(out, out[:, :, :1].expand_as(out), atol=1e-5, rtol=1e-5)


def test_half_precision_inputs():
    for dtype in (torch.bfloat16, torch.float16):
        layer, mix = TemporalAttention(8, heads=2).to(dtype), MixingFactor(0.5)
        video = torch.randn(1, 8, 3, 2, 2, dtype=dtype)
        assert layer(video).dtype == dtype and mix(video, layer(video)).dtype == dtype
        assert Conv3dResBlock(8, groups=4).to(dtype)(video).dtype == dtype


# --- mixing factor ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda: TemporalAttention(8, heads=2), lambda: Conv3dResBlock(8, groups=4)],
                         ids=["attn", "conv"])
def test_mixing_is_the_identity_at_init_then_learns(make):
    layer, mix = make(), MixingFactor()
    video = torch.randn(2, 8, 4, 3, 3)
    assert torch.equal(mix(video, layer(video)), video)
    folded = rearrange(video, "b c t h w -> (b t) c h w")
    assert torch.equal(mix(folded, layer(folded, 4)), folded)

    with torch.no_grad():
        target = layer(video)  # a loss that prefers the temporal layer's output
    opt = torch.optim.SGD([*layer.parameters(), *mix.parameters()], lr=0.5)
    for step in range(2):
        opt.zero_grad()
        ((mix(video, layer(video)) - target) ** 2).mean().backward()
        layer_grad = sum(p.grad.abs().sum() for p in layer.parameters() if p.grad is not None)
        if step == 0:
            assert layer_grad == 0  # (1 - alpha) = 0: only alpha learns on the first step
        opt.step()
        if step == 0:
            assert 0.0 <= mix.alpha.item() < 1.0
    assert layer_grad > 0


def test_mixing_factor_straight_through_clamp():
    mix = MixingFactor()
    with torch.no_grad():
        mix.raw.fill_(1.5)
    assert mix.alpha.item() == 1.0
    spatial, temporal = torch.randn(4), torch.randn(4)
    assert torch.equal(mix(spatial, temporal), spatial)
    ((mix(spatial, temporal) - temporal) ** 2).sum().backward()
    assert mix.raw.grad is not None and mix.raw.grad.item() > 0  # descent lowers raw: it comes back, not stuck
    assert "alpha=1.0000" in repr(mix)
    with pytest.raises(InputError):
        MixingFactor(1.5)
