"""The command line: every bad input gives one line on stderr naming the file and a fix, exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import TINY_INPAINT, moving_pattern
from videovq.cli import main
from videovq.io.masks import load_mask, write_mask
from videovq.io.video import probe, read_video, write_video


def run_cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def assert_one_line_error(rc, err, *needles):
    assert rc == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("videovq: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def clip(tmp_path):
    video = write_video(tmp_path / "clip.mkv", moving_pattern(6, 48, 64), 25)
    mask = np.zeros((6, 48, 64), bool)
    mask[:, 10:30, 20:40] = True
    return video, write_mask(tmp_path / "mask.mkv", mask, 25)


def test_help_lists_options_with_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    out = capsys.readouterr().out
    assert "--out-dir" in out and "(default: videovq-demo)" in out and "--seed" in out


def test_module_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "videovq", "--help"], capture_output=True, text=True, check=True)
    for command in ("demo", "info", "mask", "preview"):
        assert command in out.stdout


def test_preview_writes_video_with_source_fps(capsys, tmp_path, clip):
    video, mask = clip
    rc, out, err = run_cli(capsys, "preview", video, "--mask", mask, "-o", tmp_path / "p.mp4", "--dilate", "2")
    assert rc == 0, err
    info = probe(tmp_path / "p.mp4")
    assert (info.num_frames, info.width, info.height, info.fps) == (6, 64, 48, 25)


def test_missing_file(capsys, tmp_path, clip):
    _, mask = clip
    rc, _, err = run_cli(capsys, "preview", tmp_path / "nope.mp4", "--mask", mask, "-o", tmp_path / "o.mp4")
    assert_one_line_error(rc, err, "nope.mp4", "no such file")


def test_corrupt_video(capsys, tmp_path, clip):
    _, mask = clip
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(os.urandom(4096))
    rc, _, err = run_cli(capsys, "preview", bad, "--mask", mask, "-o", tmp_path / "o.mp4")
    assert_one_line_error(rc, err, "bad.mp4", "corrupt")


def test_truncated_video(capsys, tmp_path, clip, sample_video):
    _, mask = clip
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(sample_video.read_bytes()[:200_000])
    rc, _, err = run_cli(capsys, "info", cut)
    assert_one_line_error(rc, err, "cut.mp4", "truncated")


def test_zero_frame_video(capsys, tmp_path):
    import av

    empty = tmp_path / "empty.mkv"
    with av.open(str(empty), "w") as c:
        s = c.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = 32, 32, "bgr0"
        c.start_encoding()
    rc, _, err = run_cli(capsys, "info", empty)
    assert_one_line_error(rc, err, "empty.mkv")


def test_mask_size_mismatch_and_resize(capsys, tmp_path, clip):
    video, _ = clip
    small = write_mask(tmp_path / "small.mkv", np.ones((6, 24, 32), bool), 25)
    rc, _, err = run_cli(capsys, "preview", video, "--mask", small, "-o", tmp_path / "o.mp4")
    assert_one_line_error(rc, err, "small.mkv", "32x24", "64x48", "--resize-mask")
    rc, _, err = run_cli(capsys, "preview", video, "--mask", small, "-o", tmp_path / "o.mp4", "--resize-mask")
    assert rc == 0, err


def test_mask_frame_count_mismatch(capsys, tmp_path, clip):
    video, _ = clip
    short = write_mask(tmp_path / "short.mkv", np.ones((4, 48, 64), bool), 25)
    rc, _, err = run_cli(capsys, "preview", video, "--mask", short, "-o", tmp_path / "o.mp4")
    assert_one_line_error(rc, err, "short.mkv", "4 frames", "6")


def test_unwritable_output_folder(capsys, tmp_path, clip):
    video, mask = clip
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    rc, _, err = run_cli(capsys, "preview", video, "--mask", mask, "-o", blocker / "o.mp4")
    assert_one_line_error(rc, err, "o.mp4")
    rc, _, err = run_cli(capsys, "preview", video, "--mask", mask, "-o", "/proc/o.mp4")
    assert_one_line_error(rc, err, "/proc", "cannot write")


def test_existing_output_needs_overwrite(capsys, tmp_path, clip):
    video, mask = clip
    out = tmp_path / "o.mp4"
    out.write_bytes(b"precious")
    rc, _, err = run_cli(capsys, "preview", video, "--mask", mask, "-o", out)
    assert_one_line_error(rc, err, "o.mp4", "--overwrite")
    assert out.read_bytes() == b"precious"
    rc, _, err = run_cli(capsys, "preview", video, "--mask", mask, "-o", out, "--overwrite")
    assert rc == 0 and probe(out).num_frames == 6


def test_output_equal_to_input_is_refused(capsys, clip):
    video, mask = clip
    before = video.read_bytes()
    rc, _, err = run_cli(capsys, "preview", video, "--mask", mask, "-o", video, "--overwrite")
    assert_one_line_error(rc, err, "clip.mkv", "input")
    assert video.read_bytes() == before


@pytest.mark.parametrize("frames, height, width", [(1, 48, 64), (3, 241, 433)])
def test_one_frame_and_odd_sizes(capsys, tmp_path, frames, height, width):
    video = write_video(tmp_path / "v.mp4", moving_pattern(frames, height, width), 25, crf=0)
    rc, _, err = run_cli(capsys, "mask", "make", "--kind", "blobs", "--like", video, "-o", tmp_path / "m.mkv")
    assert rc == 0, err
    rc, _, err = run_cli(capsys, "preview", video, "--mask", tmp_path / "m.mkv", "-o", tmp_path / "p.mp4")
    assert rc == 0, err
    assert read_video(tmp_path / "p.mp4").shape == (frames, height, width, 3)


def test_mask_make_is_deterministic(capsys, tmp_path, clip):
    video, _ = clip
    for name in ("a.mkv", "b.mkv"):
        rc, _, err = run_cli(capsys, "mask", "make", "--kind", "strokes", "--like", video, "--seed", 7, "-o", tmp_path / name)
        assert rc == 0, err
    info = probe(video)
    assert np.array_equal(load_mask(tmp_path / "a.mkv", info), load_mask(tmp_path / "b.mkv", info))


def test_debug_shows_the_traceback(tmp_path):
    from videovq.errors import InputError

    with pytest.raises(InputError):
        main(["--debug", "info", str(tmp_path / "nope.mp4")])


def test_demo_writes_its_outputs(capsys, tmp_path, tiny_tokenizer_dir):
    tiny = [x for item in TINY_INPAINT for x in ("--set", item)]
    rc, out, err = run_cli(capsys, "demo", "--out-dir", tmp_path / "demo", "--tokenizer", tiny_tokenizer_dir, *tiny)
    assert rc == 0, err
    names = sorted(p.name for p in (tmp_path / "demo").iterdir())
    assert names == ["contact_sheet.png", "mask.mkv", "result.mp4", "side_by_side.mp4"]
    assert probe(tmp_path / "demo" / "side_by_side.mp4").num_frames == 66
    assert "in-hole PSNR" in out
    rc, _, err = run_cli(capsys, "demo", "--out-dir", tmp_path / "demo")
    assert_one_line_error(rc, err, "--overwrite")
