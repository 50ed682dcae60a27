"""Exercise every CUDA path once and print a table: attention backends, half-precision inference, training steps.

Run: python benchmarks/gpu_check.py [--device cuda:0] [--keep DIR]

Rows (each runs in its own process where it is a command, so one failure does not hide the others):
  attention    sdpa and xformers (when installed) against the naive reference, fp32/bf16/fp16 at 4k tokens
  inpaint      `videovq inpaint` (fast preset) on the bundled clip, in fp32, bf16 and fp16
  generate     `videovq generate` (the shipped video LDM, 16 frames, 20 steps), in fp32, bf16 and fp16
  evaluate     `videovq evaluate --metrics psnr,ssim,fvd` (I3D on the GPU)
  train        a few steps of each trainer on its tiny config (tokenizer, image-autoencoder, image-ldm, vldm, decoder)

On a machine without CUDA it says so in one line and exits 0. Exit code 1 when any row failed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "videovq" / "data" / "bbb_432x240.mp4"
TRAINERS = {  # trainer -> (tiny config, the option naming the image model it builds on)
    "tokenizer": ("tiny", None),
    "image-autoencoder": ("tiny_image_autoencoder", None),
    "image-ldm": ("tiny_image_ldm", "autoencoder"),
    "vldm": ("tiny_vldm", "image_model"),
    "decoder": ("tiny_decoder", "autoencoder"),
}


@dataclass
class Row:
    path: str
    ok: bool
    seconds: float
    note: str


def run_command(name: str, args: list[str], env: dict[str, str]) -> Row:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "videovq", *args], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        return Row(name, False, seconds, last[:100])
    return Row(name, True, seconds, "")


def check_attention(device: str) -> list[Row]:
    from videovq.modules.attention import attention, xformers_available

    rows = []
    backends = ["sdpa", *(["xformers"] if xformers_available() else [])]
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        q, k, v = (torch.randn(2, 8, 4096, 64, device=device, dtype=dtype) for _ in range(3))  # (B, heads, N, d)
        reference = attention(q.float(), k.float(), v.float(), backend="naive")
        for backend in backends:
            name = f"attention {backend} {str(dtype).removeprefix('torch.')}"
            try:
                torch.cuda.synchronize()
                start = time.perf_counter()
                out = attention(q, k, v, backend=backend)
                torch.cuda.synchronize()
                error = (out.float() - reference).abs().max().item()
                rows.append(Row(name, error < 5e-2, time.perf_counter() - start, f"max |diff| vs naive {error:.1e}"))
            except Exception as e:  # noqa: BLE001 - a check reports every failure as a row
                rows.append(Row(name, False, 0.0, f"{type(e).__name__}: {e}"[:100]))
    if not xformers_available():
        rows.append(Row("attention xformers", True, 0.0, "skipped: xformers not installed"))
    return rows


def check_commands(device: str, work: Path) -> list[Row]:
    env = dict(os.environ)
    on = ["--device", device]
    mask = work / "mask.mkv"
    rows = [run_command("mask make", ["mask", "make", "--like", str(CLIP), "-o", str(mask)], env)]
    for dtype in ("fp32", "bf16", "fp16"):
        out = work / f"inpaint_{dtype}.mp4"
        args = ["inpaint", str(CLIP), "--mask", str(mask), "-o", str(out), "--preset", "fast", *on, "--dtype", dtype]
        rows.append(run_command(f"inpaint fast {dtype}", args, env))
    for dtype in ("fp32", "bf16", "fp16"):
        out = work / f"generate_{dtype}.mp4"
        args = ["generate", "-o", str(out), "--frames", "16", "--steps", "20", *on, "--dtype", dtype]
        rows.append(run_command(f"generate {dtype}", args, env))
    pred = work / "inpaint_fp16.mp4"
    if pred.exists():
        args = ["evaluate", "--pred", str(pred), "--ref", str(CLIP), "--mask", str(mask), "--metrics",
                "psnr,ssim,fvd", *on]  # fmt: skip
        rows.append(run_command("evaluate with FVD", args, env))
    rows += check_trainers(work, env)
    return rows


def check_trainers(work: Path, env: dict[str, str]) -> list[Row]:
    """A few steps of every trainer, on the GPU accelerate picks; later stages build on the earlier runs' models."""
    builds_on = {"image-ldm": "image-autoencoder", "vldm": "image-ldm", "decoder": "image-ldm"}
    rows, models = [], {}
    for trainer, (config, option) in TRAINERS.items():
        run = work / f"train_{trainer}"
        args = ["train", trainer, "--config", config, "--data", "procedural", "--run-dir", str(run), "--set", "steps=3"]
        if option is not None:
            base = models.get(builds_on[trainer])
            if base is None:
                rows.append(Row(f"train {trainer} (3 steps)", False, 0.0, f"needs the {builds_on[trainer]} run"))
                continue
            args += ["--set", f"{option}={base}"]
        row = run_command(f"train {trainer} (3 steps)", args, env)
        rows.append(row)
        if row.ok:
            models[trainer] = run / "model"
    return rows


def print_table(rows: list[Row], device: str) -> None:
    name = torch.cuda.get_device_name(torch.device(device))
    print(f"\n{name}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    width = max(len(r.path) for r in rows)
    print(f"| {'path'.ljust(width)} | status | seconds | note |")
    print(f"|{'-' * (width + 2)}|--------|--------:|------|")
    for r in rows:
        status = "ok" if r.ok else "FAIL"
        print(f"| {r.path.ljust(width)} | {status:6} | {r.seconds:7.1f} | {r.note} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="the CUDA device to check")
    parser.add_argument("--keep", type=Path, help="keep the outputs here (default: a temporary folder)")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU is visible to torch here; nothing to check")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        rows = check_attention(args.device) + check_commands(args.device, work)
    print_table(rows, args.device)
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
