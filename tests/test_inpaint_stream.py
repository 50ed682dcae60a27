"""Streaming inpainting: chunks equal the whole video, reads stay bounded, work stays in the hole's box, resume."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import TINY_INPAINT, moving_pattern
from test_inpaint_pipeline import tiny_config, tiny_tokenizer

from videovq.cli import main
from videovq.inpaint.chunks import plan_chunks, sample_segments, scan_hole
from videovq.inpaint.pipeline import cross_fade, inpaint_frames, inpaint_stream
from videovq.inpaint.sources import ArrayFrames, ArrayMask
from videovq.io.masks import write_mask
from videovq.io.video import probe, read_video, write_video
from videovq.metrics.psnr_ssim import frame_psnr, nan_mean


def moving_hole(t: int, h: int, w: int) -> np.ndarray:
    """A box drifting right by one pixel per frame."""
    hole = np.zeros((t, h, w), bool)
    for i in range(t):
        hole[i, h // 3 : h // 3 + 8, 6 + i // 2 : 18 + i // 2] = True
    return hole


def run(frames, hole, **changes):
    return inpaint_frames(frames, hole, tiny_tokenizer(), tiny_config(**changes), seed=0, log=lambda s: None)


def half_still_clip(t: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """Left third still (a hole there is never seen: the generator or membrane fills it), the rest moving."""
    frames = moving_pattern(t, 32, 48)
    frames[:, :, :16] = frames[0, :, :16]
    hole = np.zeros((t, 32, 48), bool)
    for i in range(t):
        hole[i, 10:14, 20 + i // 2 : 32 + i // 2] = True  # drifting over the moving part: propagation fills it
    hole[:, 20:26, 2:12] = True
    return frames, hole


@pytest.mark.parametrize("generator", [False, True])
def test_chunked_result_equals_the_whole_video_result(generator):
    frames, hole = half_still_clip()
    whole = run(frames, hole, propagate=True, generator=generator, chunk=24)
    chunked = run(frames, hole, propagate=True, generator=generator, chunk=8, chunk_overlap=4)
    assert whole.chunks == 1 and chunked.chunks == 5
    for out in (whole, chunked):
        assert np.array_equal(out.frames[~hole], frames[~hole])
    assert chunked.propagated_fraction == whole.propagated_fraction > 0.4
    psnr_whole = nan_mean(frame_psnr(whole.frames, frames, hole))
    psnr_chunked = nan_mean(frame_psnr(chunked.frames, frames, hole))
    assert abs(psnr_whole - psnr_chunked) <= 0.1, (psnr_whole, psnr_chunked)


@pytest.mark.parametrize("num_frames", [41, 42, 43])
def test_a_last_chunk_placed_close_to_the_one_before_streams(num_frames):
    # 42 frames in chunks of 24 sharing 8 used to end with a chunk that started before the carry boundary of the
    # one before it, and the carried pixels no longer matched the hole (a shape error).
    frames = moving_pattern(num_frames, 24, 64)
    hole = moving_hole(num_frames, 24, 64)
    out = run(frames, hole, propagate=True, generator=False, chunk=24, chunk_overlap=8)
    assert out.chunks == 3
    assert np.array_equal(out.frames[~hole], frames[~hole])


class CountingFrames(ArrayFrames):
    """Records every range read, and when the first output frame was written relative to the reads."""

    def __init__(self, frames):
        super().__init__(frames)
        self.reads: list[tuple[int, int]] = []

    def read(self, start, stop):
        self.reads.append((start, stop))
        return super().read(start, stop)

    def within(self, box):
        cut = CountingFrames(super().within(box).frames)
        cut.reads = self.reads  # one log for the source and its crop
        return cut


def test_frames_are_read_in_small_ranges_and_written_before_the_end():
    frames = moving_pattern(30, 32, 48)
    hole = moving_hole(30, 32, 48)
    source = CountingFrames(frames)
    written: list[tuple[int, int]] = []  # (frames written so far, reads so far)
    total = 0

    def write(block):
        nonlocal total
        total += len(block)
        written.append((total, len(source.reads)))

    config = tiny_config(propagate=True, chunk=8, chunk_overlap=2, fit_frames=8)
    inpaint_stream(source, ArrayMask(hole), tiny_tokenizer(), config, write, log=lambda s: None, progress=False)
    assert total == 30
    assert max(b - a for a, b in source.reads) <= 16  # never the whole video at once
    first_write_reads = written[0][1]
    assert first_write_reads < len(source.reads) / 2  # output leaves as chunks finish, not at the end


def test_sequential_decoders_return_what_random_access_returns(tiny_video, tiny_frames):
    from videovq.inpaint.sources import VideoFrames
    from videovq.io.video import open_video

    with open_video(tiny_video) as reader:
        part = VideoFrames(reader, first=2, num_frames=10, keep=3)
        # fitting segments, chunks stepping back by their overlap, output batches, a jump back (random access)
        for a, b in [(0, 2), (5, 7), (0, 4), (2, 6), (4, 8), (0, 3), (3, 6), (6, 10), (7, 9), (1, 4), (8, 10)]:
            assert np.array_equal(part.read(a, b), tiny_frames[2 + a : 2 + b]), (a, b)
        assert len(part._decoders) <= VideoFrames.MAX_DECODERS


def test_a_source_cut_to_a_box_reads_and_caches_only_the_box(tiny_video, tiny_frames, tmp_path):
    from videovq.inpaint.chunks import Box
    from videovq.inpaint.sources import MaskFile, VideoFrames
    from videovq.io.video import open_video, probe

    box = Box(3, 11, 5, 17)
    with open_video(tiny_video) as reader:
        part = VideoFrames(reader, first=2, num_frames=10, keep=3).within(box)
        assert (part.height, part.width) == (8, 12)
        for a, b in [(0, 4), (2, 6), (6, 10), (1, 3)]:  # sequential, stepping back, random access
            assert np.array_equal(part.read(a, b), tiny_frames[2 + a : 2 + b, 3:11, 5:17]), (a, b)
        cached = [frame for decoder in part._decoders for frame in decoder.cache.values()]
        assert cached and all(frame.shape == (8, 12, 3) and frame.base is None for frame in cached)
        # The same box of the box: coordinates compose.
        inner = part.within(Box(1, 4, 2, 6))
        assert np.array_equal(inner.read(0, 2), tiny_frames[2:4, 4:7, 7:11])

    hole = np.zeros(tiny_frames.shape[:3], bool)
    hole[:, 4:6, 6:9] = True
    mask_path = write_mask(tmp_path / "mask.mkv", hole, 25)
    mask = MaskFile(mask_path, probe(tiny_video), dilate=2)
    assert np.array_equal(mask.within(box).read(0, 5), mask.read(0, 5)[:, 3:11, 5:17])  # dilated, then cut
    assert np.array_equal(mask.within(box).within(Box(1, 4, 2, 6)).read(0, 2), mask.read(0, 2)[:, 4:7, 7:11])
    mask.close()

    # A mask of half the size (--resize-mask): read whole, resized, dilated, then cut, by decoders of the cut's own.
    small = write_mask(tmp_path / "small.mkv", hole[:, ::2, ::2], 25)
    mask = MaskFile(small, probe(tiny_video), resize=True, dilate=1)
    cut = mask.within(box, keep=2)
    assert cut._frames is not mask._frames and cut._frames.keep == 2
    assert np.array_equal(cut.read(0, 5), mask.read(0, 5)[:, 3:11, 5:17])
    mask.close()


def test_fitting_sample_is_bounded_and_spread():
    assert sample_segments(40, 96, 16) == [(0, 40)]
    segments = sample_segments(1000, 64, 16)
    assert len(segments) == 4 and all(b - a == 16 for a, b in segments)
    assert segments[0][0] == 0 and segments[-1][1] == 1000
    assert all(b1 <= a2 for (_, b1), (a2, _) in zip(segments, segments[1:]))


def test_chunks_shrink_to_the_pixel_budget():
    assert max(c.size for c in plan_chunks(88, 48, 8, box_pixels=1000, max_pixels=None)) == 48
    assert max(c.size for c in plan_chunks(88, 48, 8, box_pixels=1000, max_pixels=20_000)) == 20
    assert max(c.size for c in plan_chunks(88, 48, 8, box_pixels=1000, max_pixels=100)) == 17  # >= 2 x overlap + 1


@pytest.mark.parametrize("size, overlap", [(24, 8), (33, 16), (48, 16), (96, 16), (5, 4), (1, 0)])
def test_chunks_cover_every_frame_and_no_frame_is_in_three(size, overlap):
    for num_frames in range(1, 240):
        chunks = plan_chunks(num_frames, size, overlap, box_pixels=1, max_pixels=None)
        assert chunks[0].start == 0 and chunks[-1].stop == num_frames
        assert all(c.size <= size for c in chunks)
        inside = np.zeros(num_frames, int)
        for c in chunks:
            inside[c.start : c.stop] += 1
        assert inside.min() == 1 and inside.max() <= 2
        for a, b in zip(chunks, chunks[1:]):  # the shared frames and the carry boundary between them
            assert a.stop - b.start == min(overlap, (size - 1) // 2)
            assert b.start <= b.own_start == a.own_stop <= a.stop


def test_cross_fade_spreads_the_change_evenly_over_the_shared_frames():
    counts = np.array([2, 0, 3, 1])  # hole pixels per frame; a frame may have none
    before = np.zeros((6, 3), np.uint8)
    after = np.full((6 + 5, 3), 250, np.uint8)  # the next chunk's fill, then frames only it has
    out = cross_fade(before, after, counts)
    frame = np.repeat(np.arange(4), counts)
    expected = np.round(250 * (frame + 1) / 5)  # 1/5, 2/5 ... of the way: five equal steps over four frames
    assert np.array_equal(out[:6, 0], expected)
    assert np.array_equal(out[6:], after[6:])


def test_pixels_far_from_the_hole_do_not_change_the_fill():
    frames = moving_pattern(8, 64, 160)
    hole = np.zeros((8, 64, 160), bool)
    hole[:, 20:30, 10:24] = True  # a small static logo at the left
    config = dict(propagate=True, generator=False, crop_margin=16)
    scan = scan_hole(ArrayMask(hole))
    assert tuple(scan.box(0, 8)) == (20, 30, 10, 24)
    other = frames.copy()
    other[:, :, 60:] = 255 - other[:, :, 60:]  # beyond the box plus its margin
    a, b = run(frames, hole, **config), run(other, hole, **config)
    assert np.array_equal(a.frames[hole], b.frames[hole])
    assert np.array_equal(b.frames[~hole], other[~hole])


def test_empty_hole_streams_the_input_through():
    frames = moving_pattern(5, 16, 16)
    out = run(frames, np.zeros((5, 16, 16), bool))
    assert np.array_equal(out.frames, frames) and out.chunks == 0


# -- the command line: resume mid-stream, --start/--end ----------------------------------------------------------
STREAM = [*TINY_INPAINT, "chunk=6", "chunk_overlap=2", "fit_frames=12", "window=4", "overlap=1"]


def stream_args(video, mask, out, tokenizer, *extra):
    settings = [x for item in STREAM for x in ("--set", item)]
    return ["inpaint", str(video), "--mask", str(mask), "-o", str(out), "--tokenizer", str(tokenizer), "--threads", "1",
            *settings, *extra]  # fmt: skip


@pytest.fixture
def long_clip(tmp_path):
    frames = moving_pattern(48, 32, 48)
    hole = moving_hole(48, 32, 48)
    hole[:, 2:10, 30:40] = True  # and a static box that propagation cannot fill from the moving pattern's edge
    video = write_video(tmp_path / "clip.mkv", frames, 25)
    return video, write_mask(tmp_path / "mask.mkv", hole, 25), frames, hole


def test_resume_mid_stream_after_sigkill_gives_the_uninterrupted_result(tmp_path, long_clip, tiny_tokenizer_dir):
    video, mask, _, _ = long_clip
    straight = tmp_path / "straight.mkv"
    assert main(stream_args(video, mask, straight, tiny_tokenizer_dir, "--workdir", str(tmp_path / "w1"))) == 0
    chunks = sorted(p.name for p in (tmp_path / "w1").glob("chunk-*.npz"))
    assert len(chunks) >= 8

    work, killed = tmp_path / "w2", tmp_path / "killed.mkv"
    cmd = [sys.executable, "-m", "videovq", *stream_args(video, mask, killed, tiny_tokenizer_dir, "--workdir", str(work))]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300  # a guard against a hang only: a loaded machine takes long to start the job
    while not (work / "chunk-00002.npz").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (work / "chunk-00002.npz").exists()
    assert not (work / chunks[-1]).exists(), "the job finished before it could be killed; make it longer"
    assert not killed.exists()
    args = stream_args(video, mask, killed, tiny_tokenizer_dir, "--workdir", str(work), "--resume")
    assert main(args) == 0
    assert np.array_equal(read_video(killed), read_video(straight))


def test_resume_computes_with_the_thread_count_the_job_started_with(tmp_path, long_clip, tiny_tokenizer_dir, capsys):
    video, mask, _, _ = long_clip
    work, first = tmp_path / "work", tmp_path / "first.mkv"
    assert main(stream_args(video, mask, first, tiny_tokenizer_dir, "--workdir", str(work), "--threads", "2")) == 0
    for chunk in sorted(work.glob("chunk-*.npz"))[-3:]:  # as if killed three chunks before the end
        chunk.unlink()
    capsys.readouterr()
    resumed = tmp_path / "resumed.mkv"
    args = stream_args(video, mask, resumed, tiny_tokenizer_dir, "--workdir", str(work), "--resume", "--threads", "1")
    assert main(args) == 0
    assert "resuming with 2 compute threads" in capsys.readouterr().out
    assert np.array_equal(read_video(resumed), read_video(first))


def test_start_and_end_select_a_part(tmp_path, long_clip, tiny_tokenizer_dir, capsys):
    video, mask, frames, hole = long_clip
    out = tmp_path / "part.mkv"
    assert main(stream_args(video, mask, out, tiny_tokenizer_dir, "--start", "0.2s", "--end", "30")) == 0
    assert probe(out).num_frames == 25  # frames 5 (0.2 s at 25 fps) to 29
    part = read_video(out)
    assert np.array_equal(part[~hole[5:30]], frames[5:30][~hole[5:30]])
    capsys.readouterr()
    rc = main(stream_args(video, mask, tmp_path / "bad.mkv", tiny_tokenizer_dir, "--start", "40", "--end", "12"))
    assert rc == 2 and "--start 40" in capsys.readouterr().err
    rc = main(stream_args(video, mask, tmp_path / "bad.mkv", tiny_tokenizer_dir, "--start", "soon"))
    assert rc == 2 and "--start soon" in capsys.readouterr().err


def test_a_part_keeps_its_own_sound_and_starts_at_zero(tmp_path, tiny_tokenizer_dir):
    import av

    from conftest import write_clip_with_audio

    frames, hole = moving_pattern(48, 32, 48), moving_hole(48, 32, 48)
    video = write_clip_with_audio(tmp_path / "clip.mp4", frames, fps=25)
    mask = write_mask(tmp_path / "mask.mkv", hole, 25)
    out = tmp_path / "part.mkv"
    assert main(stream_args(video, mask, out, tiny_tokenizer_dir, "--start", "10", "--end", "30")) == 0

    def audio_seconds(path):
        with av.open(str(path)) as c:
            stream = c.streams.audio[0]
            times = [(float(p.pts * stream.time_base), float(p.duration * stream.time_base))
                     for p in c.demux(stream) if p.dts is not None]  # fmt: skip
        with av.open(str(path)) as c:
            first_video = next(c.decode(video=0)).time
        return times, first_video

    times, first_video = audio_seconds(out)
    source, _ = audio_seconds(video)
    assert probe(out).num_frames == 20 and first_video == 0
    # The sound of frames 10-29 (0.4 s to 1.2 s of the source), moved to start with the part's first frame.
    assert abs(times[0][0]) < 0.03 and abs(times[-1][0] + times[-1][1] - 0.8) < 0.05
    kept = [s for s in source if 0.4 <= s[0] < 1.2]
    assert len(times) == len(kept)
