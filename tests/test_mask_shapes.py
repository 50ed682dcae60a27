import numpy as np
import pytest

from videovq.errors import InputError
from videovq.io.mask_shapes import MASK_KINDS, box_masks, make_mask, random_mask_like

MOVING = [("strokes", {}), ("blobs", {}), ("boxes", {"moving": True})]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return (a & b).sum() / max(1, (a | b).sum())


@pytest.mark.parametrize("kind", MASK_KINDS)
def test_same_seed_same_mask_and_shape(kind):
    a = make_mask(kind, 12, 60, 100, seed=3)
    b = make_mask(kind, 12, 60, 100, seed=3)
    assert a.shape == (12, 60, 100) and a.dtype == bool
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", MASK_KINDS)
def test_different_seeds_differ(kind):
    masks = [make_mask(kind, 4, 60, 100, seed=s) for s in range(4)]
    assert all(not np.array_equal(masks[0], m) for m in masks[1:])


@pytest.mark.parametrize("kind, options", MOVING + [("boxes", {})])
def test_hole_fraction_is_sane(kind, options):
    fractions = [make_mask(kind, 10, 240, 432, seed=s, **options).mean() for s in range(8)]
    assert 0.02 < min(fractions) and max(fractions) < 0.3
    assert 0.05 < np.mean(fractions) < 0.2


def test_max_area_option_bounds_the_hole():
    for kind in MASK_KINDS:
        fractions = [make_mask(kind, 5, 240, 432, seed=s, min_area=0.01, max_area=0.02).mean() for s in range(5)]
        assert max(fractions) < 0.04, kind


@pytest.mark.parametrize("kind, options", MOVING)
def test_masks_move_smoothly(kind, options):
    for seed in range(5):
        m = make_mask(kind, 30, 240, 432, seed=seed, **options)
        assert not np.array_equal(m[0], m[-1])
        assert min(_iou(m[t], m[t + 1]) for t in range(29)) > 0.5
        assert m.reshape(30, -1).any(axis=1).all()


def test_fixed_boxes_do_not_move():
    m = box_masks(10, 50, 80, seed=1)
    assert (m == m[0]).all()
    assert m[0].any()


@pytest.mark.parametrize("size", [(1, 1), (4, 4), (8, 15), (4, 100)])
@pytest.mark.parametrize("kind", MASK_KINDS)
def test_tiny_sizes_have_holes(kind, size):
    for seed in range(5):
        m = make_mask(kind, 6, *size, seed=seed)
        assert m.shape == (6, *size)
        assert m.reshape(6, -1).any(axis=1).all()


def test_random_mask_like_uses_the_generator():
    rng = np.random.default_rng(0)
    masks = [random_mask_like(rng, 5, 8, 15) for _ in range(30)]
    assert all(m.shape == (5, 8, 15) and m.dtype == bool and m.any() for m in masks)
    assert len({m.tobytes() for m in masks}) > 20  # the generator advances: not the same mask every time
    again = [random_mask_like(np.random.default_rng(0), 5, 8, 15) for _ in range(2)]
    np.testing.assert_array_equal(again[0], masks[0])
    np.testing.assert_array_equal(again[1], masks[0])


def test_bad_input():
    with pytest.raises(InputError, match="strokes, blobs, boxes"):
        make_mask("circles", 4, 10, 10)
    with pytest.raises(InputError, match="num_frames|T=0"):
        make_mask("blobs", 0, 10, 10)
    with pytest.raises(InputError, match="H=0"):
        make_mask("strokes", 3, 0, 10)
    with pytest.raises(InputError, match="max_area"):
        make_mask("boxes", 3, 10, 10, max_area=1.5)
    with pytest.raises(InputError, match="bogus"):
        make_mask("boxes", 3, 10, 10, bogus=1)
