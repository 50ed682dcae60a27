"""Many videos, many processes: inpainting manifests and evaluation split by accelerate, with equal results."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_INPAINT, moving_pattern

from videovq.cli import main
from videovq.errors import InputError
from videovq.inpaint.batch import read_manifest
from videovq.io.masks import write_mask
from videovq.io.video import read_video, write_video


def accelerate_cmd(processes: int, *args: str) -> list[str]:
    return [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "videovq", *args,
    ]  # fmt: skip


ROOT = Path(__file__).resolve().parents[1]


def run(cmd: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture
def manifest(tmp_path) -> Path:
    """6 jobs on tiny clips; the 4th video is corrupt."""
    rows = []
    for i in range(6):
        frames = moving_pattern(6, 32, 48, seed=i)
        video = tmp_path / f"clip{i}.mkv"
        if i == 3:
            video.write_bytes(b"this is not a video")
        else:
            write_video(video, frames, 25)
        hole = np.zeros((6, 32, 48), bool)
        hole[:, 8:20, 10:30] = True
        write_mask(tmp_path / f"mask{i}.mkv", hole, 25)
        rows.append(f"clip{i}.mkv,mask{i}.mkv,out/clip{i}.mkv")
    (tmp_path / "out").mkdir()
    path = tmp_path / "jobs.csv"
    path.write_text("video,mask,output\n" + "\n".join(rows) + "\n")
    return path


def manifest_args(path: Path, tokenizer: Path) -> list[str]:
    tiny = [x for item in TINY_INPAINT for x in ("--set", item)]
    return ["inpaint", "--manifest", str(path), "--tokenizer", str(tokenizer), *tiny]


def read_results(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_two_process_manifest_reports_the_corrupt_row_and_resumes(manifest, tiny_tokenizer_dir):
    result = run(accelerate_cmd(2, *manifest_args(manifest, tiny_tokenizer_dir)))
    assert result.returncode != 0  # a failed row makes the command fail, after the others finished
    out = manifest.parent / "out"
    assert sorted(p.name for p in out.iterdir()) == [f"clip{i}.mkv" for i in (0, 1, 2, 4, 5)]
    results = read_results(manifest.with_suffix(".results.csv"))
    assert [r["status"] for r in results] == ["done", "done", "done", "failed", "done", "done"]
    assert "clip3.mkv" in results[3]["error"]
    assert "clip3.mkv" in result.stdout and "| 5 | 0 | 1 |" in result.stdout
    assert {"[process 0]", "[process 1]"} <= {line[:11] for line in result.stdout.splitlines()}

    again = run(accelerate_cmd(2, *manifest_args(manifest, tiny_tokenizer_dir)))
    statuses = [r["status"] for r in read_results(manifest.with_suffix(".results.csv"))]
    assert statuses == ["skipped", "skipped", "skipped", "failed", "skipped", "skipped"], again.stdout[-2000:]


def test_manifest_in_one_process_matches_single_inpaint(manifest, tiny_tokenizer_dir, tmp_path, capsys):
    lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join([lines[0] + ",seed", lines[1] + ",3"]) + "\n")
    assert main(manifest_args(manifest, tiny_tokenizer_dir)) == 0
    single = tmp_path / "single.mkv"
    tiny = [x for item in TINY_INPAINT for x in ("--set", item)]
    args = ["inpaint", str(tmp_path / "clip0.mkv"), "--mask", str(tmp_path / "mask0.mkv"), "-o", str(single)]
    assert main([*args, "--tokenizer", str(tiny_tokenizer_dir), "--seed", "3", *tiny]) == 0
    np.testing.assert_array_equal(read_video(single), read_video(tmp_path / "out" / "clip0.mkv"))


def test_bad_manifests_are_one_line_errors(tmp_path):
    path = tmp_path / "jobs.csv"
    path.write_text("video,mask\nabc.mp4,m.png\n")
    with pytest.raises(InputError, match="lack \\['output'\\]"):
        read_manifest(path)
    path.write_text("video,mask,output,seed\na.mp4,m.png,o.mp4,x\n")
    with pytest.raises(InputError, match="jobs.csv:2: seed 'x'"):
        read_manifest(path)
    path.write_text("video,mask,output\na.mp4,m.png,o.mp4\nb.mp4,m.png,o.mp4\n")
    with pytest.raises(InputError, match="also the output of line 2"):
        read_manifest(path)
    assert main(["inpaint", "--manifest", str(path), "-o", "x.mp4"]) == 2


def test_two_process_evaluate_equals_one_process(tmp_path):
    pred, ref = tmp_path / "pred", tmp_path / "ref"
    pred.mkdir(), ref.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        frames = moving_pattern(16, 32, 48, seed=i)
        write_video(ref / f"v{i}.mkv", frames, 25)
        noisy = np.clip(frames.astype(int) + rng.integers(-20, 20, frames.shape), 0, 255).astype(np.uint8)
        write_video(pred / f"v{i}.mkv", noisy, 25)
    metrics = "psnr,ssim,warp,flicker,fvd"
    one = run([sys.executable, "-m", "videovq", "evaluate", "--pred", str(pred), "--ref", str(ref),
               "--metrics", metrics, "--json", str(tmp_path / "one.json")])  # fmt: skip
    assert one.returncode == 0, one.stderr[-2000:]
    # Launched with the shipped 2-process CPU config, as docs/scaling.md shows.
    config = ROOT / "configs" / "accelerate" / "cpu_2proc.yaml"
    two = run([sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config), "-m", "videovq",
               "evaluate", "--pred", str(pred), "--ref", str(ref), "--metrics", metrics,
               "--json", str(tmp_path / "two.json")])  # fmt: skip
    assert two.returncode == 0, two.stderr[-2000:]
    a, b = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("one", "two"))
    assert a == b
    assert two.stdout.count("| mean |") == 1  # the table is printed once, by the main process


def test_shipped_accelerate_configs_parse():
    from accelerate.commands.config.config_args import load_config_from_file

    configs = sorted((ROOT / "configs" / "accelerate").glob("*.yaml"))
    assert len(configs) >= 5
    kinds = {load_config_from_file(str(c)).distributed_type.value for c in configs}
    assert {"NO", "MULTI_CPU", "MULTI_GPU", "FSDP"} <= kinds
