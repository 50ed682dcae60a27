"""`--device auto|cpu|cuda[:N]|mps` and `--dtype fp32|bf16|fp16`: resolution, one-line refusals, half precision."""

import numpy as np
import pytest
import torch

from videovq.cli import main
from videovq.devices import autocast, resolve_device, resolve_dtype
from videovq.errors import InputError
from videovq.io.video import read_video, write_video


@pytest.fixture
def no_accelerator(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("videovq.devices._mps_available", lambda: False)


def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch, no_accelerator):
    assert resolve_device("auto") == "cpu"
    monkeypatch.setattr("videovq.devices._mps_available", lambda: True)
    assert resolve_device("auto") == "mps" and resolve_device("mps") == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == "cuda" and resolve_device("CUDA:1") == "cuda:1"
    with pytest.raises(InputError, match="2 CUDA GPU"):
        resolve_device("cuda:2")


@pytest.mark.parametrize(
    "name, message",
    [("tpu", "unknown device"), ("mps", "no Apple MPS"), ("cuda", "no CUDA GPU"), ("cuda:x", "cuda:N"), ("", "unknown")],
)
def test_unknown_or_missing_devices_are_refused(no_accelerator, name, message):
    with pytest.raises(InputError, match=message):
        resolve_device(name)


def test_dtypes():
    assert resolve_dtype("fp32", "cpu") == torch.float32
    assert resolve_dtype("bf16", "cpu") == torch.bfloat16
    assert resolve_dtype("fp16", "cuda") == torch.float16
    with pytest.raises(InputError, match="needs a GPU"):
        resolve_dtype("fp16", "cpu")
    with pytest.raises(InputError, match="fp32, bf16, fp16"):
        resolve_dtype("fp64", "cpu")


def test_autocast_runs_matmuls_in_the_asked_precision():
    a = torch.randn(4, 4)
    with autocast("cpu", torch.bfloat16):
        assert (a @ a).dtype == torch.bfloat16
    with autocast("cpu", torch.float32):
        assert (a @ a).dtype == torch.float32


COMMANDS = {
    "generate": ["generate", "-o", "{tmp}/x.mp4"],
    "inpaint": ["inpaint", "{tmp}/v.mp4", "--mask", "{tmp}/m.png", "-o", "{tmp}/x.mp4"],
    "evaluate": ["evaluate", "--pred", "{tmp}/v.mp4", "--ref", "{tmp}/v.mp4"],
    "demo": ["demo", "--out-dir", "{tmp}/demo"],
}
CASES = [(name, "--device=tpu", "--device tpu") for name in COMMANDS] + [
    (name, "--dtype=fp16", "--dtype fp16") for name in COMMANDS if name != "evaluate"  # FVD has no --dtype: fp32
]


@pytest.mark.parametrize("command, option, message", CASES)
def test_every_command_refuses_in_one_line(tmp_path, capsys, no_accelerator, command, option, message):
    args = [part.format(tmp=tmp_path) for part in COMMANDS[command]] + [option]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


@pytest.fixture(scope="module")
def tiny_vldm(tmp_path_factory):
    """A tiny image LDM and two training steps of temporal layers on it, through the CLI."""
    from videovq.vldm.models import AutoencoderKLConfig, ImageLDM, UNetConfig, build_autoencoder, build_unet
    from videovq.vldm.models import make_scheduler, save_image_ldm

    torch.manual_seed(0)
    image = ImageLDM(build_unet(UNetConfig([16, 32], 1, [False, True], 8, 8), 4, 8),
                     build_autoencoder(AutoencoderKLConfig([8, 8], 1, 4, 4), 16), make_scheduler())  # fmt: skip
    folder = save_image_ldm(image, tmp_path_factory.mktemp("image_ldm"))
    run = tmp_path_factory.mktemp("vldm") / "run"
    args = ["train", "vldm", "--config", "tiny_vldm", "--data", "procedural", "--run-dir", str(run)]
    assert main([*args, "--set", "steps=2", "--set", f"image_model={folder}"]) == 0
    return run / "model"


def test_generate_in_bf16_with_a_context_clip(tmp_path, capsys, tiny_vldm):
    """A video LDM continues a given clip under --device auto (the CPU here) in fp32 and in bf16."""
    context = np.random.default_rng(0).integers(0, 255, (2, 16, 16, 3), dtype=np.uint8)
    write_video(tmp_path / "context.mkv", context, fps=8)
    outputs = {}
    for dtype in ("fp32", "bf16"):
        out = tmp_path / f"{dtype}.mkv"
        args = ["generate", "--model", str(tiny_vldm), "--context", str(tmp_path / "context.mkv"), "--frames", "4"]
        assert main([*args, "--steps", "2", "--device", "auto", "--dtype", dtype, "-o", str(out)]) == 0
        outputs[dtype] = read_video(out)
    assert outputs["fp32"].shape == outputs["bf16"].shape == (4, 16, 16, 3)
    assert not np.array_equal(outputs["fp32"], outputs["bf16"])  # bf16 really ran
    assert np.abs(outputs["fp32"].astype(int) - outputs["bf16"]).mean() < 20  # and still samples the same clip


def test_inpaint_in_bf16_keeps_known_pixels(tmp_path, tiny_tokenizer_dir, capsys):
    from conftest import TINY_INPAINT, moving_pattern
    from videovq.io.masks import write_mask

    frame = moving_pattern(1, 48, 64)[0]
    video = write_video(tmp_path / "clip.mkv", np.repeat(frame[None], 8, axis=0), 25)
    hole = np.zeros((8, 48, 64), bool)
    hole[:, 12:30, 20:44] = True  # a still scene: nothing to propagate, the generator fills the hole
    mask = write_mask(tmp_path / "mask.mkv", hole, 25)
    out = tmp_path / "out.mkv"
    tiny = [x for item in TINY_INPAINT for x in ("--set", item)]
    args = ["inpaint", str(video), "--mask", str(mask), "-o", str(out), "--tokenizer", str(tiny_tokenizer_dir), *tiny]
    assert main([*args, "--device", "auto", "--dtype", "bf16"]) == 0, capsys.readouterr().err
    result, source = read_video(out), read_video(video)
    assert np.array_equal(result[~hole], source[~hole])
    assert not np.array_equal(result[hole], source[hole])


def test_gpu_check_without_cuda_says_so_in_one_line():
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # hides any GPU from torch
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().count("\n") == 0 and "no CUDA GPU" in done.stdout
