"""Tracking a drawn box: a textured square followed both ways (IoU > 0.8), a lost object reported, CLI, GrabCut."""

from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np
import pytest

from videovq.cli import main
from videovq.errors import InputError
from videovq.io.mask_box import Rect
from videovq.io.mask_track import TrackChecks, _check, _patch, _similarity, refine_box, track_box, track_mask
from videovq.io.masks import load_mask
from videovq.io.video import probe, write_video

H, W, SIDE = 96, 128, 20


def _square_path(num_frames: int) -> list[tuple[float, float]]:
    """Top-left corners of the square: a smooth curve across the frame, ~2.5 px per frame."""
    t = np.arange(num_frames)
    return [(10 + 3.0 * i, 30 + 20 * np.sin(i / 6)) for i in t]


def _scene(num_frames: int = 24, vanish_from: int | None = None, seed: int = 0):
    """A textured square moving over a smooth background; from `vanish_from` on it is gone."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W]
    background = np.stack([60 + 0.5 * xx, 80 + 0.4 * yy, 120 + 0.2 * (xx + yy)], axis=-1).astype(np.uint8)
    coarse = rng.integers(0, 256, size=(SIDE // 4, SIDE // 4, 3), dtype=np.uint8)
    texture = cv2.resize(coarse, (SIDE, SIDE), interpolation=cv2.INTER_CUBIC)  # blotchy, like real surfaces
    frames = np.repeat(background[None], num_frames, axis=0)
    boxes = []
    for i, (x, y) in enumerate(_square_path(num_frames)):
        xi, yi = int(round(x)), int(round(y))
        boxes.append(Rect(xi, yi, SIDE, SIDE))
        if vanish_from is None or i < vanish_from:
            frames[i, yi : yi + SIDE, xi : xi + SIDE] = texture
    return frames, boxes


def _iou(a: Rect, b: Rect) -> float:
    ix = max(0.0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0.0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    return inter / (a.w * a.h + b.w * b.h - inter)


def test_tracks_a_moving_textured_square_forwards_and_backwards():
    frames, truth = _scene()
    start = 12  # drawn in the middle: half the clip is tracked backwards
    result = track_box(frames, truth[start], start)
    assert result.lost == []
    ious = [_iou(box, true) for box, true in zip(result.boxes, truth)]
    assert min(ious) > 0.8, [round(v, 2) for v in ious]
    mask = track_mask(frames, result)
    assert mask.shape == (24, H, W) and all(m.sum() > 0.8 * SIDE * SIDE for m in mask)


def test_reports_where_the_object_disappears_instead_of_drifting():
    frames, truth = _scene(vanish_from=20)
    result = track_box(frames, truth[5], 5)
    assert [(lost.frame, lost.direction) for lost in result.lost] == [(20, 1)]
    assert "tracking lost at frame 20 (forwards)" in result.lost[0].describe()
    assert all(box is not None for box in result.boxes[:20])
    assert all(box is None for box in result.boxes[20:])  # no box follows the background
    assert not track_mask(frames, result)[20:].any()
    # the appearance check alone catches it too, where the tracker itself would carry on
    patch_now, patch_before = _patch(frames[20], truth[20]), _patch(frames[19], truth[19])
    assert _similarity(patch_now, patch_before) < TrackChecks().min_similarity


def test_an_occluder_stops_tracking_at_the_frame_it_covers_the_object():
    frames, truth = _scene()
    for t in range(16, 24):  # a flat grey board slides over the square from frame 16 on
        b = truth[t]
        frames[t, int(b.y) - 4 : int(b.y + b.h) + 4, int(b.x) - 4 : int(b.x + b.w) + 4] = 128
    result = track_box(frames, truth[0], 0)
    assert [lost.frame for lost in result.lost] == [16]


def test_size_jump_and_leaving_the_frame_are_losses():
    frames, truth = _scene(num_frames=2)
    template = _patch(frames[0], truth[0])
    b = truth[0]
    assert _check(frames[0], b, b, template, TrackChecks()) is None
    grown = Rect(b.x - 6, b.y - 6, b.w + 12, b.h + 12)  # x2.56 the area
    assert "size jumped" in _check(frames[0], grown, b, template, TrackChecks())
    assert _check(frames[0], grown, b, template, TrackChecks(max_scale_jump=3, min_similarity=-1)) is None
    outside = Rect(W - 3, b.y, b.w, b.h)
    assert "left the frame" in _check(frames[0], outside, outside, template, TrackChecks())


def test_grabcut_cuts_the_box_down_to_the_object():
    yy, xx = np.mgrid[0:H, 0:W]
    frame = np.full((H, W, 3), (40, 160, 40), np.uint8)
    disk = (yy - 48) ** 2 + (xx - 64) ** 2 <= 15**2
    frame[disk] = (220, 30, 30)
    refined = refine_box(frame, Rect(44, 28, 40, 40))
    assert (refined & disk).sum() / disk.sum() > 0.95
    assert (refined & ~disk).sum() < 0.1 * disk.sum()  # the box's corners (green) are dropped


def test_bad_box_and_frame_are_input_errors():
    frames, truth = _scene(num_frames=5)
    with pytest.raises(InputError, match="--frame 9"):
        track_box(frames, truth[0], 9)
    with pytest.raises(InputError, match="4x4"):
        track_box(frames, Rect(-50, -50, 20, 20), 0)


def test_cli_mask_track_writes_the_mask_and_says_where_tracking_was_lost(tmp_path, capsys):
    frames, truth = _scene(num_frames=24, vanish_from=18)
    video = write_video(tmp_path / "clip.mkv", frames, Fraction(25))
    out = tmp_path / "mask.mkv"
    b = truth[4]
    rc = main(["mask", "track", str(video), "--box", f"{b.x:g},{b.y:g},{b.w:g},{b.h:g}", "--frame", "4",
               "--dilate", "1", "-o", str(out)])  # fmt: skip
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    lost_lines = [line for line in captured.err.splitlines() if "tracking lost" in line]
    assert len(lost_lines) == 1 and "frame 18" in lost_lines[0]
    mask = load_mask(out, probe(video))
    assert mask[:18].all(axis=(1, 2)).sum() == 0 and mask[:18].any(axis=(1, 2)).all()
    assert not mask[18:].any()
    rc = main(["mask", "track", str(video), "--box", "1,2,3", "--frame", "0", "-o", str(tmp_path / "m2.mkv")])
    assert rc == 2 and "x,y,w,h" in capsys.readouterr().err
