"""Token transformer, its per-video training, iterative decoding and the shared window helper."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from videovq.inpaint.fit import TransformerFitConfig, fit_transformer, pseudo_mask
from videovq.inpaint.sampling import predict_tokens
from videovq.inpaint.transformer import TokenTransformer, TransformerConfig
from videovq.windows import temporal_windows

TINY = TransformerConfig(dim=32, depth=1, heads=2, dropout=0.0)


def pattern(t=6, h=6, w=8, k=8) -> torch.Tensor:
    """A diagonal stripe pattern that moves one column per frame: predictable from its neighbours."""
    tt, yy, xx = torch.meshgrid(torch.arange(t), torch.arange(h), torch.arange(w), indexing="ij")
    return (xx + yy + tt) % k


@pytest.mark.parametrize("n, size, overlap", [(66, 16, 4), (10, 16, 4), (17, 16, 4), (330, 16, 8), (5, 2, 1)])
def test_windows_own_every_frame_once(n, size, overlap):
    windows = temporal_windows(n, size, overlap)
    owned = [f for w in windows for f in range(w.own_start, w.own_stop)]
    assert owned == list(range(n))
    assert all(w.start <= w.own_start < w.own_stop <= w.stop and w.size <= size for w in windows)


def test_pseudo_masks_stay_inside_valid_cells():
    valid = torch.ones(4, 6, 8, dtype=torch.bool)
    valid[:, 2:4, 3:6] = False
    rng = np.random.default_rng(0)
    for _ in range(20):
        m = pseudo_mask(rng, valid, 0.3)
        assert not (m & ~valid).any() and m.any()


def test_hole_shaped_pseudo_masks_are_the_real_hole_moved():
    rng = np.random.default_rng(0)
    valid = torch.ones(3, 12, 16, dtype=torch.bool)
    valid[:, 1:3, 2:5] = False  # a 2 x 3 hole in every frame
    whole_rectangles = 0
    for _ in range(20):
        m = pseudo_mask(rng, valid, scatter=0.0, hole_shaped=1.0)
        assert not (m & ~valid).any() and int(m[0].sum()) <= 6
        assert torch.equal(m[0], m[1]) and torch.equal(m[1], m[2])  # the hole is static, so is its copy
        ys, xs = torch.nonzero(m[0], as_tuple=True)
        if len(ys) == 6 and int(ys.max() - ys.min()) == 1 and int(xs.max() - xs.min()) == 2:
            whole_rectangles += 1
    assert whole_rectangles >= 10  # moved clear of the real hole, the copy is the whole 2 x 3 rectangle


def test_hole_tokens_are_never_training_targets():
    tokens = pattern()
    hole = torch.zeros_like(tokens, dtype=torch.bool)
    hole[:, 1:4, 2:6] = True
    other = tokens.clone()
    other[hole] = (other[hole] + 3) % 8  # different "true" codes inside the hole
    fit = TransformerFitConfig(steps=3, batch_size=2, window_frames=4)
    a = fit_transformer(tokens, hole, 8, TINY, fit, progress=False)
    b = fit_transformer(other, hole, 8, TINY, fit, progress=False)
    assert a.losses == b.losses
    for (name, pa), (_, pb) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        assert torch.equal(pa, pb), name


@pytest.mark.parametrize(
    "steps, temperature, top_k, noise", [(1, 0.0, 0, 0.0), (6, 0.0, 0, 0.0), (6, 1.0, 0, 0.0), (6, 1.0, 3, 4.5)]
)
def test_prediction_fills_only_unknown_positions(steps, temperature, top_k, noise):
    torch.manual_seed(0)
    model = TokenTransformer(TINY, 8).eval()
    tokens = pattern()
    unknown = torch.zeros_like(tokens, dtype=torch.bool)
    unknown[:, 2:5, 1:7] = True
    g = torch.Generator().manual_seed(1)
    out = predict_tokens(model, tokens, unknown, steps, temperature, g, top_k, noise)
    assert torch.equal(out[~unknown], tokens[~unknown])
    assert out.min() >= 0 and out.max() < 8
    again = predict_tokens(model, tokens, unknown, steps, temperature, torch.Generator().manual_seed(1), top_k, noise)
    assert torch.equal(out, again)


def test_top_1_sampling_is_the_most_likely_code():
    torch.manual_seed(0)
    model = TokenTransformer(TINY, 8).eval()
    tokens = pattern()
    unknown = torch.zeros_like(tokens, dtype=torch.bool)
    unknown[:, 1:6, 1:7] = True
    argmax = predict_tokens(model, tokens, unknown, 6, temperature=0.0)
    top_1 = predict_tokens(model, tokens, unknown, 6, 1.0, torch.Generator().manual_seed(0), top_k=1)
    assert torch.equal(top_1, argmax)
    # One shot at a temperature that makes all codes about equally likely: top-k still keeps each position's k best.
    top_2 = predict_tokens(model, tokens, unknown, 1, 100.0, torch.Generator().manual_seed(0), top_k=2)
    with torch.no_grad():
        best_2 = model(tokens.masked_fill(unknown, model.completion_token)[None])[0].topk(2, dim=-1).indices
    assert (top_2[..., None] == best_2).any(-1)[unknown].all()
    anything = predict_tokens(model, tokens, unknown, 1, 100.0, torch.Generator().manual_seed(0))
    assert not (anything[..., None] == best_2).any(-1)[unknown].all()


def test_transformer_learns_a_predictable_pattern():
    tokens = pattern(t=6, h=6, w=8)
    hole = torch.zeros_like(tokens, dtype=torch.bool)
    hole[:, 2:4, 3:6] = True
    fit = TransformerFitConfig(steps=300, batch_size=4, window_frames=6, lr=3e-3)
    fitted = fit_transformer(
        tokens, hole, 8, TransformerConfig(dim=48, depth=2, heads=4, dropout=0.0), fit, progress=False
    )
    assert fitted.losses[-1] < fitted.losses[0] * 0.5
    out = predict_tokens(fitted.model, tokens, hole, steps=4, temperature=0.0)
    accuracy = (out[hole] == tokens[hole]).float().mean()
    assert accuracy > 0.5  # chance is 1/8


class _StillLogits(torch.nn.Module):
    """Logits that depend on the position in the frame only: what a still scene under a static hole looks like."""

    def __init__(self, h: int, w: int, num_codes: int):
        super().__init__()
        self.num_codes = self.completion_token = num_codes
        self.logits = torch.randn(h, w, num_codes, generator=torch.Generator().manual_seed(3))

    def forward(self, tokens):
        return self.logits.expand(*tokens.shape, self.num_codes)


def test_sampling_gives_a_still_scene_the_same_codes_in_every_frame():
    model = _StillLogits(6, 8, 32)
    tokens = torch.zeros(5, 6, 8, dtype=torch.long)
    unknown = torch.zeros_like(tokens, dtype=torch.bool)
    unknown[:, 1:5, 2:7] = True
    seeded = torch.Generator().manual_seed(0)
    out = predict_tokens(model, tokens, unknown, 4, 2.0, seeded, top_k=10, confidence_noise=4.5)
    assert (out == out[0]).all()  # the same sample frame after frame
    assert not torch.equal(out, predict_tokens(model, tokens, unknown, 4, 0.0))  # a sample, not the argmax
    again = predict_tokens(model, tokens[:2], unknown[:2], 4, 2.0, torch.Generator().manual_seed(0), top_k=10)
    assert torch.equal(again[0], out[0])  # another window with the same seed draws the same noise
