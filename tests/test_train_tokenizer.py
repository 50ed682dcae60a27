"""Tokenizer training: checkpoints rebuild the model, resume after SIGKILL is exact, 2-process accelerate works."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import kill_at_first_checkpoint
from safetensors.torch import load_file

from videovq.config import load_config
from videovq.errors import InputError
from videovq.tokenizer.autoencoder import load_tokenizer
from videovq.train.tokenizer import TokenizerTrainConfig, train_tokenizer

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "tokenizer" / "tiny.yaml"
DATA = ["procedural", str(ROOT / "videovq" / "data" / "bbb_432x240.mp4")]


def tiny_config(*overrides: str) -> TokenizerTrainConfig:
    return load_config(TokenizerTrainConfig, TINY, list(overrides))


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "videovq", "train", "tokenizer", "--config", str(TINY), "--data", *DATA, *args]


def test_final_model_rebuilds_itself(tmp_path):
    final = train_tokenizer(tiny_config("steps=2"), DATA, tmp_path / "run")
    model = load_tokenizer(final)
    assert model.config == tiny_config().model
    x = torch.rand(1, 3, 3, 16, 16) * 2 - 1
    assert model(x).recon.shape == x.shape


def test_existing_run_needs_resume_or_overwrite(tmp_path):
    train_tokenizer(tiny_config("steps=1"), DATA, tmp_path / "run")
    with pytest.raises(InputError, match="--resume"):
        train_tokenizer(tiny_config("steps=1"), DATA, tmp_path / "run")
    with pytest.raises(InputError, match="different config"):
        train_tokenizer(tiny_config("steps=1", "optim.lr=0.1"), DATA, tmp_path / "run", resume=True)


def test_resume_after_sigkill_reaches_the_same_weights(tmp_path):
    steps = "steps=14"
    reference = train_tokenizer(tiny_config(steps), DATA, tmp_path / "straight")
    expected = load_file(str(reference / "model.safetensors"))

    run = tmp_path / "killed"
    killed_at = kill_at_first_checkpoint(cli("--run-dir", str(run), "--set", steps), run, 14)

    resumed = train_tokenizer(tiny_config(steps), DATA, run, resume=True)
    got = load_file(str(resumed / "model.safetensors"))
    assert got.keys() == expected.keys()
    for name in expected:
        assert torch.equal(got[name], expected[name]), f"{name} differs after resuming from {killed_at}"


def test_two_process_accelerate_launch(tmp_path):
    run = tmp_path / "ddp"
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "-m", "videovq", "train", "tokenizer", "--config", str(TINY), "--data", *DATA,
        "--run-dir", str(run), "--set", "steps=3",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "x 2 processes" in result.stderr + result.stdout
    assert result.stdout.count("tokenizer weights") == 1
    assert load_tokenizer(run / "model") is not None


def test_gan_term_trains_and_resumes_exactly(tmp_path):
    gan = ["gan.weight=0.1", "gan.start_step=1", "gan.channels=8", "gan.layers=2", "steps=6"]
    reference = train_tokenizer(tiny_config(*gan), DATA, tmp_path / "straight")
    log = (tmp_path / "straight" / "log.jsonl").read_text()
    assert '"d_loss"' in log and '"g_loss"' in log
    assert (tmp_path / "straight" / "checkpoints" / "step_0000006" / "discriminator.safetensors").exists()
    # A time limit stops the run after its first steps (with a checkpoint); resuming must end where the straight
    # run did, discriminator and its optimiser included.
    train_tokenizer(tiny_config(*gan), DATA, tmp_path / "split", time_limit_minutes=1e-6)
    assert not (tmp_path / "split" / "checkpoints" / "step_0000006").exists()
    resumed = train_tokenizer(tiny_config(*gan), DATA, tmp_path / "split", resume=True)
    a, b = load_file(str(reference / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
