"""Video reading/writing: exact round trips, streaming == random access, fps and audio kept, atomic writes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image

from conftest import moving_pattern, write_clip_with_audio
from videovq.errors import InputError
from videovq.io.video import VideoWriter, decord_available, open_video, probe, read_video, write_video


def test_probe_sample(sample_video):
    info = probe(sample_video)
    assert (info.num_frames, info.width, info.height, info.fps, info.has_audio) == (66, 432, 240, 25, False)


def test_streaming_and_random_access_agree(sample_video):
    with open_video(sample_video, backend="pyav") as reader:
        streamed = np.stack(list(reader))
        assert streamed.shape == (66, 240, 432, 3)
        assert np.array_equal(reader.read(20, 37), streamed[20:37])
        assert np.array_equal(reader.read(60, 66), streamed[60:66])
        picks = [65, 3, 3, 40, 0]
        assert np.array_equal(reader.read_indices(picks), streamed[picks])
        chunks = list(reader.chunks(16))
        assert [len(c) for c in chunks] == [16, 16, 16, 16, 2]
        assert np.array_equal(np.concatenate(chunks), streamed)


@pytest.mark.skipif(not decord_available(), reason="decord extra not installed")
def test_decord_gives_the_same_pixels_as_pyav(sample_video):
    with open_video(sample_video, backend="pyav") as a, open_video(sample_video, backend="decord") as b:
        assert b.backend == "decord"
        assert np.array_equal(a.read(0, 66), b.read(0, 66))
        assert np.array_equal(a.read_indices([50, 7, 7]), b.read_indices([50, 7, 7]))


@pytest.mark.parametrize("name, options", [("v.mkv", {}), ("v.mp4", {"lossless": True}), ("frames", {})])
def test_lossless_round_trip_is_bit_exact(tmp_path, name, options):
    frames = moving_pattern(9, 40, 56)
    out = write_video(tmp_path / name, frames, 25, **options)
    assert np.array_equal(read_video(out), frames)


def test_lossy_quality_is_settable(tmp_path):
    frames = moving_pattern(8, 64, 64)
    err = {}
    for crf in (0, 40):
        out = write_video(tmp_path / f"q{crf}.mp4", frames, 25, crf=crf)
        err[crf] = np.abs(read_video(out).astype(int) - frames).mean()
    assert err[0] < err[40]


def test_fps_is_kept(tmp_path):
    out = write_video(tmp_path / "ntsc.mkv", moving_pattern(5), Fraction(30000, 1001))
    assert probe(out).fps == Fraction(30000, 1001)


def test_audio_is_copied_unchanged(tmp_path):
    src = write_clip_with_audio(tmp_path / "src.mp4", moving_pattern(25, 48, 64), fps=25)
    assert probe(src).has_audio
    out = tmp_path / "out.mp4"
    with open_video(src) as reader, VideoWriter(out, reader.info.fps, audio_from=src) as writer:
        for chunk in reader.chunks(8):
            writer.write(255 - chunk)
    info = probe(out)
    assert info.has_audio and info.fps == 25 and info.num_frames == 25

    def audio_payload(path):
        with av.open(str(path)) as c:
            return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]

    assert audio_payload(out) == audio_payload(src)


def test_frame_folder_natural_order_and_jpg(tmp_path):
    frames = moving_pattern(11, 24, 32)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"frame{i}.png")  # frame10 must come after frame9
    assert np.array_equal(read_video(folder), frames)
    jpgs = tmp_path / "jpgs"
    jpgs.mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f).save(jpgs / f"{i:03d}.jpg")
    assert read_video(jpgs).shape == frames.shape


def test_odd_size_and_single_frame(tmp_path):
    odd = moving_pattern(3, 241, 433)
    out = write_video(tmp_path / "odd.mp4", odd, 25, crf=0)
    info = probe(out)
    assert (info.width, info.height, info.num_frames) == (433, 241, 3)
    one = write_video(tmp_path / "one.mp4", odd[:1], 25)
    assert read_video(one).shape == (1, 241, 433, 3)


def test_existing_output_and_output_equal_input(tmp_path, tiny_video):
    frames = read_video(tiny_video)
    with pytest.raises(InputError, match="--overwrite"):
        write_video(tiny_video, frames, 25)
    with pytest.raises(InputError, match="is the input"):
        write_video(tiny_video, frames, 25, overwrite=True, inputs=[tiny_video])
    assert np.array_equal(read_video(tiny_video), frames)  # the input survived


def test_error_while_writing_leaves_old_output(tmp_path):
    target = tmp_path / "out.mkv"
    old = write_video(target, moving_pattern(4), 25)
    before = target.read_bytes()
    with pytest.raises(RuntimeError):
        with VideoWriter(old, 25, overwrite=True) as writer:
            writer.write(moving_pattern(4)[::-1])
            raise RuntimeError("boom")
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mkv"]


@pytest.mark.parametrize("existing", [True, False])
def test_sigkill_mid_write_leaves_old_output_or_nothing(tmp_path, existing):
    target = tmp_path / "out.mp4"
    if existing:
        write_video(target, moving_pattern(4), 25)
    before = target.read_bytes() if existing else None
    script = textwrap.dedent(
        f"""
        import sys, time
        import numpy as np
        from videovq.io.video import VideoWriter
        frame = np.full((64, 64, 3), 128, np.uint8)
        with VideoWriter({str(target)!r}, 25, overwrite=True) as w:
            for i in range(100000):
                w.write(frame)
                if i == 20:
                    print("writing", flush=True)
                time.sleep(0.001)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env={**os.environ})
    assert proc.stdout.readline().strip() == b"writing"
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if existing:
        assert target.read_bytes() == before
    else:
        assert not target.exists()
    # Whatever was left is a hidden partial sibling, never at the target path.
    assert all(p.name.startswith(".out.partial-") for p in tmp_path.iterdir() if p != target)


def test_corrupt_truncated_and_empty_videos(tmp_path, sample_video):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(os.urandom(2000))
    with pytest.raises(InputError, match="garbage.mp4.*corrupt"):
        probe(garbage)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(sample_video.read_bytes()[:300_000])  # moov atom is at the end: unreadable
    with pytest.raises(InputError, match="cut.mp4"):
        probe(cut)
    empty = tmp_path / "empty.mkv"
    with av.open(str(empty), "w") as c:
        s = c.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = 32, 32, "bgr0"
        c.start_encoding()
    with pytest.raises(InputError, match="empty.mkv"):
        probe(empty)
    with pytest.raises(InputError, match="no such file"):
        probe(tmp_path / "missing.mp4")


def test_truncated_faststart_file_is_reported(tmp_path):
    src = tmp_path / "fs.mp4"
    frames = moving_pattern(30, 48, 64)
    with av.open(str(src), "w", options={"movflags": "faststart"}) as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    data = src.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="header lists 30 frames"):
        probe(cut)
