"""The fill of what no frame shows: membrane by default, biharmonic where the frame's own pixels say it is better."""

import numpy as np

from videovq.inpaint.spatial_fill import MAX_AREA, fill_unseen, membrane_fill


def shading(height=96, width=128):
    """Smooth curved shading (a lit surface): the biharmonic fill continues its slopes, the membrane flattens it."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    value = 20 + 0.03 * (xx - width / 2) ** 2 + 0.03 * (yy - height / 2) ** 2
    return np.clip(np.stack([value, value * 0.8, 255 - value], -1), 0, 255).round().astype(np.uint8)[None]


def square_hole(height=96, width=128, y=36, x=52, side=24):
    hole = np.zeros((1, height, width), bool)
    hole[0, y : y + side, x : x + side] = True
    return hole


def in_hole_error(out, truth, hole):
    return float(np.abs(out[hole].astype(int) - truth[hole]).mean())


def test_smooth_shading_gets_the_biharmonic_fill_and_only_hole_pixels_change():
    truth = shading()
    hole = square_hole()
    frames = np.where(hole[..., None], 0, truth).astype(np.uint8)
    membrane = membrane_fill(frames, hole)
    out = fill_unseen(frames, hole, ~hole)
    assert in_hole_error(out, truth, hole) < 0.6 * in_hole_error(membrane, truth, hole)
    assert np.array_equal(out[~hole], frames[~hole])
    assert np.array_equal(fill_unseen(frames, hole, ~hole, biharmonic=False), membrane)


def test_texture_keeps_the_membrane():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 256, (1, 96, 128, 3)).astype(np.uint8)  # no slope to continue: biharmonic overshoots
    hole = square_hole()
    frames = np.where(hole[..., None], 0, truth).astype(np.uint8)
    assert np.array_equal(fill_unseen(frames, hole, ~hole), membrane_fill(frames, hole))


def test_only_known_pixels_can_vouch_for_the_biharmonic_fill():
    truth = shading()
    hole = square_hole()
    frames = np.where(hole[..., None], 0, truth).astype(np.uint8)
    # Everything around the region was itself filled (propagated): no self-test can be scored, so the membrane.
    known = np.zeros_like(hole)
    assert np.array_equal(fill_unseen(frames, hole, known), membrane_fill(frames, hole))


def test_regions_too_large_or_too_small_keep_the_membrane():
    truth = shading(240, 320)
    side = int(np.ceil(np.sqrt(MAX_AREA))) + 1
    big = square_hole(240, 320, y=80, x=120, side=side)
    small = square_hole(240, 320, y=10, x=10, side=4)
    for hole in (big, small):
        frames = np.where(hole[..., None], 0, truth).astype(np.uint8)
        assert np.array_equal(fill_unseen(frames, hole, ~hole), membrane_fill(frames, hole))
