"""`videovq evaluate --mask FOLDER`: one mask per video, matched by name; one mask (or frame folder) for all."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import moving_pattern

from videovq.errors import InputError
from videovq.evaluation import evaluate
from videovq.io.masks import write_mask
from videovq.io.video import write_video

REGIONS = {"a": np.s_[:, 4:20, 4:28], "b": np.s_[:, 28:44, 36:60]}


@pytest.fixture
def pair_folders(tmp_path):
    """Each prediction differs from its reference only inside its own region, which its own mask marks."""
    ref, pred, masks = tmp_path / "ref", tmp_path / "pred", tmp_path / "masks"
    for folder in (ref, pred, masks):
        folder.mkdir()
    rng = np.random.default_rng(0)
    for i, (name, region) in enumerate(REGIONS.items()):
        frames = moving_pattern(6, 48, 64, seed=i)
        write_video(ref / f"{name}.mkv", frames, 25)
        wrong = frames.copy()
        wrong[region] = rng.integers(0, 255, wrong[region].shape, dtype=np.uint8)
        write_video(pred / f"{name}.mkv", wrong, 25)
        hole = np.zeros((6, 48, 64), bool)
        hole[region] = True
        write_mask(masks / f"{name}.mkv", hole, 25)
    return pred, ref, masks


def hole_psnr(report) -> dict[str, float]:
    return {video.name: video.summary()["psnr_hole"] for video in report.videos}


def test_each_video_is_scored_inside_its_own_mask(pair_folders):
    pred, ref, masks = pair_folders
    scores = hole_psnr(evaluate(pred, ref, masks, metrics=("psnr",)))
    assert set(scores) == {"a", "b"}
    # Every error sits inside the video's own hole; with the masks swapped both holes would be error-free (inf).
    assert all(math.isfinite(v) and v < 15 for v in scores.values()), scores
    swapped = masks.parent / "swapped"
    swapped.mkdir()
    (masks / "a.mkv").rename(swapped / "b.mkv")
    (masks / "b.mkv").rename(swapped / "a.mkv")
    assert all(v == math.inf for v in hole_psnr(evaluate(pred, ref, swapped, metrics=("psnr",))).values())


def test_a_mask_folder_without_a_video_s_mask_is_refused(pair_folders):
    pred, ref, masks = pair_folders
    (masks / "b.mkv").unlink()
    with pytest.raises(InputError, match="no mask for b"):
        evaluate(pred, ref, masks, metrics=("psnr",))


def test_one_mask_as_a_frame_folder_applies_to_every_video(pair_folders, tmp_path):
    pred, ref, _ = pair_folders
    hole = np.zeros((6, 48, 64), bool)
    hole[REGIONS["a"]] = True
    frames = write_mask(tmp_path / "mask_frames", hole, 25)  # a folder of PNG frames is one mask, not a collection
    scores = hole_psnr(evaluate(pred, ref, frames, metrics=("psnr",)))
    assert math.isfinite(scores["a"]) and scores["b"] == math.inf  # b's errors are all outside region a
