"""Time and peak memory of the attention dispatch (`backend="auto"`) vs naive softmax(QK^T)V.

Run: python benchmarks/attention.py [--repeat N] [--device cpu|cuda]
Prints a markdown table; docs/benchmarks.md records it with the machine it ran on.

Each (case, backend) is measured in a fresh Python process, so one measurement's allocations cannot hide or
inflate another's. On CPU the peak is the growth of the process's peak resident set size
(`getrusage(RUSAGE_SELF).ru_maxrss`) across the first call, counted from just before it (inputs already
allocated, kernels already warmed up on a tiny input); it therefore includes the output and every temporary.
On CUDA it is `torch.cuda.max_memory_allocated` above the memory allocated before the call. Time is the median
of the forward passes (no autograd) after that first call: `--repeat` of them, more for fast cases (up to
~2 s worth), at most 3 for cases slower than a second.

"GEMM floor" is the case's two matrix products (4 B heads N^2 head_dim flops) at the machine's own square float32
GEMM rate, measured first: no exact attention can run faster, so naive ms / floor ms bounds the speed-up any
kernel could show on this machine. How far the naive version is above the floor depends mostly on memory
bandwidth (it writes and reads the N x N scores several times), which is why the speed-up varies between machines.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import torch

from videovq.modules.attention import attention, resolve_backend
from videovq.modules.temporal import band_mask

# (label, (B, heads, N, head_dim), band-mask window or None)
CASES = [
    ("self-attention, 1k tokens", (1, 8, 1024, 64), None),
    ("self-attention, 4k tokens", (1, 8, 4096, 64), None),
    ("self-attention, 8k tokens", (1, 8, 8192, 64), None),
    ("video LDM temporal: 2x32x32 pixels x 16 frames", (2 * 32 * 32, 8, 16, 40), None),
    ("same, window=3 band mask", (2 * 32 * 32, 8, 16, 40), 3),
    ("inpainting spatial: 8 frames x 405 tokens", (8, 8, 405, 64), None),
    ("inpainting temporal: 405 tokens x 8 frames", (405, 8, 8, 64), None),
]
BACKENDS = ("auto", "naive")
SLOW_SECONDS = 1.0  # cases slower than this get at most 3 timed runs, to keep the whole run to a few minutes


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def measure(shape: tuple[int, int, int, int], window: int | None, backend: str, repeat: int, device: str) -> dict:
    """Runs inside the child process: one memory measurement, then the timed runs."""
    torch.manual_seed(0)
    q, k, v = (torch.randn(shape, device=device) for _ in range(3))
    mask = None if window is None else band_mask(shape[2], window, device=device)

    def run(q, k, v, mask):
        return attention(q, k, v, attn_mask=mask, backend=backend)

    with torch.inference_mode():
        # warm up thread pools and lazily initialised kernels on a tiny input, so the peak below is the call's own
        tiny_mask = None if mask is None else band_mask(8, window, device=device)
        run(*(torch.randn(1, 1, 8, shape[3], device=device) for _ in range(3)), tiny_mask)
        _sync(device)
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        else:
            base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        start = time.perf_counter()
        out = run(q, k, v, mask)
        _sync(device)
        first = time.perf_counter() - start
        if device == "cuda":
            peak_mb = (torch.cuda.max_memory_allocated() - base) / 2**20
        else:
            peak_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
        del out
        times = []
        # slow cases: at most 3 runs; fast ones: enough runs to fill ~2 s, so a burst of load elsewhere on the
        # machine moves the median less
        runs = min(repeat, 3) if first > SLOW_SECONDS else max(repeat, min(50, int(2.0 / max(first, 1e-4))))
        for _ in range(runs):
            start = time.perf_counter()
            run(q, k, v, mask)
            _sync(device)
            times.append(time.perf_counter() - start)
    return {
        "ms": 1000 * statistics.median(times),
        "peak_mb": peak_mb,
        "resolved": resolve_backend(backend, device, q.dtype),
    }


def gemm_gflops(device: str, size: int = 2048, runs: int = 10) -> float:
    """Runs inside a child process: the best of `runs` square float32 matrix products, in GFLOP/s.

    Not in the parent: Linux carries a process's peak RSS across fork and exec, so the parent's matrices would
    raise every later child's baseline and hide small peaks.
    """
    a, b = (torch.randn(size, size, device=device) for _ in range(2))
    best = float("inf")
    with torch.inference_mode():
        for _ in range(runs + 1):  # the first call warms up
            start = time.perf_counter()
            a @ b
            _sync(device)
            best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def in_child(shape, window, backend: str, repeat: int, device: str) -> dict:
    spec = json.dumps({"shape": shape, "window": window, "backend": backend, "repeat": repeat, "device": device})
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", spec], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"measurement {spec} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per measurement; the median is reported")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--case", default="", help="only the cases whose label contains this text, e.g. '8k'")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        spec = json.loads(args.child)
        if spec["backend"] == "gemm":
            print(json.dumps({"gflops": gemm_gflops(spec["device"])}))
            return
        result = measure(tuple(spec["shape"]), spec["window"], spec["backend"], spec["repeat"], spec["device"])
        print(json.dumps(result))
        return

    device_name = torch.cuda.get_device_name() if args.device == "cuda" else platform.processor() or platform.machine()
    print(
        f"torch {torch.__version__}, {args.device} ({device_name}), {torch.get_num_threads()} threads, float32, "
        f"forward only, median of >= {min(args.repeat, 3)} runs"
    )
    gflops = in_child(None, None, "gemm", args.repeat, args.device)["gflops"]
    print(f"square float32 GEMM (2048): {gflops:.1f} GFLOP/s\n")
    print(
        "| case | (B, heads, N, head_dim) | auto -> | auto ms | naive ms | speed-up | GEMM floor ms "
        "| speed-up bound | auto peak MB | naive peak MB | memory ratio | output MB |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, shape, window in (case for case in CASES if args.case in case[0]):
        res = {b: in_child(shape, window, b, args.repeat, args.device) for b in BACKENDS}
        auto, naive = res["auto"], res["naive"]
        ratio = f"{naive['peak_mb'] / auto['peak_mb']:.0f}x" if auto["peak_mb"] >= 1 else "n/a (auto < 1 MB)"
        output_mb = shape[0] * shape[1] * shape[2] * shape[3] * 4 / 2**20  # the float32 result both must hold
        floor_ms = 4 * shape[0] * shape[1] * shape[2] ** 2 * shape[3] / gflops / 1e6
        print(
            f"| {label} | {tuple(shape)} | {auto['resolved']} | {auto['ms']:.1f} | {naive['ms']:.1f} "
            f"| {naive['ms'] / auto['ms']:.1f}x | {floor_ms:.1f} | {naive['ms'] / floor_ms:.1f}x "
            f"| {auto['peak_mb']:.0f} | {naive['peak_mb']:.0f} | {ratio} | {output_mb:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
