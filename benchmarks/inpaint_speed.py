"""Inpainting speed and memory: wall time per stage and peak RSS, per preset, for the bundled clip and a long loop.

Run: python benchmarks/inpaint_speed.py [--presets fast,default] [--loops 1,5]
Each (preset, length) runs in a fresh subprocess so that its peak RSS is its own. The clip is the bundled 66-frame
432x240 clip, looped `loops` times (5 -> 330 frames), with a generated strokes mask (seed 0).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time

import torch


def run_one(preset: str, loops: int) -> dict:
    """Inside the subprocess: inpaint and report seconds per stage and peak RSS."""
    import numpy as np

    from videovq.data import sample_video_path
    from videovq.inpaint.pipeline import inpaint_frames
    from videovq.inpaint.presets import preset as get_preset
    from videovq.io.mask_shapes import make_mask
    from videovq.io.video import read_video
    from videovq.tokenizer.autoencoder import load_tokenizer
    from videovq.weights import tokenizer_path

    frames = read_video(sample_video_path())
    frames = np.concatenate([frames, frames[::-1]] * ((loops + 1) // 2))[: len(frames) * loops]  # ping-pong loop
    hole = make_mask("strokes", len(frames), frames.shape[1], frames.shape[2], seed=0)
    general = load_tokenizer(tokenizer_path())
    start = time.perf_counter()
    out = inpaint_frames(frames, hole, general, get_preset(preset), seed=0, log=lambda s: None)
    total = time.perf_counter() - start
    return {
        "frames": len(frames),
        "total": total,
        "stages": out.seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="fast,default")
    parser.add_argument("--loops", default="1,5")
    parser.add_argument("--child", nargs=2, metavar=("PRESET", "LOOPS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child[0], int(args.child[1]))))
        return
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}\n")
    print("| preset | frames | total s | s/frame | propagate | fit tokenizer | tokenize | fit transformer | predict | decode | peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for preset in args.presets.split(","):
        for loops in (int(x) for x in args.loops.split(",")):
            child = subprocess.run(
                [sys.executable, __file__, "--child", preset, str(loops)], capture_output=True, text=True, check=True
            )
            r = json.loads(child.stdout.strip().splitlines()[-1])
            s = r["stages"]
            cells = [f"{s.get(k, 0.0):.1f}" for k in ("propagate", "fit_tokenizer", "tokenize", "fit_transformer", "predict", "decode")]
            print(
                f"| {preset} | {r['frames']} | {r['total']:.1f} | {r['total'] / r['frames']:.2f} | {' | '.join(cells)} "
                f"| {r['peak_rss_mb']:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
