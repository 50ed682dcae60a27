"""Drawn rectangle masks: static boxes, keyframed boxes (exact at keyframes, linear between, held outside), CLI."""

from __future__ import annotations

import numpy as np
import pytest

from videovq.cli import main
from videovq.errors import InputError
from videovq.io.mask_box import BoxTrack, Rect, box_mask, parse_rect, tracks_from_rects
from videovq.io.masks import load_mask
from videovq.io.video import probe


def _box(height, width, x0, y0, x1, y1) -> np.ndarray:
    frame = np.zeros((height, width), bool)
    frame[y0:y1, x0:x1] = True
    return frame


def test_static_boxes_cover_exactly_their_pixels_on_every_frame():
    mask = box_mask(tracks_from_rects(["2,3,10,5", "40,30,8,8"]), 4, 48, 64)
    expected = _box(48, 64, 2, 3, 12, 8) | _box(48, 64, 40, 30, 48, 38)
    assert all(np.array_equal(m, expected) for m in mask)


def test_keyframed_box_is_exact_at_keyframes_linear_between_and_held_outside():
    # keyframes at 2 and 12: x 0 -> 20, y 4 -> 14, w 10 -> 30, h 6 -> 16 (steps of 2, 1, 2, 1 per frame)
    tracks = tracks_from_rects(["2:0,4,10,6", "12:20,14,30,16"])
    mask = box_mask(tracks, 16, 48, 64)
    for t in range(16):
        k = min(max(t, 2), 12) - 2  # frames before 2 hold the first keyframe, after 12 the last
        x, y, w, h = 2 * k, 4 + k, 10 + 2 * k, 6 + k
        assert np.array_equal(mask[t], _box(48, 64, x, y, x + w, y + h)), f"frame {t}"


def test_three_keyframes_interpolate_piecewise():
    track = BoxTrack({0: Rect(0, 0, 4, 4), 4: Rect(8, 0, 4, 4), 6: Rect(8, 10, 4, 4)})
    assert track.rect_at(2) == Rect(4, 0, 4, 4)
    assert track.rect_at(5) == Rect(8, 5, 4, 4)
    assert track.rect_at(99) == Rect(8, 10, 4, 4)


def test_fractional_edges_round_half_up_and_boxes_clip_at_the_border():
    mask = box_mask([BoxTrack({0: Rect(-5.5, 40.5, 10, 20)})], 1, 48, 64)
    assert np.array_equal(mask[0], _box(48, 64, 0, 41, 5, 48))


@pytest.mark.parametrize(
    "text", ["1,2,3", "a,b,c,d", "x:1,2,3,4", "1,2,0,4", "-1:1,2,3,4", "1,2,nan,4"]
)
def test_bad_rects_are_input_errors(text):
    with pytest.raises(InputError, match="--rect|box"):
        tracks_from_rects([text])


def test_duplicate_keyframe_and_keyframe_past_the_end_are_refused():
    with pytest.raises(InputError, match="two keyframes"):
        tracks_from_rects(["3:1,1,4,4", "3:2,2,4,4"])
    with pytest.raises(InputError, match="frames 0..9"):
        box_mask(tracks_from_rects(["12:1,1,4,4"]), 10, 16, 16)


def test_parse_rect():
    assert parse_rect("10,20,30,40") == (None, Rect(10, 20, 30, 40))
    assert parse_rect("7:1.5,2,3,4") == (7, Rect(1.5, 2, 3, 4))


def test_cli_mask_box_writes_the_interpolated_mask(tmp_path, tiny_video, capsys):
    out = tmp_path / "box.mkv"
    rc = main(["mask", "box", "--like", str(tiny_video), "--rect", "0:0,0,8,8", "--rect", "11:22,11,8,8",
               "--rect", "50,40,4,4", "-o", str(out)])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    mask = load_mask(out, probe(tiny_video))
    assert np.array_equal(mask[0], _box(48, 64, 0, 0, 8, 8) | _box(48, 64, 50, 40, 54, 44))
    assert np.array_equal(mask[5], _box(48, 64, 10, 5, 18, 13) | _box(48, 64, 50, 40, 54, 44))
    # dilation grows the same boxes; an existing output is refused without --overwrite
    rc = main(["mask", "box", "--like", str(tiny_video), "--rect", "20,20,4,4", "--dilate", "2", "-o", str(out)])
    assert rc == 2 and "--overwrite" in capsys.readouterr().err
    rc = main(["mask", "box", "--like", str(tiny_video), "--rect", "20,20,4,4", "--dilate", "2", "-o", str(out),
               "--overwrite"])  # fmt: skip
    assert rc == 0
    assert load_mask(out, probe(tiny_video))[0].sum() > 16 + 4 * 4 * 2


def test_cli_mask_box_bad_rect_is_one_line(tmp_path, tiny_video, capsys):
    rc = main(["mask", "box", "--like", str(tiny_video), "--rect", "1,2,3", "-o", str(tmp_path / "m.mkv")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "x,y,w,h" in err
