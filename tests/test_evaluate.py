"""`videovq evaluate`: pairing, in-hole metrics, inf handling, JSON, FVD over a set."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import moving_pattern
from videovq.cli import main
from videovq.errors import InputError
from videovq.evaluation import evaluate, pair_videos
from videovq.io.masks import write_mask
from videovq.io.video import write_video


@pytest.fixture
def folders(tmp_path):
    ref, pred = tmp_path / "ref", tmp_path / "pred"
    ref.mkdir(), pred.mkdir()
    rng = np.random.default_rng(0)
    for i, name in enumerate(["a", "b"]):
        frames = moving_pattern(10, 48, 64, seed=i)
        write_video(ref / f"{name}.mkv", frames, 25)
        noisy = np.clip(frames.astype(int) + rng.integers(-8, 9, frames.shape), 0, 255).astype(np.uint8)
        write_video(pred / f"{name}.mkv", noisy if name == "a" else frames, 25)
    mask = np.zeros((10, 48, 64), bool)
    mask[:, 10:30, 10:40] = True
    write_mask(tmp_path / "mask.mkv", mask, 25)
    return pred, ref, tmp_path / "mask.mkv"


def test_folders_are_matched_by_name_and_missing_partners_listed(folders, tmp_path):
    pred, ref, _ = folders
    pairs = pair_videos(pred, ref)
    assert [p.name for p in pairs] == ["a", "b"]
    write_video(pred / "c.mkv", moving_pattern(10, 48, 64), 25)
    with pytest.raises(InputError, match="no partner for c"):
        pair_videos(pred, ref)


def test_table_json_inf_and_hole_metrics(folders, tmp_path, capsys):
    pred, ref, mask = folders
    out = tmp_path / "scores.json"
    rc = main(["evaluate", "--pred", str(pred), "--ref", str(ref), "--mask", str(mask), "--json", str(out)])
    text = capsys.readouterr().out
    assert rc == 0
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}
    assert set(rows) >= {"a", "b", "mean"}
    assert "inf" in rows["b"]  # identical video: PSNR = inf, shown, not a crash
    data = json.loads(out.read_text())  # strict JSON: inf is a string
    b = next(v for v in data["videos"] if v["name"] == "b")
    assert b["summary"]["psnr"] == "inf" and b["summary"]["flicker"] == 0.0
    a = next(v for v in data["videos"] if v["name"] == "a")
    assert len(a["per_frame"]["psnr"]) == 10 and len(a["per_frame"]["warp"]) == 9
    # uniform noise in [-8, 8]: MSE ~ 24, PSNR ~ 34.3 dB (closed form for a discrete uniform)
    assert abs(a["summary"]["psnr"] - 10 * np.log10(255**2 / 24.0)) < 0.3


def test_hole_metrics_ignore_pixels_outside_the_hole(folders, tmp_path):
    pred, ref, mask = folders
    before = evaluate(pred / "a.mkv", ref / "a.mkv", mask, metrics=("psnr", "ssim")).videos[0].summary()
    from videovq.io.video import read_video

    changed = read_video(pred / "a.mkv")
    changed[:, 40:, :] = 0  # far below the hole (rows 10..29), beyond SSIM's 11x11 window
    write_video(tmp_path / "a2.mkv", changed, 25)
    after = evaluate(tmp_path / "a2.mkv", ref / "a.mkv", mask, metrics=("psnr", "ssim")).videos[0].summary()
    assert after["psnr_hole"] == pytest.approx(before["psnr_hole"], abs=1e-9)
    assert after["ssim_hole"] == pytest.approx(before["ssim_hole"], abs=1e-9)
    assert after["psnr"] != pytest.approx(before["psnr"])


def test_size_mismatch_between_pred_and_ref(tmp_path):
    write_video(tmp_path / "p.mkv", moving_pattern(5, 32, 32), 25)
    write_video(tmp_path / "r.mkv", moving_pattern(5, 48, 64), 25)
    with pytest.raises(InputError, match="must match their references"):
        evaluate(tmp_path / "p.mkv", tmp_path / "r.mkv")


def test_fvd_over_a_set_is_zero_for_identical_and_positive_for_noise(tmp_path):
    clip = moving_pattern(32, 40, 40)
    write_video(tmp_path / "r.mkv", clip, 25)
    noisy = np.clip(clip.astype(int) + np.random.default_rng(1).integers(-60, 61, clip.shape), 0, 255)
    write_video(tmp_path / "n.mkv", noisy.astype(np.uint8), 25)
    with pytest.warns(UserWarning, match="only 2 and 2 clips"):
        same = evaluate(tmp_path / "r.mkv", tmp_path / "r.mkv", metrics=("fvd",))
    assert same.fvd_clips == 2 and same.fvd == pytest.approx(0.0, abs=1e-3)
    with pytest.warns(UserWarning):
        noisy_report = evaluate(tmp_path / "n.mkv", tmp_path / "r.mkv", metrics=("fvd",))
    assert noisy_report.fvd > 1.0
