"""Tokenizer invariants on tiny configs: round trips, identity aggregation, no gradient from the hole."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from videovq.tokenizer.autoencoder import AutoencoderConfig, VQAutoencoder
from videovq.tokenizer.codebook import VideoCodebook
from videovq.tokenizer.losses import LossWeights, tokenizer_loss
from videovq.tokenizer.quantizer import VectorQuantizer

TINY = dict(patch_size=2, channels=8, channel_mult=[1, 2], latent_dim=16, codebook_size=64, code_dim=8)


def tiny_model(**overrides) -> VQAutoencoder:
    torch.manual_seed(0)
    return VQAutoencoder(AutoencoderConfig(**{**TINY, **overrides}))


def video(b=2, t=4, h=16, w=24, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, t, h, w, generator=g) * 2 - 1


def test_shapes_and_downsampling():
    model = tiny_model()
    out = model(video())
    assert model.downsample == 4
    assert out.recon.shape == (2, 3, 4, 16, 24) and out.indices.shape == (2, 4, 4, 6)
    with pytest.raises(ValueError, match="multiple of 4"):
        model(video(h=18))


@pytest.mark.parametrize("update", ["ema", "loss"])
@pytest.mark.parametrize("l2", [True, False])
def test_indices_codes_indices_round_trip(update, l2):
    q = VectorQuantizer(16, codebook_size=64, code_dim=8, update=update, l2_normalize=l2).eval()
    idx = torch.randint(0, 64, (3, 5, 7))
    codes = q._codes()[idx]  # (3, 5, 7, code_dim) in lookup space
    again = q.nearest(codes.reshape(-1, 8)).reshape(idx.shape)
    assert torch.equal(again, idx)


def test_video_codebook_round_trip_and_completion_token():
    idx = torch.tensor([[5, 5, 9], [9, 9, 40]])
    hole = torch.tensor([[False, False, False], [False, True, False]])
    cb = VideoCodebook.from_indices(idx, codebook_size=64, valid=~hole)
    assert cb.global_ids.tolist() == [5, 9, 40] and cb.counts.tolist() == [2, 2, 1]
    local = cb.to_local(idx, hole=hole)
    assert local[1, 1] == cb.completion_token == 3 and cb.vocab_size == 4
    assert torch.equal(cb.to_global(cb.to_local(idx)), idx)
    with pytest.raises(ValueError, match="completion tokens"):
        cb.to_global(local)
    assert cb.allowed().sum() == 3
    assert torch.equal(VideoCodebook.from_state_dict(cb.state_dict()).global_ids, cb.global_ids)


def test_quantizing_with_the_video_codebook_stays_inside_it():
    model = tiny_model().eval()
    x = video()
    cb = VideoCodebook.from_indices(model.encode(x).indices, 64)
    small = VideoCodebook(cb.global_ids[:3], cb.counts[:3], 64)
    enc = model.encode(x, allowed=small.allowed())
    assert set(enc.indices.unique().tolist()) <= set(small.global_ids.tolist())
    assert torch.equal(small.to_global(small.to_local(enc.indices)), enc.indices)


@pytest.mark.parametrize("kind", ["attention", "conv3d"])
def test_temporal_aggregation_starts_as_identity(kind):
    with_agg = tiny_model(aggregation=kind).eval()
    without = tiny_model(aggregation="none").eval()
    without.load_state_dict({k: v for k, v in with_agg.state_dict().items() if not k.startswith("aggregation.")})
    x = video()
    assert torch.equal(with_agg(x).recon, without(x).recon)


def test_hole_pixels_contribute_no_gradient():
    x = video(seed=1)
    valid = torch.ones(2, 4, 16, 24, dtype=torch.bool)
    valid[:, :, 4:12, 6:15] = False
    noisy, zeros = x.clone(), x.clone()
    noisy[:, :, :, 4:12, 6:15] = torch.rand(2, 3, 4, 8, 9) * 2 - 1
    zeros[:, :, :, 4:12, 6:15] = 0
    results = []
    for inp in (noisy, zeros):
        model = tiny_model(quantizer_update="loss")
        loss = tokenizer_loss(model, inp, valid, LossWeights(l1=1, ssim=1, gradient=1))
        loss.total.backward()
        results.append((loss.total.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    assert torch.equal(results[0][0], results[1][0])
    assert results[0][1].keys() == results[1][1].keys() and len(results[0][1]) > 10
    for name in results[0][1]:
        assert torch.equal(results[0][1][name], results[1][1][name]), name


def test_ema_codebook_ignores_invalid_cells():
    model = tiny_model()
    before = model.quantizer.codebook.clone()
    valid = torch.zeros(2, 4, 16, 24, dtype=torch.bool)
    model(video(), valid)
    assert torch.equal(model.quantizer.codebook, before)  # nothing valid: the EMA statistics only decay
    model(video(), torch.ones_like(valid))
    assert not torch.equal(model.quantizer.codebook, before)


@pytest.mark.parametrize("split", [False, True])
def test_dead_codes_are_restarted(split):
    q = VectorQuantizer(16, codebook_size=64, code_dim=8, split_overused=split)
    z = torch.randn(4, 16, 1, 1) * 0.01 + 1.0  # every vector nearly identical: a handful of codes used
    for _ in range(100):
        q(z)
    dead_before = int((q.usage < q.dead_after).sum())
    assert dead_before > 32
    assert q.restart_dead_codes(torch.Generator().manual_seed(0)) == dead_before
    assert q.fraction_in_use() == 1.0


def test_restart_right_after_loading_the_state_matches_the_original():
    q = VectorQuantizer(16, codebook_size=64, code_dim=8)
    z = torch.randn(4, 16, 1, 1) * 0.01 + 1.0
    for _ in range(100):
        q(z)
    copy = VectorQuantizer(16, codebook_size=64, code_dim=8)
    copy.load_state_dict(q.state_dict())
    # The pool of recent outputs the restart draws from travels with the state, so the copy restarts the same codes.
    assert q.restart_dead_codes(torch.Generator().manual_seed(1)) > 32
    assert copy.restart_dead_codes(torch.Generator().manual_seed(1)) > 32
    assert torch.equal(copy.codebook, q.codebook)


def test_state_saved_without_the_restart_pool_still_loads_strictly():
    q = VectorQuantizer(16, codebook_size=64, code_dim=8)
    state = {k: v for k, v in q.state_dict().items() if not k.startswith("restart_pool")}
    fresh = VectorQuantizer(16, codebook_size=64, code_dim=8)
    fresh.load_state_dict(state)  # strict: weights written before the pool existed (the shipped tokenizer)
    assert torch.equal(fresh.codebook, q.codebook)
    assert fresh.restart_dead_codes() == 0  # an empty pool: nothing to restart from until a training step


def test_straight_through_gradient_reaches_the_encoder():
    model = tiny_model()
    tokenizer_loss(model, video()).total.backward()
    assert model.encoder.layers[1].weight.grad.abs().sum() > 0


def test_fit_video_tokenizer_never_reads_the_hole():
    import numpy as np

    from videovq.tokenizer.fit import VideoFitConfig, encode_frames, fit_video_tokenizer, pad_frames

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (5, 18, 26, 3), dtype=np.uint8)  # odd size: padded to multiples of 4 inside
    hole = np.zeros((5, 18, 26), bool)
    hole[:, 4:12, 6:15] = True
    noisy, zeros = frames.copy(), frames.copy()
    noisy[hole] = rng.integers(0, 256, (hole.sum(), 3))
    zeros[hole] = 0
    config = VideoFitConfig(steps=4, batch_size=2, clip_len=3, crop=16, refresh_every=2)
    general = tiny_model()
    fits = [fit_video_tokenizer(general, f, hole, config, seed=1, progress=False) for f in (noisy, zeros)]
    assert fits[0].losses == fits[1].losses
    assert torch.equal(fits[0].codebook.global_ids, fits[1].codebook.global_ids)
    for (name, a), (_, b) in zip(fits[0].model.state_dict().items(), fits[1].model.state_dict().items()):
        assert torch.equal(a, b), name
    # The general model is untouched, and the fitted video's valid tokens all lie in its codebook.
    assert all(torch.equal(a, b) for a, b in zip(general.state_dict().values(), tiny_model().state_dict().values()))
    fit = fits[0]
    indices, cells = encode_frames(fit.model, *pad_frames(zeros, hole, 4), allowed=fit.codebook.allowed())
    assert indices.shape == (5, 5, 7)
    local = fit.codebook.to_local(indices, hole=~cells)
    assert (local[~cells] == fit.codebook.completion_token).all() and (local[cells] < fit.codebook.size).all()


def test_patch_discriminator_gives_one_logit_per_patch():
    from videovq.tokenizer.discriminator import PatchDiscriminator, hinge_d_loss, hinge_g_loss

    disc = PatchDiscriminator(channels=8, layers=3)
    logits = disc(torch.randn(2, 3, 64, 96))
    assert logits.shape == (2, 1, 8, 12)
    real, fake = torch.full((2, 1, 8, 12), 2.0), torch.full((2, 1, 8, 12), -2.0)
    assert hinge_d_loss(real, fake) == 0 and hinge_g_loss(fake) == 2.0


def test_video_codebook_keeps_the_most_used_codes():
    idx = torch.tensor([1, 1, 1, 7, 7, 3, 9, 9, 9, 9])
    cb = VideoCodebook.from_indices(idx, codebook_size=16, max_codes=2)
    assert cb.global_ids.tolist() == [9, 1] and cb.completion_token == 2


def test_windowed_decoding_stitches_every_frame_in_place():
    from videovq.io.tensors import video_to_uint8
    from videovq.tokenizer.fit import decode_frames

    model = tiny_model(aggregation="attention").eval()  # aggregation is the identity at init: frames decode alone
    indices = torch.randint(0, 64, (11, 4, 6))
    with torch.no_grad():
        whole = video_to_uint8(model.decode_indices(indices[None])[0])
    assert np.array_equal(decode_frames(model, indices, window=4, overlap=2), whole)
