"""Fine detail for generated cells, copied from the known cell whose code is nearest to the predicted one."""

import cv2
import numpy as np

from videovq.inpaint.exemplar import add_detail, exemplar_detail, mostly_still

F = 4  # pixels per cell side


def textured_frames(num_frames=2, h=6, w=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (num_frames, h * F, w * F, 3), dtype=np.uint8)


def high_pass(frame, sigma=1.0):
    image = frame.astype(np.float32)
    return image - cv2.GaussianBlur(image, (0, 0), sigma)


def cell(array, y, x):
    return array[y * F : (y + 1) * F, x * F : (x + 1) * F]


def assert_scaled_copy(got, source):
    """`got` is `source` times a gain in (0, 1] (the detail is scaled to its surroundings, never up)."""
    gain = float((got * source).sum() / (source * source).sum())
    assert 0 < gain <= 1 + 1e-6
    np.testing.assert_allclose(got, gain * source, atol=1e-3)


def test_a_generated_cell_gets_the_detail_of_the_known_cell_with_its_code():
    frames = textured_frames(num_frames=1)
    codes = np.zeros((1, 6, 6), int)
    known = np.ones((1, 6, 6), bool)
    known[0, 0, 0] = False  # the generated cell, predicted code 3
    codes[0, 0, 0] = 3
    codes[0, 4, 4] = 3  # the only known cell with that code, far away
    embeddings = np.eye(8, dtype=np.float32)
    detail = exemplar_detail(frames, codes, known, embeddings, F, sigma=1.0)
    assert_scaled_copy(cell(detail[0], 0, 0), cell(high_pass(frames[0]), 4, 4))
    # Known cells get nothing.
    assert not detail[0, F:, :].any() and not detail[0, :, F:].any()


def test_the_nearest_code_wins_over_the_nearest_cell_and_ties_go_to_the_nearest_cell():
    frames = textured_frames(num_frames=1)
    embeddings = np.array([[0, 0], [10, 0], [1, 0]], np.float32)  # code 2 is nearer to code 1 than code 0 is
    codes = np.zeros((1, 6, 6), int)
    known = np.ones((1, 6, 6), bool)
    known[0, 2, 2] = False
    codes[0, 2, 2] = 1
    codes[0, 5, 5] = codes[0, 0, 5] = 2  # both far; (0, 5) is nearer to (2, 2) than (5, 5) is
    detail = exemplar_detail(frames, codes, known, embeddings, F, sigma=1.0)
    assert_scaled_copy(cell(detail[0], 2, 2), cell(high_pass(frames[0]), 0, 5))


def test_cells_next_to_the_hole_are_not_sources_and_no_source_means_no_detail():
    frames = textured_frames(num_frames=2)
    codes = np.zeros((2, 6, 6), int)
    embeddings = np.array([[0.0], [1.0]], np.float32)
    known = np.ones((2, 6, 6), bool)
    known[:, 2, 2] = False
    codes[:, 2, 2] = 1
    codes[0, 2, 3] = 1  # same code, but next to the hole: its blur read hole pixels
    codes[1, 5, 5] = 1  # same code in the other frame, with known neighbours
    detail = exemplar_detail(frames, codes, known, embeddings, F, sigma=1.0)
    # The frame itself has sources, all of code 0: the nearest of them in the frame (first in raster order of those
    # two cells away), not the neighbour with the same code.
    assert_scaled_copy(cell(detail[0], 2, 2), cell(high_pass(frames[0]), 0, 2))
    nothing_known = np.zeros((2, 6, 6), bool)
    assert not exemplar_detail(frames, codes, nothing_known, embeddings, F, sigma=1.0).any()


def test_detail_is_scaled_down_to_the_detail_around_the_hole():
    """A generated cell in a smooth region whose nearest code is a sharp cell's gets a fraction of its detail."""
    frames = np.full((1, 6 * F, 6 * F, 3), 128, np.uint8)
    rng = np.random.default_rng(1)
    frames[0, 4 * F : 5 * F, 4 * F : 5 * F] = rng.integers(0, 256, (F, F, 3))  # the only textured cell
    codes = np.zeros((1, 6, 6), int)
    known = np.ones((1, 6, 6), bool)
    known[0, 1, 1] = False
    codes[0, 1, 1] = codes[0, 4, 4] = 1
    embeddings = np.array([[0.0], [1.0]], np.float32)
    detail = exemplar_detail(frames, codes, known, embeddings, F, sigma=1.0)
    source = cell(high_pass(frames[0]), 4, 4)
    copied = cell(detail[0], 1, 1)
    assert_scaled_copy(copied, source)
    assert np.abs(copied).max() < 0.5 * np.abs(source).max()


def test_a_cell_some_frame_shows_gets_no_detail():
    """A moving hole: what is generated there changes from frame to frame, so copied detail would flicker."""
    frames = textured_frames(num_frames=2)
    codes = np.zeros((2, 6, 6), int)
    known = np.ones((2, 6, 6), bool)
    known[0, 2, 2] = known[1, 2, 3] = False  # the hole moves one cell
    known[:, 4, 0] = False  # a cell no frame shows
    detail = exemplar_detail(frames, codes, known, np.eye(1, dtype=np.float32), F, sigma=1.0)
    assert not cell(detail[0], 2, 2).any() and not cell(detail[1], 2, 3).any()
    assert cell(detail[0], 4, 0).any() and cell(detail[1], 4, 0).any()


def test_detail_is_added_only_where_the_scene_is_still_in_most_frames():
    fill = np.full((5, 8, 8, 3), 100, np.uint8)
    detail = np.full((5, 4, 4, 3), 10.0, np.float32)  # at half the size: upscaled to the fill's
    still = np.zeros((5, 8, 8), bool)
    still[1:, :, :4] = True  # the left half still in every pair
    still[1:2, :, 4:] = True  # the right half in one pair of four: not most
    add_detail(fill, detail, mostly_still(still))
    assert (fill[:, :, :4] == 110).all()  # every frame, frame 0 included: one mask for the chunk
    assert (fill[:, :, 4:] == 100).all()


def test_a_single_frame_or_a_moving_scene_is_not_mostly_still():
    assert not mostly_still(np.zeros((3, 8, 8), bool)).any()
    assert not mostly_still(np.ones((1, 8, 8), bool)).any()
