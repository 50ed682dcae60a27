"""Tokenizer training: checkpoints rebuild the model, resume after SIGKILL is exact, 2-process accelerate works."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from conftest import kill_at_first_checkpoint
from safetensors.torch import load_file

from videovq.cli import main
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


def test_init_from_starts_from_another_tokenizer(tmp_path):
    first = train_tokenizer(tiny_config("steps=2"), DATA, tmp_path / "a")
    # lr 0: the network weights stay where init_from put them (only the EMA codebook moves).
    again = train_tokenizer(tiny_config("steps=1", "optim.lr=0", f"init_from={first}"), DATA, tmp_path / "b")
    scratch = train_tokenizer(tiny_config("steps=1", "optim.lr=0"), DATA, tmp_path / "c")
    a, b, c = (load_file(str(p / "model.safetensors")) for p in (first, again, scratch))
    convs = [k for k in a if k.endswith("weight") and "quantizer" not in k]
    assert all(torch.equal(a[k], b[k]) for k in convs)
    assert not all(torch.equal(a[k], c[k]) for k in convs)
    with pytest.raises(InputError, match="another architecture"):
        train_tokenizer(tiny_config("steps=1", "model.channels=4", f"init_from={first}"), DATA, tmp_path / "d")


def test_decoder_only_keeps_encoder_and_codebook(tmp_path):
    first = train_tokenizer(tiny_config("steps=2"), DATA, tmp_path / "a")
    # Without an aggregation block, from a tokenizer with one: the block is left out, everything else trains on.
    tuned = train_tokenizer(
        tiny_config("steps=2", "decoder_only=true", "model.aggregation=none", "gan.weight=0.1", "gan.start_step=0",
                    "gan.adaptive=true",
                    f"init_from={first}"),
        DATA,
        tmp_path / "b",
    )
    a, b = load_file(str(first / "model.safetensors")), load_file(str(tuned / "model.safetensors"))
    assert not any(k.startswith("aggregation.") for k in b) and any(k.startswith("aggregation.") for k in a)
    kept = [k for k in b if not k.startswith("decoder.")]
    assert kept and all(torch.equal(a[k], b[k]) for k in kept)  # encoder and codebook (EMA state too)
    assert not all(torch.equal(a[k], b[k]) for k in b if k.startswith("decoder."))
    assert load_tokenizer(tuned).aggregation is None
    logged = [json.loads(line) for line in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert any(row.get("gan_weight", 0) > 0 for row in logged)
    with pytest.raises(InputError, match="needs init_from"):
        tiny_config("decoder_only=true")


def test_existing_run_needs_resume_or_overwrite(tmp_path):
    train_tokenizer(tiny_config("steps=1"), DATA, tmp_path / "run")
    with pytest.raises(InputError, match="--resume"):
        train_tokenizer(tiny_config("steps=1"), DATA, tmp_path / "run")
    with pytest.raises(InputError, match="different config"):
        train_tokenizer(tiny_config("steps=1", "optim.lr=0.1"), DATA, tmp_path / "run", resume=True)
    # A run folder written before a field existed resumes: the missing field reads as its default.
    stored = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    del stored["data"]["strides"], stored["init_from"]
    (tmp_path / "run" / "config.yaml").write_text(yaml.safe_dump(stored))
    assert train_tokenizer(tiny_config("steps=2"), DATA, tmp_path / "run", resume=True).exists()


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
        "--run-dir", str(run), "--set", "steps=4",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "x 2 processes" in result.stderr + result.stdout
    assert result.stdout.count("tokenizer weights") == 1
    lines = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    facts = lines[0]
    assert facts["processes"] == 2 and facts["effective_batch"] == 2 * facts["batch_size"]
    steps = [line for line in lines if "step" in line]
    assert [line["step"] for line in steps] == [1, 2, 3, 4]
    assert "restarted" in steps[-1]  # the dead-code restart (every 3 steps, before step 4) ran in both processes
    model = load_tokenizer(run / "model")
    assert all(torch.isfinite(p).all() for p in model.state_dict().values())


def test_gan_term_trains_and_resumes_exactly(tmp_path):
    gan = ["gan.weight=0.1", "gan.start_step=1", "gan.channels=8", "gan.layers=2", "steps=6"]
    reference = train_tokenizer(tiny_config(*gan), DATA, tmp_path / "straight")
    log = (tmp_path / "straight" / "log.jsonl").read_text()
    assert '"d_loss"' in log and '"g_loss"' in log
    assert (tmp_path / "straight" / "checkpoints" / "step_0000006" / "discriminator.safetensors").exists()
    # A time limit stops the run after its first steps (with a checkpoint); resuming must end where the straight
    # run did, discriminator and its optimiser included.
    stopped = train_tokenizer(tiny_config(*gan), DATA, tmp_path / "split", time_limit_minutes=1e-6)
    assert not (tmp_path / "split" / "checkpoints" / "step_0000006").exists()
    assert not stopped.exists()  # no RUN/model from a run the time limit stopped
    resumed = train_tokenizer(tiny_config(*gan), DATA, tmp_path / "split", resume=True)
    a, b = load_file(str(reference / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_right_before_a_dead_code_restart_restarts_the_same_codes(tmp_path):
    # Codes nobody picks die after ~70 steps; the restart at step 72 re-seeds them from the pool of recent encoder
    # outputs, which the checkpoint of step 72 has to carry for the resumed run to restart the same codes.
    settings = ["steps=74", "checkpoint_every=72", "restart_dead_every=72", "model.codebook_size=256"]
    straight = train_tokenizer(tiny_config(*settings), DATA, tmp_path / "straight")
    restarted = [json.loads(line).get("restarted") for line in (tmp_path / "straight" / "log.jsonl").open()]
    assert max(r or 0 for r in restarted) > 0

    run = tmp_path / "resumed"
    shutil.copytree(tmp_path / "straight", run)
    shutil.rmtree(run / "model")
    shutil.rmtree(run / "checkpoints" / "step_0000074")
    (run / "checkpoints" / "latest").write_text("step_0000072")
    resumed = train_tokenizer(tiny_config(*settings), DATA, run, resume=True)
    a, b = load_file(str(straight / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_time_limit_checkpoints_and_says_how_to_resume(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(cli("--run-dir", str(run), "--set", "steps=50", "--time-limit", "1e-6")[3:]) == 0
    out = capsys.readouterr().out
    assert "continue with --resume" in out and "tokenizer weights" not in out
    assert (run / "checkpoints" / "latest").exists() and not (run / "model").exists()
