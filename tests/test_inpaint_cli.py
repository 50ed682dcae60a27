"""`videovq inpaint` from the command line: outputs, resume after SIGKILL, input errors."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import TINY_INPAINT, moving_pattern, write_clip_with_audio
from videovq.cli import main
from videovq.io.masks import write_mask
from videovq.io.video import probe, read_video, write_video


@pytest.fixture
def static_clip(tmp_path):
    """A still scene (nothing for propagation to borrow) with a static hole: the generator must fill it."""
    frame = moving_pattern(1, 48, 64)[0]
    video = write_video(tmp_path / "clip.mkv", np.repeat(frame[None], 12, axis=0), 25)
    hole = np.zeros((12, 48, 64), bool)
    hole[:, 12:30, 20:44] = True
    return video, write_mask(tmp_path / "mask.mkv", hole, 25), hole


def inpaint_args(video, mask, out, tokenizer, *extra):
    tiny = [x for item in TINY_INPAINT for x in ("--set", item)]
    # One thread: float sums differ between thread counts, and runs compared bit for bit must use the same count.
    return ["inpaint", str(video), "--mask", str(mask), "-o", str(out), "--tokenizer", str(tokenizer), "--threads", "1",
            *tiny, *extra]  # fmt: skip


def test_inpaint_keeps_known_pixels_fps_and_audio(tmp_path, tiny_tokenizer_dir, capsys):
    frames = moving_pattern(10, 48, 64)
    video = write_clip_with_audio(tmp_path / "av.mp4", frames, fps=25)
    hole = np.zeros((10, 48, 64), bool)
    hole[:, 10:20, 10:30] = True
    mask = write_mask(tmp_path / "m.mkv", hole, 25)
    out = tmp_path / "out.mkv"
    rc = main(inpaint_args(video, mask, out, tiny_tokenizer_dir, "--side-by-side", str(tmp_path / "sbs.mp4")))
    assert rc == 0, capsys.readouterr().err
    info = probe(out)
    assert info.has_audio and info.fps == 25 and info.num_frames == 10
    assert np.array_equal(read_video(out)[~hole], read_video(video)[~hole])
    assert probe(tmp_path / "sbs.mp4").width > 64
    assert not any(p.name.startswith(".out.mkv.work") for p in tmp_path.iterdir())  # the work folder is cleaned up


def test_resume_after_sigkill_gives_the_uninterrupted_result(tmp_path, static_clip, tiny_tokenizer_dir):
    video, mask, hole = static_clip
    straight = tmp_path / "straight.mkv"
    assert main(inpaint_args(video, mask, straight, tiny_tokenizer_dir, "--workdir", str(tmp_path / "w1"))) == 0

    work = tmp_path / "w2"
    killed = tmp_path / "killed.mkv"
    cmd = [sys.executable, "-m", "videovq", *inpaint_args(video, mask, killed, tiny_tokenizer_dir, "--workdir", str(work))]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300  # a guard against a hang only: a loaded machine takes long to start the job
    while not (work / "tokenizer.safetensors").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (work / "tokenizer.safetensors").exists()
    assert not killed.exists()
    args = inpaint_args(video, mask, killed, tiny_tokenizer_dir, "--workdir", str(work), "--resume")
    assert main(args) == 0
    assert np.array_equal(read_video(killed), read_video(straight))


def test_resume_with_other_settings_is_refused(tmp_path, static_clip, tiny_tokenizer_dir, capsys):
    video, mask, _ = static_clip
    work = str(tmp_path / "w")
    assert main(inpaint_args(video, mask, tmp_path / "a.mkv", tiny_tokenizer_dir, "--workdir", work)) == 0
    capsys.readouterr()
    rc = main(inpaint_args(video, mask, tmp_path / "b.mkv", tiny_tokenizer_dir, "--workdir", work, "--resume", "--seed", "3"))
    assert rc == 2 and "other inputs or settings" in capsys.readouterr().err


def test_mask_mismatch_is_reported_before_any_work(tmp_path, static_clip, tiny_tokenizer_dir, capsys):
    video, _, _ = static_clip
    short = write_mask(tmp_path / "short.mkv", np.ones((3, 48, 64), bool), 25)
    rc = main(inpaint_args(video, short, tmp_path / "o.mkv", tiny_tokenizer_dir))
    err = capsys.readouterr().err
    assert rc == 2 and "short.mkv" in err and "3 frames" in err
    assert not (tmp_path / "o.mkv").exists()
