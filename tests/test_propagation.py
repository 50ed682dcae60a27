"""Flow-guided propagation (pipeline step 2) and the inpainting baselines."""

import cv2
import numpy as np
import pytest

from videovq.data.procedural import procedural_scene
from videovq.errors import InputError
from videovq.inpaint.baselines import nearest_valid_fill, telea_inpaint
from videovq.inpaint.propagation import harmonic_fill, hold_still, propagate, still_pixels
from videovq.metrics.psnr_ssim import frame_psnr, nan_mean


def _texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth multi-scale random texture, float32 (H, W, 3) in [0, 255]."""
    rng = np.random.default_rng(seed)
    tex = np.zeros((height, width, 3), np.float32)
    for sigma in (8.0, 3.0, 1.2):
        tex += sigma * cv2.GaussianBlur(rng.uniform(0, 1, (height, width, 3)).astype(np.float32), (0, 0), sigma)
    return (tex - tex.min()) / (tex.max() - tex.min()) * 255


def _translating(num_frames: int, height: int, width: int, shift: tuple[float, float], seed: int = 0) -> np.ndarray:
    """The texture panning by `shift` (dx, dy) px per frame, rendered with sub-pixel accuracy: uint8 (T, H, W, 3)."""
    tex = _texture(height + 80, width + 80, seed)
    frames = []
    for t in range(num_frames):
        m = np.float32([[1, 0, 10 + shift[0] * t], [0, 1, 10 + shift[1] * t]])
        frames.append(cv2.warpAffine(tex, m, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP))
    return np.clip(np.stack(frames) + 0.5, 0, 255).astype(np.uint8)


def _moving_box(num_frames: int, height: int, width: int, size=(20, 24), start=(10, 20), step=(3, 1)) -> np.ndarray:
    """A box hole moving by `step` (dx, dy) px per frame: bool (T, H, W)."""
    hole = np.zeros((num_frames, height, width), bool)
    for t in range(num_frames):
        y, x = start[0] + step[1] * t, start[1] + step[0] * t
        hole[t, y : y + size[0], x : x + size[1]] = True
    return hole


def _corrupt(frames: np.ndarray, hole: np.ndarray, seed: int = 3) -> np.ndarray:
    """Random garbage in the hole: methods must not read it."""
    out = frames.copy()
    out[hole] = np.random.default_rng(seed).integers(0, 256, (int(hole.sum()), 3), dtype=np.uint8)
    return out


def _all_methods(frames: np.ndarray, hole: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "propagate": propagate(frames, hole).frames,
        "telea": telea_inpaint(frames, hole),
        "nearest_valid": nearest_valid_fill(frames, hole),
    }


def test_pixels_outside_the_hole_are_bit_exact():
    clip = _translating(8, 48, 64, (2, 1))
    hole = _moving_box(8, 48, 64)
    hole[:, ::7, ::5] = True  # plus scattered single pixels
    corrupt = _corrupt(clip, hole)
    for name, out in _all_methods(corrupt, hole).items():
        assert out.dtype == np.uint8 and out.shape == clip.shape, name
        assert np.array_equal(out[~hole], corrupt[~hole]), name
        assert not np.array_equal(out[hole], corrupt[hole]), name  # and the hole was actually filled


def test_empty_mask_returns_the_input():
    clip = _translating(5, 32, 40, (1, 0))
    hole = np.zeros(clip.shape[:3], bool)
    result = propagate(clip, hole)
    assert np.array_equal(result.frames, clip)
    assert not result.remaining.any() and result.filled_fraction == 1.0 and result.seconds >= 0
    assert np.array_equal(telea_inpaint(clip, hole), clip)
    assert np.array_equal(nearest_valid_fill(clip, hole), clip)


def test_single_frame_video_has_nothing_to_propagate():
    clip = _translating(1, 32, 40, (0, 0))
    hole = _moving_box(1, 32, 40, size=(8, 8), start=(5, 5))
    corrupt = _corrupt(clip, hole)
    result = propagate(corrupt, hole)
    assert np.array_equal(result.remaining, hole) and result.filled_fraction == 0.0
    assert np.array_equal(result.frames, corrupt)
    for name, out in _all_methods(corrupt, hole).items():
        assert np.array_equal(out[~hole], corrupt[~hole]), name
    # Nothing else to copy from: nearest-valid falls back to Telea.
    assert np.array_equal(nearest_valid_fill(corrupt, hole), telea_inpaint(corrupt, hole))


def test_fully_masked_frame_is_filled_from_its_neighbours():
    still = np.repeat(_translating(1, 40, 48, (0, 0)), 6, axis=0)  # a static scene
    hole = _moving_box(6, 40, 48, size=(10, 12), start=(4, 4), step=(4, 3))
    hole[2] = True
    corrupt = _corrupt(still, hole)
    result = propagate(corrupt, hole)
    # The hole of the fully masked frame has no boundary to complete its flow from: zero flow, i.e. the same
    # position in the frames around it, which is right for a static scene (up to DIS's sub-pixel noise elsewhere).
    assert not result.remaining[2].any()
    assert np.abs(result.frames[2].astype(int) - still[2]).max() <= 2
    assert np.array_equal(nearest_valid_fill(corrupt, hole), still)
    telea = telea_inpaint(corrupt, hole)
    assert (telea[2] == 128).all()  # nothing to inpaint from: mid-grey
    assert np.array_equal(telea[~hole], corrupt[~hole])


def test_all_frames_fully_masked():
    clip = _translating(3, 24, 30, (1, 1))
    hole = np.ones(clip.shape[:3], bool)
    result = propagate(clip, hole)
    assert result.remaining.all() and result.filled_fraction == 0.0
    assert (nearest_valid_fill(clip, hole) == 128).all()


@pytest.mark.parametrize("max_side", [None, 16])
def test_odd_frame_size(max_side):
    clip = _translating(6, 33, 41, (1, 2))
    hole = _moving_box(6, 33, 41, size=(7, 9), start=(5, 6), step=(2, 1))
    corrupt = _corrupt(clip, hole)
    result = propagate(corrupt, hole, max_side=max_side)
    assert result.frames.shape == clip.shape and result.remaining.shape == hole.shape
    assert np.array_equal(result.frames[~hole], corrupt[~hole])
    assert result.filled_fraction > 0.5
    for name, out in _all_methods(corrupt, hole).items():
        assert np.array_equal(out[~hole], corrupt[~hole]), name


@pytest.mark.parametrize(("shift", "min_psnr"), [((2, 1), 40.0), ((1.3, 0.6), 32.0)])
def test_propagation_recovers_a_translating_texture(shift, min_psnr):
    clip = _translating(12, 64, 80, shift)
    hole = _moving_box(12, 64, 80)
    corrupt = _corrupt(clip, hole)
    result = propagate(corrupt, hole)
    filled = hole & ~result.remaining
    psnr = nan_mean(frame_psnr(result.frames, clip, filled))
    assert psnr > min_psnr
    assert result.filled_fraction > 0.95  # the box moves across the texture: nearly everything is seen somewhere
    telea = nan_mean(frame_psnr(telea_inpaint(corrupt, hole), clip, filled))
    nearest = nan_mean(frame_psnr(nearest_valid_fill(corrupt, hole), clip, filled))
    assert psnr > max(telea, nearest) + 10


def test_what_no_frame_shows_remains():
    # The content moves by (-2, -1) px per frame on screen; a hole moving with it hides the same content throughout.
    clip = _translating(12, 64, 80, (2, 1))
    hole = _moving_box(12, 64, 80, start=(30, 50), step=(-2, -1))
    result = propagate(_corrupt(clip, hole), hole)
    assert np.array_equal(result.remaining, hole) and result.filled_fraction == 0.0


def test_max_distance_limits_how_far_colours_travel():
    clip = _translating(12, 64, 80, (2, 1))
    hole = _moving_box(12, 64, 80)
    near = propagate(clip, hole, max_distance=1)
    anywhere = propagate(clip, hole)
    assert near.filled_fraction < anywhere.filled_fraction
    # What max_distance=1 fills is visible in an adjacent frame, so the unlimited run fills it too.
    assert not (anywhere.remaining & ~near.remaining).any()


def test_propagation_beats_telea_at_object_removal():
    psnr_prop, psnr_telea = [], []
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    for seed in (0, 1):
        scene = procedural_scene(16, 72, 112, seed, num_objects=2, static_prob=0.0, object_speed=0.04)
        hole = np.stack([cv2.dilate(m.astype(np.uint8), kernel).astype(bool) for m in scene.object_masks.any(axis=1)])
        result = propagate(scene.frames, hole)
        filled = hole & ~result.remaining
        assert result.filled_fraction > 0.2
        assert np.array_equal(result.frames[~hole], scene.frames[~hole])
        psnr_prop.append(nan_mean(frame_psnr(result.frames, scene.background, filled)))
        psnr_telea.append(nan_mean(frame_psnr(telea_inpaint(scene.frames, hole), scene.background, filled)))
    assert min(np.array(psnr_prop) - np.array(psnr_telea)) > 5.0, (psnr_prop, psnr_telea)


def test_nearest_valid_fill_is_exact_for_a_static_scene():
    still = np.repeat(_translating(1, 40, 48, (0, 0)), 8, axis=0)
    hole = _moving_box(8, 40, 48, size=(10, 12), start=(4, 4), step=(4, 3))
    assert not hole.all(axis=0).any()  # every pixel is visible in some frame
    assert np.array_equal(nearest_valid_fill(_corrupt(still, hole), hole), still)


def test_nearest_valid_fill_prefers_the_nearest_then_the_earlier_frame():
    frames = np.stack([np.full((4, 5, 3), 10 * t, np.uint8) for t in range(5)])
    hole = np.zeros((5, 4, 5), bool)
    hole[1:4, 0, 0] = True  # pixel (0, 0) valid at t = 0 and t = 4
    out = nearest_valid_fill(frames, hole)
    assert out[1, 0, 0, 0] == 0 and out[2, 0, 0, 0] == 0 and out[3, 0, 0, 0] == 40  # t=2: tie -> earlier


def test_harmonic_fill_reproduces_a_linear_field():
    y, x = np.mgrid[0:50, 0:70].astype(np.float32)
    field = np.dstack([x + 2 * y, 3 * x - y])
    known = np.ones((50, 70), bool)
    known[10:40, 15:55] = False  # linear functions are harmonic: the exact answer
    known[3:6, 3:60] = False
    filled = harmonic_fill(field, known)
    assert np.array_equal(filled[known], field[known])
    assert np.abs(filled - field)[~known].max() < 2.0  # 1 % of the field's range with the default 3 V-cycles
    assert np.abs(harmonic_fill(field, known, cycles=10) - field)[~known].max() < 0.1  # multigrid converges
    assert not harmonic_fill(field[..., 0], np.zeros_like(known)).any()  # nothing known: zeros


def test_bad_inputs_are_refused():
    clip = _translating(3, 24, 30, (1, 1))
    hole = np.zeros(clip.shape[:3], bool)
    with pytest.raises(InputError):
        propagate(clip, hole[:, :-1])
    with pytest.raises(InputError):
        propagate(clip.astype(np.float32), hole)
    with pytest.raises(InputError):
        propagate(clip, hole, preset="slow")
    with pytest.raises(InputError):
        propagate(clip, hole, max_side=4)
    with pytest.raises(InputError):
        propagate(clip, hole, max_distance=0)
    with pytest.raises(InputError):
        nearest_valid_fill(clip, hole[:2])
    with pytest.raises(InputError):
        telea_inpaint(clip, hole, radius=0)


def test_a_still_scene_is_copied_exactly():
    # Without still_copies the flow's noise drifts colour here (this fails with still_copies=False).
    still = np.repeat(_translating(1, 48, 64, (0, 0)), 10, axis=0)
    hole = _moving_box(10, 48, 64, size=(12, 14), start=(6, 4), step=(4, 2))
    result = propagate(_corrupt(still, hole), hole, still_copies=True)
    seen = hole & ~hole.all(axis=0)  # visible at the same place in some frame
    assert not (result.remaining & seen).any()
    assert np.array_equal(result.frames[seen], still[seen])  # bit-exact: no flow noise, no resampling


@pytest.mark.parametrize("shift, still", [((0.0, 0.0), True), ((1.0, 0.0), False), ((2.0, 1.0), False)])
def test_still_pairs_decide_as_the_full_resolution_test(shift, still):
    # The pair test runs first on every second pixel; it must reach the verdict of the test on all pixels.
    from videovq.inpaint.propagation import _Gray, _StillPairs, _still_share

    rng = np.random.default_rng(0)
    frames = _translating(2, 96, 128, shift).astype(np.int16) + rng.integers(-1, 2, (2, 96, 128, 3))
    frames = np.clip(frames, 0, 255).astype(np.uint8)
    hole = np.zeros((2, 96, 128), bool)
    hole[:, 30:60, 40:90] = True
    gray = _Gray(frames)
    assert _StillPairs(gray, hole, tolerance=2.0).still(0, 1) is still
    assert (_still_share(gray, hole, 0, 1, 2.0, step=1) >= 0.5) is still


@pytest.mark.parametrize("shift, held", [((0.0, 0.0), True), ((2.0, 1.0), False)])
def test_hold_still_keeps_the_fill_of_a_still_scene_only(shift, held):
    rng = np.random.default_rng(0)
    frames = _translating(6, 96, 128, shift)
    hole = np.zeros((6, 96, 128), bool)
    hole[:, 30:60, 40:90] = True  # a static box, as a logo
    hole[3:, 70:80, 10:20] = True  # a hole that appears later: nothing to hold from in frame 3
    generated = rng.integers(0, 256, frames.shape, dtype=np.uint8)  # each frame's own prediction
    out = generated.copy()
    still = still_pixels(frames, hole)
    hold_still(out, still)
    assert not still[0].any() and bool(still.any()) is held
    near = cv2.dilate(hole.any(axis=0).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert np.array_equal(out[:, ~near], generated[:, ~near])  # only the hole and the pixels next to it change
    assert np.array_equal(out[0], generated[0]) and np.array_equal(out[3, 70:80, 10:20], generated[3, 70:80, 10:20])
    box = out[:, 30:60, 40:90]
    assert all(np.array_equal(box[t], box[0]) for t in range(6)) is held
    if not held:
        assert np.array_equal(out, generated)


def test_a_noisy_still_scene_does_not_lose_to_a_plain_copy():
    rng = np.random.default_rng(1)
    still = np.repeat(_translating(1, 64, 80, (0, 0)).astype(np.float32), 12, axis=0)
    noisy = np.clip(still + rng.normal(0, 2.0, still.shape) + 0.5, 0, 255).astype(np.uint8)  # sensor noise
    hole = _moving_box(12, 64, 80, size=(16, 20), start=(8, 6), step=(4, 2))
    result = propagate(_corrupt(noisy, hole), hole, still_copies=True)
    filled = hole & ~result.remaining
    psnr = nan_mean(frame_psnr(result.frames, noisy, filled))
    copy = nan_mean(frame_psnr(nearest_valid_fill(_corrupt(noisy, hole), hole), noisy, filled))
    assert psnr >= copy - 0.05, (psnr, copy)
