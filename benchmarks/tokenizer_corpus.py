"""Compare tokenizers on held-out material: the corpus's held-out clips and the bundled clip's held-out frames.

Run: python benchmarks/tokenizer_corpus.py CORPUS [--weights shipped RUN/model RUN/checkpoints/step_0000500 ...]
     [--frames 4] [--threads 1] [--no-aggregation]
Held out (docs/data.md): clips of the held-out photos (camera paths; moving objects), procedural clips with
held-out seeds, and the bundled clip's last 16 frames. The first `--frames` frames of every held-out clip are
encoded and decoded at 432x240 (full frames, windows as in the pipeline). Prints one markdown table: PSNR / SSIM
per group, and the distinct codes used on all these frames (of the codebank's size). `--no-aggregation` decodes
each frame alone (without the residual temporal aggregation block), as `videovq inpaint` does.
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import numpy as np
import torch
from tokenizer import reconstruct, scores  # benchmarks/tokenizer.py

from videovq.data import sample_video_path
from videovq.data.corpus import load_manifest
from videovq.io.video import read_video
from videovq.tokenizer.autoencoder import load_tokenizer
from videovq.tokenizer.fit import encode_frames, pad_frames
from videovq.weights import tokenizer_path


def held_out_groups(corpus: Path, frames: int) -> dict[str, list[np.ndarray]]:
    manifest = load_manifest(corpus)
    groups: dict[str, list[np.ndarray]] = {"photos, camera paths": [], "photos, moving objects": [], "procedural": []}
    names = {"camera": "photos, camera paths", "objects": "photos, moving objects", "procedural": "procedural"}
    for clip in manifest["clips"]:
        if clip["split"] == "held_out":
            groups[names[clip["kind"]]].append(read_video(corpus / clip["frames"])[:frames])
    start, stop = manifest["bundled"]["held_out"]
    groups["bundled clip, last 16 frames"] = [read_video(sample_video_path())[start:stop]]
    return groups


def measure(
    weights: str, groups: dict[str, list[np.ndarray]], aggregation: bool = True
) -> tuple[dict[str, tuple[float, float]], int, int]:
    model = load_tokenizer(tokenizer_path() if weights == "shipped" else weights)
    if not aggregation:
        model.aggregation = None
    results, codes = {}, set()
    for name, clips in groups.items():
        psnr, ssim = [], []
        for clip in clips:
            p, s = scores(reconstruct(model, clip), clip)
            psnr.append(p)
            ssim.append(s)
            padded = pad_frames(clip, np.zeros(clip.shape[:3], bool), model.downsample)
            codes |= set(encode_frames(model, *padded)[0].unique().tolist())
        results[name] = (float(np.mean(psnr)), float(np.mean(ssim)))
    return results, len(codes), model.quantizer.codebook_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--weights", nargs="+", default=["shipped"], help="tokenizer folders, or 'shipped'")
    parser.add_argument("--frames", type=int, default=4, help="frames of each held-out corpus clip")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--no-aggregation", action="store_true", help="decode each frame alone, as inpainting does")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    groups = held_out_groups(args.corpus, args.frames)
    counts = ", ".join(f"{name}: {len(c)} clips x {len(c[0])} frames" for name, c in groups.items())
    decoding = "each frame alone" if args.no_aggregation else "with the aggregation block where a tokenizer has one"
    print(f"held out: {counts}\nmachine: {platform.machine()}, {args.threads} torch threads; decoded {decoding}\n")
    header = " | ".join(f"{name} PSNR / SSIM" for name in groups)
    print(f"| tokenizer | {header} | distinct codes |")
    print("|---|" + "---:|" * (len(groups) + 1))
    for weights in args.weights:
        results, used, size = measure(weights, groups, aggregation=not args.no_aggregation)
        cells = " | ".join(f"{p:.2f} / {s:.4f}" for p, s in results.values())
        print(f"| {weights} | {cells} | {used} of {size} |", flush=True)


if __name__ == "__main__":
    main()
