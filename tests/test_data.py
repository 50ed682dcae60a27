"""Training data: procedural video and the clip sampler (determinism, shapes, frame ranges, bad input)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from videovq.data import sample_video_path
from videovq.data.clips import (
    ClipSampler,
    ImageSource,
    ProceduralSource,
    VideoSource,
    build_sources,
    hold_out_range,
    sample_batch,
)
from videovq.data.prefetch import BatchStream
from videovq.data.procedural import procedural_clip, procedural_scene
from videovq.errors import InputError
from videovq.io.video import write_video


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


# -- procedural video -----------------------------------------------------------------------------------------------
def test_procedural_shape_dtype_and_determinism():
    a = procedural_clip(12, 48, 80, seed=7)
    assert a.shape == (12, 48, 80, 3) and a.dtype == np.uint8
    assert np.array_equal(a, procedural_clip(12, 48, 80, seed=7))
    assert np.array_equal(a, procedural_clip(12, 48, 80, seed=np.random.default_rng(7)))
    assert not np.array_equal(a, procedural_clip(12, 48, 80, seed=8))


def test_procedural_is_varied_coherent_and_moving():
    clips = [procedural_clip(16, 64, 64, seed=s, static_prob=0.0) for s in range(6)]
    consecutive = np.mean([_mad(c[t], c[t + 1]) for c in clips for t in range(15)])
    across = np.mean([_mad(clips[i][0], clips[j][0]) for i in range(6) for j in range(i + 1, 6)])
    assert consecutive < 6.0, consecutive  # smooth motion: a few grey levels per frame on average (~3)
    assert consecutive < 0.15 * across, (consecutive, across)
    for c in clips:
        assert c.reshape(16, -1, 3).std(axis=1).mean() > 8  # not flat
        assert _mad(c[0], c[-1]) > 1.0  # something moves
        assert np.abs(np.diff(c.astype(np.int16), axis=0)).max() > 0


def test_procedural_scene_ground_truth():
    options = {"num_objects": 3, "shadows": 1.0, "illumination": True}
    scene = procedural_scene(10, 40, 56, seed=3, **options)
    assert np.array_equal(scene.frames, procedural_clip(10, 40, 56, seed=3, **options))
    assert scene.background.shape == scene.frames.shape
    assert scene.object_masks.shape == (10, 3, 40, 56) and scene.object_masks.dtype == bool
    union = scene.object_masks.any(axis=1)
    assert union.any()
    assert np.array_equal(scene.frames[~union], scene.background[~union])
    assert not np.array_equal(scene.frames[union], scene.background[union])
    empty = procedural_scene(4, 32, 32, seed=1, num_objects=0)
    assert np.array_equal(empty.frames, empty.background)


def test_procedural_options_and_bad_input():
    clip = procedural_clip(4, 32, 32, seed=[5, 1], num_objects=(0, 2), grain=0.01)
    assert clip.shape == (4, 32, 32, 3) and clip.dtype == np.uint8
    assert not np.array_equal(clip, procedural_clip(4, 32, 32, seed=[5, 1], num_objects=(0, 2), grain=0.2))
    with pytest.raises(InputError, match="unknown procedural video option"):
        procedural_clip(4, 32, 32, colour="red")
    with pytest.raises(InputError, match="H >= 8"):
        procedural_clip(4, 4, 32)
    with pytest.raises(InputError, match="num_objects"):
        procedural_clip(4, 32, 32, num_objects=(3, 1))


# -- clip sampler ---------------------------------------------------------------------------------------------------
@pytest.fixture
def index_video(tmp_path):
    """30 lossless 64x40 frames; frame i is filled with the value 8 * i.

    (64 wide: decord 0.6 fails on some narrower videos, e.g. 48 px, whatever the codec.)
    """
    frames = np.repeat((np.arange(30, dtype=np.uint8) * 8)[:, None, None, None], 40 * 64 * 3, axis=1)
    return write_video(tmp_path / "index.mkv", frames.reshape(30, 40, 64, 3), 25)


def _frame_indices(clip: torch.Tensor) -> np.ndarray:
    """Frame index per time step of a clip from `index_video` (every pixel of a frame must agree)."""
    values = np.round((clip.numpy() + 1.0) * 127.5)  # (3, T, H, W)
    per_frame = values.reshape(3, clip.shape[1], -1).transpose(1, 0, 2).reshape(clip.shape[1], -1)
    assert (per_frame == per_frame[:, :1]).all(), "a frame mixes pixels of different source frames"
    assert (per_frame[:, 0] % 8 == 0).all()
    return (per_frame[:, 0] // 8).astype(int)


def test_sampler_shapes_range_and_determinism():
    sampler = ClipSampler([str(sample_video_path()), "procedural"], clip_len=6, size=(24, 40))
    a = sampler.sample(np.random.default_rng([1, 2, 0]))
    assert a.shape == (3, 6, 24, 40) and a.dtype == torch.float32
    assert a.min() >= -1 and a.max() <= 1
    assert torch.equal(a, sampler.sample(np.random.default_rng([1, 2, 0])))
    assert not torch.equal(a, sampler.sample(np.random.default_rng([1, 3, 0])))
    batch = sample_batch(sampler, np.random.default_rng(4), 3)
    assert batch.shape == (3, 3, 6, 24, 40)
    assert torch.equal(batch, sample_batch(sampler, np.random.default_rng(4), 3))


def test_batches_drawn_ahead_by_workers_equal_those_drawn_in_the_loop():
    sampler = ClipSampler([str(sample_video_path()), "procedural"], clip_len=2, size=16)
    seeds = [[0, step, 0, 0] for step in range(5)]
    stream = BatchStream(sampler, 3, workers=2, seeds=seeds)
    try:
        for seed in seeds[:4]:
            rng, expected_rng = np.random.default_rng(seed), np.random.default_rng(seed)
            expected = sample_batch(sampler, expected_rng, 3)
            assert torch.equal(stream.batch(rng), expected)
            assert rng.integers(2**62) == expected_rng.integers(2**62)  # the RNG goes on where drawing left it
        with pytest.raises(RuntimeError, match="out of order"):
            stream.batch(np.random.default_rng(seeds[0]))
    finally:
        stream.close()


def test_frame_range_and_strides_respected(index_video):
    sampler = ClipSampler([VideoSource(index_video, frame_range=(5, 20))], clip_len=4, size=16)
    strides, used = set(), set()
    for k in range(40):
        idx = _frame_indices(sampler.sample(np.random.default_rng(k)))
        assert idx.min() >= 5 and idx.max() < 20, idx
        steps = np.diff(idx)
        assert (steps == steps[0]).all() and steps[0] in (1, 2), idx
        strides.add(int(steps[0]))
        used.update(idx.tolist())
    assert strides == {1, 2}
    assert min(used) == 5 and max(used) == 19  # the whole allowed range is reachable

    assert hold_out_range(30, 10) == (0, 20)
    (held,) = build_sources([str(index_video)], held_out=10)
    assert held.frame_range == (0, 20)
    sampler = ClipSampler([held], clip_len=8, size=16, strides=(1,))
    for k in range(10):
        idx = _frame_indices(sampler.sample(np.random.default_rng(k)))
        assert idx.max() < 20 and (np.diff(idx) == 1).all()


def test_short_videos_and_bad_ranges_are_refused(index_video):
    with pytest.raises(InputError, match=r"30 usable frames.*clip_len=31"):
        ClipSampler([str(index_video)], clip_len=31, size=16)
    with pytest.raises(InputError, match=r"15 usable frames \(frames 5-19 of 30\).*clip_len=16"):
        ClipSampler([VideoSource(index_video, frame_range=(5, 20))], clip_len=16, size=16)
    # stride 2 needs 2 * (T - 1) + 1 frames; with fewer only stride 1 is used, not refused
    sampler = ClipSampler([VideoSource(index_video, frame_range=(0, 10))], clip_len=8, size=16)
    assert all((np.diff(_frame_indices(sampler.sample(np.random.default_rng(k)))) == 1).all() for k in range(5))
    with pytest.raises(InputError, match="frame_range"):
        VideoSource(index_video, frame_range=(10, 31))
    with pytest.raises(InputError, match="held_out"):
        hold_out_range(30, 30)


def test_image_sources_pan_smoothly(tmp_path):
    folder = tmp_path / "stills"
    (folder / "sub").mkdir(parents=True)
    for i, (h, w) in enumerate([(120, 180), (90, 70)]):
        frame = procedural_clip(1, h, w, seed=20 + i)[0]
        Image.fromarray(frame).save(folder / ("sub" if i else ".") / f"still{i}.png")
    (folder / "notes.txt").write_text("not an image")
    source = ImageSource.from_folder(folder)
    assert len(source.paths) == 2
    single = build_sources([str(folder / "still0.png")])[0]
    assert isinstance(single, ImageSource)
    for sampler in (ClipSampler([f"images:{folder}"], clip_len=10, size=32), ClipSampler([single], 10, (24, 40))):
        clips = [sampler.sample_frames(np.random.default_rng(k)) for k in range(8)]
        assert clips[0].shape[0] == 10 and clips[0].dtype == np.uint8
        consecutive = np.mean([_mad(c[t], c[t + 1]) for c in clips for t in range(9)])
        across = np.mean([_mad(clips[i][0], clips[i + 1][0]) for i in range(7)])
        assert consecutive < 0.2 * across, (consecutive, across)
        assert any(_mad(c[0], c[-1]) > 0.5 for c in clips)  # the camera does move
        assert np.array_equal(clips[3], sampler.sample_frames(np.random.default_rng(3)))


def test_bad_sources_are_refused(tmp_path):
    with pytest.raises(InputError, match="missing.mp4: no such file"):
        build_sources([str(tmp_path / "missing.mp4")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no images"):
        build_sources([f"images:{tmp_path / 'empty'}"])
    with pytest.raises(InputError, match="no such folder"):
        build_sources([f"images:{tmp_path / 'nope'}"])
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video")
    with pytest.raises(InputError, match="junk.mp4"):
        build_sources([str(junk)])
    bad_png = tmp_path / "bad.png"
    bad_png.write_bytes(b"not a png")
    with pytest.raises(InputError, match="bad.png"):
        ClipSampler([str(bad_png)], clip_len=4, size=16)
    with pytest.raises(InputError, match="procedural_weight"):
        build_sources([], procedural_weight=1.5)
    with pytest.raises(InputError, match="no training sources"):
        build_sources([])
    with pytest.raises(InputError, match="unknown procedural video option"):
        ProceduralSource(speed=3)


def test_weights_and_procedural_share(index_video):
    only = build_sources([str(index_video)], procedural_weight=1.0)
    assert len(only) == 1 and isinstance(only[0], ProceduralSource)
    mixed = build_sources([str(index_video), str(index_video)], procedural_weight=0.25)
    assert isinstance(mixed[-1], ProceduralSource)
    assert mixed[-1].weight / sum(s.weight for s in mixed) == pytest.approx(0.25)
    # weight 0 on the procedural source: every clip comes from the index video
    sampler = ClipSampler([str(index_video), "procedural"], clip_len=3, size=16, weights=[1.0, 0.0])
    for k in range(5):
        _frame_indices(sampler.sample(np.random.default_rng(k)))


