import cv2
import numpy as np
import pytest

from videovq.errors import InputError
from videovq.metrics.consistency import flicker, temporal_flicker, warping_error


def _translating_clip(num_frames: int = 6, shift: tuple[int, int] = (2, 3), seed: int = 0) -> np.ndarray:
    """A smooth random texture panning by a known integer (dy, dx) per frame."""
    rng = np.random.default_rng(seed)
    texture = cv2.GaussianBlur(rng.uniform(0, 255, (160, 200, 3)).astype(np.float32), (0, 0), 2.0)
    texture = ((texture - texture.min()) / (texture.max() - texture.min()) * 255).astype(np.uint8)
    dy, dx = shift
    return np.stack([texture[8 + dy * t : 8 + dy * t + 80, 8 + dx * t : 8 + dx * t + 112] for t in range(num_frames)])


def _add_noise(video: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, sigma, video.shape).round()
    return np.clip(video + noise, 0, 255).astype(np.uint8)


def test_warping_error_of_a_consistent_clip_is_near_zero():
    clip = _translating_clip()
    clean = warping_error(clip, clip)
    noisy = warping_error(_add_noise(clip, 8), clip)
    assert clean.shape == noisy.shape == (5,)
    assert clean.max() < 2e-5
    # Independent per-frame noise of std s gives about 2 s^2 on the [0, 1] scale.
    np.testing.assert_allclose(noisy, 2 * (8 / 255) ** 2, rtol=0.15)


def test_warping_error_mask_restricts_the_region():
    clip = _translating_clip()
    pred = _add_noise(clip, 6)
    mask = np.zeros(clip.shape[:3], dtype=bool)
    mask[:, 30:50, 40:70] = True
    before = warping_error(pred, clip, mask)
    # Pixels far from the hole (beyond the 2-3 px motion and the bilinear footprint) cannot reach it.
    far = np.ones(clip.shape[:3], dtype=bool)
    far[:, 30 - 8 : 50 + 8, 40 - 8 : 70 + 8] = False
    changed = pred.copy()
    changed[far] = 0
    np.testing.assert_allclose(warping_error(changed, clip, mask), before)
    assert not np.allclose(warping_error(changed, clip), warping_error(pred, clip))
    mask[2] = False
    assert np.isnan(warping_error(pred, clip, mask)[1])


def test_flicker_is_zero_for_the_reference_and_grows_with_noise():
    clip = _translating_clip()
    np.testing.assert_array_equal(flicker(clip, clip), 0.0)
    offset = (clip // 2 + 10).astype(np.uint8)
    assert flicker(offset, offset).max() == 0.0
    low, high = flicker(_add_noise(clip, 3), clip), flicker(_add_noise(clip, 12), clip)
    assert (low > 0).all() and (high > 2 * low).all()


def test_flicker_mask_uses_the_union_of_consecutive_holes():
    clip = _translating_clip()
    pred = _add_noise(clip, 5)
    mask = np.zeros(clip.shape[:3], dtype=bool)
    mask[0, 10:20, 10:20] = True
    mask[1, 30:40, 50:60] = True
    before = flicker(pred, clip, mask)
    changed = pred.copy()
    changed[:, 60:, 80:] = 0  # outside every hole
    np.testing.assert_array_equal(flicker(changed, clip, mask), before)
    assert np.isnan(before[2:]).all() and np.isfinite(before[:2]).all()
    expected = np.abs(
        (pred[1].astype(int) - pred[0]) - (clip[1].astype(int) - clip[0])
    )[mask[0] | mask[1]].mean()
    assert before[0] == pytest.approx(expected)


def test_temporal_flicker():
    clip = _translating_clip()
    static = np.repeat(clip[:1], 4, axis=0)
    np.testing.assert_array_equal(temporal_flicker(static), 0.0)
    jitter = temporal_flicker(_add_noise(static, 6))
    assert jitter.shape == (3,) and (jitter > 3).all()
    assert temporal_flicker(clip).min() > 0  # real motion counts too


def test_one_frame_gives_empty_and_tiny_frames_work():
    clip = _translating_clip()
    for metric in (warping_error, flicker):
        assert metric(clip[:1], clip[:1]).shape == (0,)
    assert temporal_flicker(clip[:1]).shape == (0,)
    tiny = clip[:, :8, :8]
    assert warping_error(tiny, tiny).shape == (5,)


def test_shape_mismatch():
    clip = _translating_clip()
    with pytest.raises(InputError, match="prediction shape"):
        warping_error(clip, clip[:, :40])
    with pytest.raises(InputError, match="prediction shape"):
        flicker(clip[:3], clip)
    with pytest.raises(InputError, match="mask shape"):
        temporal_flicker(clip, np.ones((6, 80, 100), dtype=bool))
