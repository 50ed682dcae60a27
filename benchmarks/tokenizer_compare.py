"""Compare trained tokenizers on the held-out frames: reconstruction, distinct codes used, training-log statistics.

Run: python benchmarks/tokenizer_compare.py RUN_DIR [RUN_DIR ...]   (run folders of `videovq train tokenizer`)
Prints the table of docs/tokenizer.md's "Short comparisons".
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from videovq.data import sample_video_path
from videovq.data.procedural import procedural_clip
from videovq.io.video import read_video
from videovq.tokenizer.autoencoder import load_tokenizer
from videovq.tokenizer.fit import encode_frames, pad_frames

sys.path.insert(0, str(Path(__file__).parent))
from tokenizer import reconstruct, scores  # noqa: E402  (benchmarks/tokenizer.py: the same held-out scoring)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (each with model/ and log.jsonl)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bbb = read_video(sample_video_path())[-16:]  # held out by the training config
    proc = procedural_clip(16, 240, 432, seed=987654321)
    print("| run | model | bundled PSNR / SSIM | procedural PSNR / SSIM | distinct codes | perplexity | L1 |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for run in args.runs:
        model = load_tokenizer(run / "model")
        logged = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()][-8:]
        used: set[int] = set()
        result = []
        for clip in (bbb, proc):
            result.append(scores(reconstruct(model, clip), clip))
            padded = pad_frames(clip, np.zeros(clip.shape[:3], bool), model.downsample)
            used |= set(encode_frames(model, *padded)[0].unique().tolist())
        c = model.config
        print(
            f"| {run.name} | f{model.downsample}, l2={c.l2_normalize}, code_dim={c.code_dim} "
            f"| {result[0][0]:.2f} / {result[0][1]:.3f} | {result[1][0]:.2f} / {result[1][1]:.3f} | {len(used)} "
            f"| {np.mean([r['perplexity'] for r in logged]):.0f} | {np.mean([r['l1'] for r in logged]):.3f} |"
        )


if __name__ == "__main__":
    main()
