"""Shared fixtures: tiny synthetic videos written by the tests themselves."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from videovq.data import sample_video_path


@pytest.fixture(autouse=True)
def _keep_thread_counts():
    """Restore torch's and OpenCV's thread counts after each test.

    In-process CLI calls (`inpaint`, `demo`) set them from the machine's load; a later test that compares an
    in-process run with a child process would then compute with another thread count and differ in the last bits.
    """
    import cv2
    import torch

    torch_threads, cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
    yield
    torch.set_num_threads(torch_threads)
    cv2.setNumThreads(cv2_threads)


def moving_pattern(num_frames: int = 12, height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    """A textured scene translating one pixel per frame: uint8 (T, H, W, 3)."""
    rng = np.random.default_rng(seed)
    big = rng.integers(0, 256, size=(height + num_frames, width + num_frames, 3), dtype=np.uint8)
    return np.stack([big[t : t + height, t : t + width] for t in range(num_frames)])


def clip_with_logo(num_frames: int = 12, height: int = 48, width: int = 64) -> tuple[np.ndarray, tuple[int, ...]]:
    """A smooth scene drifting sideways with a white "logo" fixed on top: (frames uint8 (T, H, W, 3), (x, y, w, h)).

    Smooth, so H.264 keeps it close to the original; the logo is what a user would draw a box around.
    """
    yy, xx = np.mgrid[0:height, 0:width + num_frames]
    scene = np.stack([100 + 60 * np.sin(xx / 7), 110 + 50 * np.cos(yy / 6), 90 + 0.8 * xx], axis=-1)
    frames = np.stack([scene[:, t : t + width] for t in range(num_frames)]).round().astype(np.uint8)
    logo = (20, 10, 16, 16)
    frames[:, 10:26, 20:36] = 255
    return frames, logo


def write_clip_with_audio(path: Path, frames: np.ndarray, fps: int = 25, audio: bool = True) -> Path:
    """An H.264 mp4 (optionally with an AAC sine tone) written straight with PyAV, independent of our writer."""
    container = av.open(str(path), mode="w")
    video = container.add_stream("libx264", rate=fps)
    video.width, video.height, video.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
    if audio:
        sound = container.add_stream("aac", rate=44100)
        sound.layout = "mono"
    for i, frame in enumerate(frames):
        vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
        vf.pts = i
        for packet in video.encode(vf):
            container.mux(packet)
    for packet in video.encode():
        container.mux(packet)
    if audio:
        n = int(44100 * len(frames) / fps)
        tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / 44100)).astype(np.float32)[None]  # (1, n)
        for start in range(0, n, 1024):
            af = av.AudioFrame.from_ndarray(tone[:, start : start + 1024], format="flt", layout="mono")
            af.sample_rate = 44100
            af.pts = start
            for packet in sound.encode(af):
                container.mux(packet)
        for packet in sound.encode():
            container.mux(packet)
    container.close()
    return path


def write_phone_clip(
    path: Path,
    frames: np.ndarray,
    *,
    rotation: int = 0,
    pts: list[int] | None = None,
    time_base: Fraction = Fraction(1, 1000),
    audio: str | None = None,
    codec: str = "libx264rgb",
) -> Path:
    """A clip as phones and editors write them, straight with PyAV: a display-rotation tag (counter-clockwise
    degrees), explicit frame timestamps `pts` in `time_base` (variable frame rate) and an audio stream of codec
    `audio` (e.g. "pcm_s16le") covering the video's duration. The default codec is lossless so pixels can be
    compared exactly."""
    pts = list(range(0, 40 * len(frames), 40)) if pts is None else pts
    container = av.open(str(path), mode="w")
    video = container.add_stream(codec, rate=25)
    video.width, video.height = frames.shape[2], frames.shape[1]
    video.pix_fmt = "rgb24" if codec == "libx264rgb" else "yuv420p"
    video.options = {"qp": "0"} if codec == "libx264rgb" else {}
    video.time_base = video.codec_context.time_base = time_base
    if rotation:
        video.set_display_rotation(rotation)
    sound = None
    if audio:
        sound = container.add_stream(audio, rate=8000)
        sound.layout = "mono"
    for frame, t in zip(frames, pts):
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        vf.pts = t
        for packet in video.encode(vf):
            container.mux(packet)
    for packet in video.encode():
        container.mux(packet)
    if sound is not None:
        n = int(8000 * float((pts[-1] + 40) * time_base))
        tone = (3000 * np.sin(np.arange(n) / 3)).astype(np.int16)[None]  # (1, n)
        fmt = "s16" if audio.startswith("pcm") else sound.codec_context.format.name
        af = av.AudioFrame.from_ndarray(tone if fmt == "s16" else tone.astype(np.float32) / 32768, format=fmt, layout="mono")
        af.sample_rate, af.pts = 8000, 0
        for packet in [*sound.encode(af), *sound.encode()]:
            container.mux(packet)
    container.close()
    return path


@pytest.fixture
def tiny_frames() -> np.ndarray:
    return moving_pattern()


@pytest.fixture
def tiny_video(tmp_path, tiny_frames) -> Path:
    """A 12-frame 64x48 lossless video (FFV1 .mkv) whose pixels equal `tiny_frames` exactly."""
    from videovq.io.video import write_video

    return write_video(tmp_path / "tiny.mkv", tiny_frames, Fraction(25))


@pytest.fixture
def sample_video() -> Path:
    return sample_video_path()


TINY_TOKENIZER = dict(patch_size=2, channels=8, channel_mult=[1, 2, 2], latent_dim=16, codebook_size=64, code_dim=8)
# Settings that make a whole inpainting run take seconds (quality is not what these tests check).
TINY_INPAINT = [
    "tokenizer.steps=1", "tokenizer.batch_size=1", "tokenizer.crop=32",
    "transformer.dim=16", "transformer.depth=1", "transformer.heads=2",
    "transformer_fit.steps=2", "transformer_fit.batch_size=1",
    "decode_steps=2", "max_side=128", "flow_max_side=128",
    "prior=null",  # the shipped prior predicts the shipped tokenizer's codes, not a tiny one's
]  # fmt: skip


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory) -> Path:
    """A randomly initialised tokenizer saved like a trained one (model.safetensors + config.yaml)."""
    import torch

    from videovq.tokenizer.autoencoder import AutoencoderConfig, VQAutoencoder
    from videovq.io.weights import save_weights

    torch.manual_seed(0)
    config = AutoencoderConfig(**TINY_TOKENIZER)
    folder = tmp_path_factory.mktemp("tiny_tokenizer")
    save_weights(folder / "model.safetensors", VQAutoencoder(config), config)
    return folder


def kill_at_first_checkpoint(cmd: list[str], run: Path, final_step: int) -> str:
    """Start a training command, SIGKILL it as soon as it has written a checkpoint; returns that checkpoint's name.

    Fails if the run got to its last step first (then the test's run is too short to prove anything).
    """
    import signal
    import subprocess
    import time

    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    latest = run / "checkpoints" / "latest"
    deadline = time.time() + 120
    while not latest.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = latest.read_text()
    assert killed_at != f"step_{final_step:07d}", "the run finished before it could be killed; make it longer"
    assert not (run / "model").exists()
    return killed_at
