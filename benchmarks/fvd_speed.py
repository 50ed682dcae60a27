"""Throughput of FVD feature extraction: the full path (range check + TF1 resize + I3D) vs a bare I3D forward.

    PYTHONPATH=. python benchmarks/fvd_speed.py [--device cpu] [--clips 8] [--size 240 432]

Prints a markdown table of clips/s (16-frame clips) for batch sizes 1 and 4.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from videovq.metrics.fvd import CLIP_LEN, I3DFeatureExtractor, preprocess


def clips_per_s(fn, clips: torch.Tensor, batch_size: int, device: torch.device, repeats: int) -> float:
    """Runs `fn` over `clips` in batches once to warm up, then `repeats` times; the best pass counts."""
    best = float("inf")
    for i in range(repeats + 1):
        start = time.perf_counter()
        for batch in clips.split(batch_size):
            fn(batch)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i > 0:  # best-of: other load on the machine only ever makes a pass slower
            best = min(best, time.perf_counter() - start)
    return len(clips) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--clips", type=int, default=8, help="clips per measurement")
    parser.add_argument("--repeats", type=int, default=2, help="timed passes (best one reported)")
    parser.add_argument("--size", type=int, nargs=2, default=(240, 432), metavar=("H", "W"), help="input frame size")
    args = parser.parse_args()

    device = torch.device(args.device)
    torch.manual_seed(0)
    clips = torch.rand(args.clips, 3, CLIP_LEN, *args.size) * 2 - 1  # (N, 3, 16, H, W) in [-1, 1]
    resized = preprocess(clips).to(device)  # (N, 3, 16, 224, 224), for the bare forward

    print(
        f"{platform.machine()}, {torch.get_num_threads()} torch threads, device {device}, torch {torch.__version__}; "
        f"{args.clips} clips of {CLIP_LEN}x{args.size[0]}x{args.size[1]}, best of {args.repeats}"
    )
    print("| batch size | full path (clips/s) | bare I3D forward (clips/s) |")
    print("| --- | --- | --- |")
    for batch_size in (1, 4):
        extractor = I3DFeatureExtractor(device=device, batch_size=batch_size)
        # the extractor splits into batches itself, so hand it every clip at once
        full = clips_per_s(extractor.features, clips, len(clips), device, args.repeats)

        def bare(batch: torch.Tensor, model: torch.nn.Module = extractor.model) -> None:
            with torch.inference_mode():
                model(batch)

        print(f"| {batch_size} | {full:.2f} | {clips_per_s(bare, resized, batch_size, device, args.repeats):.2f} |")


if __name__ == "__main__":
    main()
