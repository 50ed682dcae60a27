"""Mask loading (video, folder, single image), size checks, dilation, writing."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from videovq.errors import InputError
from videovq.io.mask_shapes import make_mask
from videovq.io.masks import dilate_mask, load_mask, write_mask
from videovq.io.video import probe


@pytest.fixture
def info(tiny_video):
    return probe(tiny_video)  # 12 frames, 64x48


@pytest.mark.parametrize("name", ["m.mkv", "m.mp4", "frames"])
def test_mask_round_trip_through_every_format(tmp_path, info, name):
    mask = make_mask("blobs", info.num_frames, info.height, info.width, seed=3)
    path = write_mask(tmp_path / name, mask, info.fps)
    loaded = load_mask(path, info)
    if name == "m.mp4":  # lossy: thresholded at half intensity, edges may move by a pixel at most
        assert (loaded != mask).mean() < 0.01
    else:
        assert np.array_equal(loaded, mask)


def test_single_image_applies_to_every_frame(tmp_path, info):
    img = np.zeros((48, 64), np.uint8)
    img[10:20, 30:40] = 1  # any non-zero value is a hole
    Image.fromarray(img).save(tmp_path / "m.png")
    mask = load_mask(tmp_path / "m.png", info)
    assert mask.shape == (12, 48, 64) and mask.sum() == 12 * 100
    assert all(np.array_equal(m, img > 0) for m in mask)


def test_size_mismatch_is_an_error_unless_resized(tmp_path, info):
    Image.fromarray(np.full((24, 32), 255, np.uint8)).save(tmp_path / "small.png")
    with pytest.raises(InputError, match=r"small.png: the mask is 32x24 but .* is 64x48.*--resize-mask"):
        load_mask(tmp_path / "small.png", info)
    mask = load_mask(tmp_path / "small.png", info, resize=True)
    assert mask.shape == (12, 48, 64) and mask.all()


def test_frame_count_mismatch_is_an_error(tmp_path, info):
    path = write_mask(tmp_path / "short.mkv", np.ones((5, 48, 64), bool), info.fps)
    with pytest.raises(InputError, match="5 frames but .* has 12"):
        load_mask(path, info)


def test_dilation_grows_by_a_disk():
    mask = np.zeros((2, 21, 21), bool)
    mask[0, 10, 10] = True
    grown = dilate_mask(mask, 2)
    yy, xx = np.mgrid[-10:11, -10:11]
    assert np.array_equal(grown[0], yy**2 + xx**2 <= 4)  # 13 pixels
    assert not grown[1].any()
    assert np.array_equal(dilate_mask(mask, 0), mask)
    with pytest.raises(InputError):
        dilate_mask(mask, -1)
