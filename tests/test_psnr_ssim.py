import warnings

import numpy as np
import pytest

from videovq.errors import InputError
from videovq.metrics.psnr_ssim import frame_psnr, frame_ssim, nan_mean


def _textured(num_frames: int = 3, height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(40, 216, (num_frames, height, width, 3), dtype=np.uint8)


def test_psnr_matches_closed_form():
    grey = np.full((2, 32, 40, 3), 128, dtype=np.uint8)
    d = 5
    signs = np.random.default_rng(0).choice([-1, 1], grey.shape)
    noisy = (grey.astype(int) + d * signs).astype(np.uint8)  # no clipping: MSE is exactly d^2
    np.testing.assert_allclose(frame_psnr(noisy, grey), 10 * np.log10(255.0**2 / d**2), rtol=1e-12)


def test_psnr_gaussian_noise_matches_computed_mse():
    ref = _textured()
    noisy = np.clip(ref + np.random.default_rng(1).normal(0, 7, ref.shape).round(), 0, 255).astype(np.uint8)
    mse = ((noisy.astype(float) - ref) ** 2).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(frame_psnr(noisy, ref), 10 * np.log10(255.0**2 / mse))


def test_masked_psnr_ignores_pixels_outside_the_hole():
    ref = _textured()
    pred = ref.copy()
    mask = np.zeros(ref.shape[:3], dtype=bool)
    mask[:, 10:20, 15:30] = True
    pred[mask] += 3  # values 40..215, no overflow
    np.testing.assert_allclose(frame_psnr(pred, ref, mask), 10 * np.log10(255.0**2 / 9))
    pred[~mask] = 0  # garbage outside the hole
    np.testing.assert_allclose(frame_psnr(pred, ref, mask), 10 * np.log10(255.0**2 / 9))
    assert frame_psnr(pred, ref).mean() < 15  # but the full-frame value sees it


def test_identical_frames_give_inf_without_warnings():
    ref = _textured()
    pred = ref.copy()
    pred[1] ^= 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        psnr = frame_psnr(pred, ref)
        assert psnr[0] == np.inf and psnr[2] == np.inf and np.isfinite(psnr[1])
        assert nan_mean(psnr) == np.inf


def test_empty_hole_gives_nan_and_nan_mean_skips_it():
    ref = _textured()
    pred = np.clip(ref.astype(int) + 4, 0, 255).astype(np.uint8)
    mask = np.zeros(ref.shape[:3], dtype=bool)
    mask[0, :8, :8] = True
    mask[2, -8:, -8:] = True
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        psnr = frame_psnr(pred, ref, mask)
        ssim = frame_ssim(pred, ref, mask)
        assert np.isnan(psnr[1]) and np.isnan(ssim[1])
        assert np.isfinite(psnr[[0, 2]]).all() and np.isfinite(ssim[[0, 2]]).all()
        assert nan_mean(psnr) == pytest.approx(psnr[[0, 2]].mean())
        assert np.isnan(nan_mean(np.array([np.nan, np.nan])))


def test_ssim_identical_is_one_and_decreases_with_noise():
    ref = _textured(2, 64, 80)
    np.testing.assert_allclose(frame_ssim(ref, ref), 1.0, atol=1e-6)
    rng = np.random.default_rng(2)
    values = []
    for sigma in (2, 8, 32):
        noisy = np.clip(ref + rng.normal(0, sigma, ref.shape), 0, 255).astype(np.uint8)
        values.append(frame_ssim(noisy, ref).mean())
    assert 1 > values[0] > values[1] > values[2]


def test_masked_ssim_ignores_pixels_far_from_the_hole():
    ref = _textured(2, 64, 96)
    pred = np.clip(ref.astype(int) + np.random.default_rng(3).normal(0, 10, ref.shape), 0, 255).astype(np.uint8)
    mask = np.zeros(ref.shape[:3], dtype=bool)
    mask[:, 20:40, 20:40] = True
    before = frame_ssim(pred, ref, mask)
    far = np.ones(ref.shape[:3], dtype=bool)
    far[:, 20 - 6 : 40 + 6, 20 - 6 : 40 + 6] = False  # beyond the 11x11 window's reach
    changed = pred.copy()
    changed[far] = 255 - changed[far]
    np.testing.assert_allclose(frame_ssim(changed, ref, mask), before, rtol=1e-5)
    assert not np.allclose(frame_ssim(changed, ref), frame_ssim(pred, ref))


def test_full_mask_equals_unmasked_ssim():
    ref = _textured()
    pred = np.clip(ref.astype(int) + 6, 0, 255).astype(np.uint8)
    full = np.ones(ref.shape[:3], dtype=bool)
    np.testing.assert_allclose(frame_ssim(pred, ref, full), frame_ssim(pred, ref), rtol=1e-6)


def test_chunking_matches_single_pass(monkeypatch):
    import videovq.metrics.psnr_ssim as module

    ref = _textured(5)
    pred = np.clip(ref + np.random.default_rng(4).normal(0, 5, ref.shape), 0, 255).astype(np.uint8)
    whole_psnr, whole_ssim = frame_psnr(pred, ref), frame_ssim(pred, ref)
    monkeypatch.setattr(module, "_CHUNK_PIXELS", 2 * 48 * 64)  # 2 frames per chunk
    np.testing.assert_allclose(frame_psnr(pred, ref), whole_psnr)
    np.testing.assert_allclose(frame_ssim(pred, ref), whole_ssim, rtol=1e-6)


def test_shape_mismatch_names_both_shapes():
    a, b = _textured(2, 32, 32), _textured(2, 32, 40)
    with pytest.raises(InputError, match=r"\(2, 32, 32, 3\).*\(2, 32, 40, 3\)"):
        frame_psnr(a, b)
    with pytest.raises(InputError, match="mask shape"):
        frame_ssim(a, a, np.ones((2, 32, 40), dtype=bool))
    with pytest.raises(InputError, match="uint8"):
        frame_psnr(a.astype(np.float32), a)
