"""Inpainting options: a working size smaller than the video, and `feather` (soft blend inside the hole's edge)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import moving_pattern

from videovq.inpaint.fit import TransformerFitConfig
from videovq.inpaint.pipeline import composite, inpaint_frames
from videovq.inpaint.presets import InpaintConfig
from videovq.inpaint.transformer import TransformerConfig
from videovq.tokenizer.autoencoder import AutoencoderConfig, VQAutoencoder
from videovq.tokenizer.fit import VideoFitConfig


def tiny_tokenizer() -> VQAutoencoder:
    torch.manual_seed(0)
    config = AutoencoderConfig(patch_size=2, channels=8, channel_mult=[1, 2], latent_dim=16, codebook_size=64, code_dim=8)
    return VQAutoencoder(config).eval()


def run(frames: np.ndarray, hole: np.ndarray, **changes):
    config = InpaintConfig(
        tokenizer=VideoFitConfig(steps=2, batch_size=1, clip_len=3, crop=16),
        transformer=TransformerConfig(dim=16, depth=1, heads=2),
        transformer_fit=TransformerFitConfig(steps=2, batch_size=1),
        decode_steps=2, window=4, overlap=1,
        propagate=False,  # a static hole in the moving pattern: the generator fills it
    )  # fmt: skip
    for key, value in changes.items():
        setattr(config, key, value)
    return inpaint_frames(frames, hole, tiny_tokenizer(), config, seed=0, log=lambda s: None)


def box_hole(t: int, h: int, w: int) -> np.ndarray:
    hole = np.zeros((t, h, w), bool)
    hole[:, h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = True
    return hole


def test_working_size_smaller_than_the_video():
    frames = moving_pattern(4, 32, 48)
    hole = box_hole(4, 32, 48)
    small = run(frames, hole, max_side=24)  # half the long side: models run at 16x24, the fill is upscaled
    full = run(frames, hole, max_side=None)
    assert small.frames.shape == frames.shape
    assert np.array_equal(small.frames[~hole], frames[~hole])
    assert not np.array_equal(small.frames[hole], full.frames[hole])  # the working size changed the fill
    # An upscaled fill is smoother than one generated at full size: less energy in pixel-to-pixel steps inside it.
    inner = np.s_[:, 10:22, 14:34]
    steps = {name: np.abs(np.diff(out.frames[inner].astype(float), axis=2)).mean() for name, out in
             (("small", small), ("full", full))}  # fmt: skip
    assert steps["small"] < steps["full"]


def test_feather_blends_only_inside_the_hole_edge():
    rng = np.random.default_rng(0)
    filled = np.full((2, 20, 20, 3), 50, np.uint8)  # the surroundings: their membrane is 50 everywhere
    filled[:, 5:15, 5:15] = 255  # what the input shows in the hole: never read
    generated = rng.integers(150, 255, (2, 20, 20, 3), dtype=np.uint8)
    hole = np.zeros((2, 20, 20), bool)
    hole[:, 5:15, 5:15] = True
    hard = composite(filled, hole, generated, feather=0)
    assert np.array_equal(hard[hole], generated[hole]) and np.array_equal(hard[~hole], filled[~hole])
    soft = composite(filled, hole, generated, feather=2)
    assert np.array_equal(soft[~hole], filled[~hole])  # nothing outside the hole moves
    assert np.array_equal(soft[:, 8:12, 8:12], generated[:, 8:12, 8:12])  # >= 3 px inside: the fill alone
    edge = soft[:, 5, 6:14].astype(int)  # the hole's first row: a blend strictly between membrane and fill
    assert (edge > 50).all() and (edge < generated[:, 5, 6:14]).all()
    assert composite(filled, hole, generated, feather=2, in_place=False) is not filled


@pytest.mark.parametrize("feather", [0, 2])
def test_feather_in_the_pipeline_keeps_known_pixels(feather):
    frames = moving_pattern(5, 24, 32)
    hole = box_hole(5, 24, 32)
    out = run(frames, hole, feather=feather)
    assert np.array_equal(out.frames[~hole], frames[~hole])
    if feather:
        hard = run(frames, hole, feather=0)
        centre = np.s_[:, 9:15, 11:21]  # more than feather + 1 pixels from the hole's edge: unchanged by feathering
        assert np.array_equal(out.frames[centre], hard.frames[centre])
        assert not np.array_equal(out.frames[hole], hard.frames[hole])
