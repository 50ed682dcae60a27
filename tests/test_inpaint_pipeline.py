"""End-to-end inpainting invariants on tiny models and synthetic video."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import moving_pattern

from videovq.inpaint.fit import TransformerFitConfig
from videovq.inpaint.pipeline import inpaint_frames
from videovq.inpaint.presets import InpaintConfig
from videovq.inpaint.stages import StageStore
from videovq.inpaint.transformer import TransformerConfig
from videovq.tokenizer.autoencoder import AutoencoderConfig, VQAutoencoder
from videovq.tokenizer.fit import VideoFitConfig


def tiny_tokenizer() -> VQAutoencoder:
    torch.manual_seed(0)
    config = AutoencoderConfig(patch_size=2, channels=8, channel_mult=[1, 2], latent_dim=16, codebook_size=64, code_dim=8)
    return VQAutoencoder(config).eval()


def tiny_config(**changes) -> InpaintConfig:
    base = InpaintConfig(
        tokenizer=VideoFitConfig(steps=2, batch_size=1, clip_len=3, crop=16),
        transformer=TransformerConfig(dim=16, depth=1, heads=2),
        transformer_fit=TransformerFitConfig(steps=2, batch_size=1),
        decode_steps=2,
        window=4,
        overlap=1,
        propagate=False,  # the moving test pattern would be filled entirely by propagation: test the generator
    )
    for k, v in changes.items():
        setattr(base, k, v)
    return base


def static_hole(t, h, w) -> np.ndarray:
    hole = np.zeros((t, h, w), bool)
    hole[:, h // 4 : h // 2, w // 3 : w // 2] = True  # static: propagation cannot fill it all
    return hole


def run(frames, hole, **changes):
    return inpaint_frames(frames, hole, tiny_tokenizer(), tiny_config(**changes), seed=0, log=lambda s: None)


@pytest.mark.parametrize("size", [(24, 32), (17, 27)])  # odd sizes are padded inside and cropped back
@pytest.mark.parametrize("propagate", [False, True])
def test_pixels_outside_the_hole_are_bit_exact(size, propagate):
    frames = moving_pattern(6, *size)
    hole = static_hole(6, *size)
    out = run(frames, hole, propagate=propagate)
    assert out.frames.shape == frames.shape
    assert np.array_equal(out.frames[~hole], frames[~hole])
    if propagate:  # the pattern moves one pixel per frame: most of a static hole is seen in other frames
        assert out.propagated_fraction > 0.5


def test_empty_mask_returns_the_input():
    frames = moving_pattern(4, 16, 16)
    out = run(frames, np.zeros((4, 16, 16), bool))
    assert np.array_equal(out.frames, frames)


def test_hole_contents_do_not_influence_the_output():
    frames = moving_pattern(6, 24, 32)
    hole = static_hole(6, 24, 32)
    noisy, zeros = frames.copy(), frames.copy()
    noisy[hole] = np.random.default_rng(0).integers(0, 256, (hole.sum(), 3))
    zeros[hole] = 0
    assert np.array_equal(run(noisy, hole).frames, run(zeros, hole).frames)


def test_fully_masked_frame_and_clip_longer_than_a_window():
    frames = moving_pattern(11, 24, 32)  # window 4, overlap 1 -> several windows
    hole = static_hole(11, 24, 32)
    hole[5] = True  # one frame entirely unknown
    out = run(frames, hole)
    assert np.array_equal(out.frames[~hole], frames[~hole])
    assert out.frames[5].std() > 0  # something was generated there


def test_ablations_run():
    frames = moving_pattern(5, 16, 24)
    hole = static_hole(5, 16, 24)
    for changes in ({"propagate": True}, {"aggregation": True}, {"refine_codebook": False}, {"decode_steps": 1}):
        out = run(frames, hole, **changes)
        assert np.array_equal(out.frames[~hole], frames[~hole]), changes


def test_hold_still_gives_a_still_scene_one_fill():
    # A still camera over a still scene, with sensor noise: each frame's own prediction differs.
    noise = np.random.default_rng(0).integers(-2, 3, (6, 24, 32, 3))
    still = np.clip(np.repeat(moving_pattern(1, 24, 32), 6, axis=0) + noise, 0, 255).astype(np.uint8)
    hole = static_hole(6, 24, 32)
    change = [
        np.mean([np.abs(out.frames[t][hole[t]].astype(int) - out.frames[0][hole[0]]).mean() for t in range(1, 6)])
        for out in (run(still, hole, hold_still=False), run(still, hole, hold_still=True))
    ]
    assert change[1] < 0.25 * change[0]  # what is left is the noise of the known pixels around the hole


def test_exemplar_detail_adds_the_videos_own_fine_detail_to_the_hole_only():
    rng = np.random.default_rng(0)
    grain = rng.integers(-40, 41, (1, 32, 48, 3))
    frames = np.clip(np.repeat(moving_pattern(1, 32, 48), 4, axis=0) + grain, 0, 255).astype(np.uint8)
    hole = np.zeros((4, 32, 48), bool)
    hole[:, 12:20, 16:32] = True
    plain, textured = run(frames, hole, exemplar_detail=0.0), run(frames, hole, exemplar_detail=1.0)
    assert np.array_equal(textured.frames[~hole], frames[~hole])

    def fine_detail(out):  # mean absolute difference between horizontal neighbours inside the hole
        inside = out.frames[:, 12:20, 16:32].astype(int)
        return np.abs(np.diff(inside, axis=2)).mean()

    assert fine_detail(textured) > 1.5 * fine_detail(plain)
    assert all(np.array_equal(textured.frames[t][hole[t]], textured.frames[0][hole[0]]) for t in range(4))  # held


def test_exemplar_detail_leaves_a_moving_scene_alone():
    # The scene moves a pixel per frame: each frame's cells would take other sources, so no detail is copied.
    frames = moving_pattern(4, 32, 48)
    hole = np.zeros((4, 32, 48), bool)
    hole[:, 12:20, 16:32] = True
    plain, textured = run(frames, hole, exemplar_detail=0.0), run(frames, hole, exemplar_detail=1.0)
    assert np.array_equal(textured.frames, plain.frames)


def test_without_the_generator_the_hole_gets_the_membrane_of_its_surroundings():
    frames = np.zeros((3, 16, 24, 3), np.uint8)
    frames[:, :, 12:] = 200  # left half 0, right half 200: the membrane across a hole is a ramp between them
    hole = np.zeros((3, 16, 24), bool)
    hole[:, :, 8:16] = True
    out = run(frames, hole, propagate=False, generator=False)
    assert out.video_codes == 0 and "fit_tokenizer" not in out.seconds  # no model ran
    assert np.array_equal(out.frames[~hole], frames[~hole])
    row = out.frames[0, 8, 7:17, 0].astype(int)
    assert row[0] == 0 and row[-1] == 200 and np.all(np.diff(row) > 0)  # a monotone ramp from one side to the other


def test_resuming_from_saved_stages_gives_the_same_result(tmp_path):
    frames = moving_pattern(6, 24, 32)
    hole = static_hole(6, 24, 32)
    config = tiny_config()
    straight = inpaint_frames(frames, hole, tiny_tokenizer(), config, store=StageStore(None), log=lambda s: None)
    store = StageStore(tmp_path / "work")
    first = inpaint_frames(frames, hole, tiny_tokenizer(), config, store=store, log=lambda s: None)
    assert np.array_equal(first.frames, straight.frames)
    # Drop the later stages, as if the job had been killed after fitting the tokenizer.
    for path in [tmp_path / "work" / "transformer.safetensors", *(tmp_path / "work").glob("chunk-*.npz")]:
        path.unlink()
    resumed = inpaint_frames(frames, hole, tiny_tokenizer(), config, store=store, log=lambda s: None)
    assert np.array_equal(resumed.frames, straight.frames)


def test_match_boundary_removes_a_smooth_colour_offset_and_ignores_hole_contents():
    from videovq.inpaint.pipeline import match_boundary

    rng = np.random.default_rng(0)
    truth = rng.integers(60, 190, (2, 40, 50, 3)).astype(np.uint8)
    remaining = np.zeros((2, 40, 50), bool)
    remaining[:, 10:30, 15:35] = True
    generated = np.clip(truth.astype(int) + 25, 0, 255).astype(np.uint8)  # right texture, wrong brightness
    filled = truth.copy()
    filled[remaining] = rng.integers(0, 255, (int(remaining.sum()), 3))  # the hole's own content: must not matter
    out = match_boundary(filled, remaining, generated)
    error = np.abs(out[remaining].astype(int) - truth[remaining]).mean()
    assert error < 1.0  # was 25 grey levels before matching
    assert np.array_equal(out[~remaining], generated[~remaining])
    filled[remaining] = 0
    assert np.array_equal(match_boundary(filled, remaining, generated), out)


@pytest.mark.parametrize("changes", [{}, {"feather": 2}, {"propagate": True}, {"generator": False}])
def test_the_holes_own_pixels_never_reach_the_result(changes):
    # What the input shows inside the hole (the object to remove) is unknown: scrambling it changes nothing.
    rng = np.random.default_rng(0)
    grain = rng.integers(-40, 41, (1, 24, 32, 3))
    frames = np.clip(np.repeat(moving_pattern(1, 24, 32), 5, axis=0) + grain, 0, 255).astype(np.uint8)
    hole = static_hole(5, 24, 32)
    scrambled = frames.copy()
    scrambled[hole] = rng.integers(0, 256, (int(hole.sum()), 3), dtype=np.uint8)
    changes = {"exemplar_detail": 1.0, **changes}
    assert np.array_equal(run(frames, hole, **changes).frames, run(scrambled, hole, **changes).frames)
