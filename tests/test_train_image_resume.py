"""The image LDM's two trainers (autoencoder, UNet) resume after SIGKILL to the weights of an uninterrupted run."""

from __future__ import annotations

import sys

import pytest
import torch
from conftest import kill_at_first_checkpoint
from safetensors.torch import load_file

from videovq.cli import main

STEPS = 6


def train_args(trainer: str, run, *extra: str) -> list[str]:
    config = {"image-autoencoder": "tiny_image_autoencoder", "image-ldm": "tiny_image_ldm"}[trainer]
    return ["train", trainer, "--config", config, "--data", "procedural", "--run-dir", str(run),
            "--set", f"steps={STEPS}", *extra]  # fmt: skip


@pytest.fixture(scope="module")
def tiny_autoencoder(tmp_path_factory):
    run = tmp_path_factory.mktemp("autoencoder") / "run"
    assert main(train_args("image-autoencoder", run, "--set", "steps=2")) == 0
    return run / "model"


def weights(model_dir) -> dict[str, torch.Tensor]:
    files = sorted(model_dir.rglob("*.safetensors"))
    assert files, f"no weights in {model_dir}"
    return {f"{f.relative_to(model_dir)}:{k}": v for f in files for k, v in load_file(str(f)).items()}


@pytest.mark.parametrize("trainer", ["image-autoencoder", "image-ldm"])
def test_resume_after_sigkill_reaches_the_uninterrupted_weights(trainer, tiny_autoencoder, tmp_path):
    extra = ["--set", f"autoencoder={tiny_autoencoder}"] if trainer == "image-ldm" else []
    assert main(train_args(trainer, tmp_path / "straight", *extra)) == 0
    expected = weights(tmp_path / "straight" / "model")
    run = tmp_path / "killed"
    cmd = [sys.executable, "-m", "videovq", *train_args(trainer, run, *extra)]
    killed_at = kill_at_first_checkpoint(cmd, run, STEPS)
    assert main([*train_args(trainer, run, *extra), "--resume"]) == 0
    got = weights(run / "model")
    assert set(got) == set(expected)
    for name in expected:
        assert torch.equal(got[name], expected[name]), f"{name} differs after resuming from {killed_at}"
