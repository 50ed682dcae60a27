"""`videovq benchmark`: the E2FGVI / ProPainter protocol on a tiny synthetic dataset in the DAVIS layout."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from videovq.benchmark import find_videos, generate_masks
from videovq.cli import main
from videovq.inpaint.baselines import nearest_valid_fill
from videovq.metrics.psnr_ssim import frame_ssim_uniform

VIDEOS = ("bear", "car")
FRAMES = 6


def _scene(seed: int) -> np.ndarray:
    """(FRAMES, 270, 480, 3) uint8: smooth colours and texture panning right, a 480p-like source size."""
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.integers(0, 256, (270, 560, 3), dtype=np.uint8), (0, 0), 3)
    return np.stack([base[:, 4 * t : 4 * t + 480] for t in range(FRAMES)])


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("davis")
    for i, name in enumerate(VIDEOS):
        frames_dir = root / "JPEGImages" / "480p" / name
        masks_dir = root / "test_masks" / name
        frames_dir.mkdir(parents=True)
        masks_dir.mkdir(parents=True)
        for t, frame in enumerate(_scene(i)):
            Image.fromarray(frame).save(frames_dir / f"{t:05d}.jpg", quality=90)
            mask = np.zeros((270, 480), np.uint8)
            mask[100:160, 60 + 30 * t : 140 + 30 * t] = 255  # a box moving right
            Image.fromarray(mask).save(masks_dir / f"{t:05d}.png")
    return root


def _independent(root, name):
    """The papers' steps written out again: cv2 decode + bilinear resize, PIL nearest mask, cross dilation."""
    frames, holes = [], []
    for t in range(FRAMES):
        bgr = cv2.imread(str(root / "JPEGImages" / "480p" / name / f"{t:05d}.jpg"))
        frames.append(cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), (432, 240), interpolation=cv2.INTER_LINEAR))
        m = np.asarray(Image.open(root / "test_masks" / name / f"{t:05d}.png").resize((432, 240), Image.NEAREST))
        kernel = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
        holes.append(cv2.dilate((m > 0).astype(np.uint8), kernel, iterations=4) > 0)
    return np.stack(frames), np.stack(holes)


def test_protocol_matches_skimage_and_resumes(dataset, tmp_path, capsys):
    out = tmp_path / "res.json"
    args = [str(dataset), "--masks", str(dataset / "test_masks"), "--method", "temporal-fill", "--json", str(out)]
    assert main(["benchmark", *args]) == 0
    report = json.loads(out.read_text())
    assert set(report["videos"]) == set(VIDEOS)
    psnrs, ssims = [], []
    for name in VIDEOS:
        truth, hole = _independent(dataset, name)
        pred = nearest_valid_fill(np.where(hole[..., None], 0, truth).astype(np.uint8), hole)
        for p, r in zip(pred.astype(np.float64), truth.astype(np.float64)):
            psnrs.append(peak_signal_noise_ratio(r, p, data_range=255))
            ssims.append(structural_similarity(r, p, data_range=255, channel_axis=-1, win_size=65))
        assert report["videos"][name]["hole_fraction"] == pytest.approx(hole.mean())
    summary = report["summary"]
    assert summary["frames"] == len(VIDEOS) * FRAMES
    assert summary["psnr"] == pytest.approx(np.mean(psnrs), abs=1e-3)
    assert summary["ssim_paper"] == pytest.approx(np.mean(ssims), abs=1e-3)
    assert 0 < summary["ssim_hole"] < summary["ssim"] < 1  # the hole is where the fill is wrong
    assert report["vfid"]["value"] is None  # 6-frame videos hold no 16-frame clip
    table = out.with_suffix(".md").read_text()
    assert "| **all frames** | 12 |" in table and f"{np.mean(psnrs):.2f}" in table

    # Resume: a video already in the JSON is not run again; a missing one is.
    report["videos"]["bear"]["seconds"] = 1234.5
    del report["videos"]["car"]
    out.write_text(json.dumps(report))
    assert main(["benchmark", *args]) == 0
    again = json.loads(out.read_text())
    assert again["videos"]["bear"]["seconds"] == 1234.5
    assert again["videos"]["car"]["per_frame"]["psnr"] == pytest.approx(
        [v for v in psnrs[FRAMES:]], abs=1e-3
    )
    capsys.readouterr()

    # Other settings on the same JSON: refused in one line, unless --overwrite.
    assert main(["benchmark", *args[:-4], "--method", "telea", "--json", str(out)]) == 2
    assert "written with other settings" in capsys.readouterr().err


def test_youtube_vos_layout_and_generated_masks(tmp_path):
    for name in VIDEOS:
        folder = tmp_path / "JPEGImages" / name
        folder.mkdir(parents=True)
        for t, frame in enumerate(_scene(3)[:3]):
            Image.fromarray(frame).save(folder / f"{t:05d}.jpg")
    assert list(find_videos(tmp_path)) == list(VIDEOS)
    a = generate_masks("blobs", "bear", 5, (432, 240), seed=0, iterations=4)
    assert a.shape == (5, 240, 432) and a.any()
    assert np.array_equal(a, generate_masks("blobs", "bear", 5, (432, 240), seed=0, iterations=4))
    assert not np.array_equal(a, generate_masks("blobs", "car", 5, (432, 240), seed=0, iterations=4))
    out = tmp_path / "gen.json"
    assert main(["benchmark", str(tmp_path), "--masks", "generate:blobs", "--method", "telea", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["summary"]["frames"] > 0


def test_bad_inputs_are_one_line(tmp_path, dataset, capsys):
    out = str(tmp_path / "x.json")
    assert main(["benchmark", str(tmp_path / "nope"), "--masks", "generate:blobs", "--json", out]) == 2
    assert main(["benchmark", str(dataset), "--masks", "generate:clouds", "--json", out]) == 2
    assert main(["benchmark", str(dataset), "--masks", str(tmp_path), "--json", out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("videovq: error: ") for line in err)
    assert "no mask folder for bear" in err[2]


def test_uniform_ssim_equals_skimage():
    rng = np.random.default_rng(0)
    ref = cv2.GaussianBlur(rng.integers(0, 256, (2, 90, 120, 3), dtype=np.uint8).reshape(180, 120, 3), (0, 0), 2)
    ref = ref.reshape(2, 90, 120, 3)
    pred = np.clip(ref.astype(int) + rng.normal(0, 12, ref.shape), 0, 255).astype(np.uint8)
    ours = frame_ssim_uniform(pred, ref, win_size=65)
    theirs = [
        structural_similarity(r.astype(np.float64), p.astype(np.float64), data_range=255, channel_axis=-1, win_size=65)
        for p, r in zip(pred, ref)
    ]
    np.testing.assert_allclose(ours, theirs, atol=1e-9)
    assert frame_ssim_uniform(ref, ref)[0] == pytest.approx(1.0)
