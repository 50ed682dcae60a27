"""Measure a tokenizer on frames it never saw: reconstruction, codebook use, flicker with/without aggregation, speed.

Run: python benchmarks/tokenizer.py [--weights DIR] [--fit-steps N] [--threads N]
Held-out data: the last 16 frames of the bundled clip (training holds them out) and a procedural clip with a seed
outside training's draws. Prints markdown tables for docs/tokenizer.md.
"""

from __future__ import annotations

import argparse
import copy
import platform
import time

import numpy as np
import torch

from videovq.data import sample_video_path
from videovq.data.procedural import procedural_clip
from videovq.io.mask_shapes import make_mask
from videovq.io.video import read_video
from videovq.metrics.consistency import flicker
from videovq.metrics.psnr_ssim import frame_psnr, frame_ssim, nan_mean
from videovq.tokenizer.autoencoder import load_tokenizer
from videovq.tokenizer.fit import (
    VideoFitConfig,
    decode_frames,
    encode_frames,
    fit_video_tokenizer,
    pad_frames,
)
from videovq.weights import tokenizer_path


@torch.no_grad()
def reconstruct(model, frames: np.ndarray, hole: np.ndarray | None = None, allowed=None, chunk: int = 8) -> np.ndarray:
    """Encode and decode a clip (hole blanked and marked invalid, if given); returns uint8 frames."""
    t, h, w = frames.shape[:3]
    hole = np.zeros((t, h, w), bool) if hole is None else hole
    indices, _ = encode_frames(model, *pad_frames(frames, hole, model.downsample), allowed, chunk)
    return decode_frames(model, indices, window=chunk + 2, overlap=2)[:, :h, :w]


def scores(pred: np.ndarray, ref: np.ndarray, valid: np.ndarray | None = None) -> tuple[float, float]:
    if valid is None:
        return nan_mean(frame_psnr(pred, ref)), nan_mean(frame_ssim(pred, ref))
    return nan_mean(frame_psnr(pred, ref, valid)), nan_mean(frame_ssim(pred, ref, valid))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=None, help="tokenizer folder (default: the shipped one)")
    parser.add_argument("--fit-steps", type=int, default=VideoFitConfig.steps, help="per-video finetuning steps")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    general = load_tokenizer(args.weights or tokenizer_path())
    f = general.downsample

    bbb = read_video(sample_video_path())  # (66, 240, 432, 3)
    held_out = bbb[-16:]
    proc = procedural_clip(16, 240, 432, seed=987654321)
    print(f"tokenizer: {args.weights or tokenizer_path()} (downsampling {f}, {general.quantizer.codebook_size} codes)")
    print(f"machine: {platform.machine()}, {args.threads} torch threads, torch {torch.__version__}\n")

    # 1. General tokenizer on held-out frames, with and without temporal aggregation.
    no_agg = copy.deepcopy(general)
    no_agg.aggregation = None
    rows = []
    codes_used = set()
    for name, clip in (("bundled clip, last 16 frames", held_out), ("procedural clip (unseen seed)", proc)):
        t0 = time.time()
        rec = reconstruct(general, clip)
        seconds = time.time() - t0
        rec_plain = reconstruct(no_agg, clip)
        padded = pad_frames(clip, np.zeros(clip.shape[:3], bool), f)
        codes_used |= set(encode_frames(general, *padded)[0].unique().tolist())
        psnr, ssim = scores(rec, clip)
        rows.append(
            (name, psnr, ssim, nan_mean(flicker(rec, clip)), nan_mean(flicker(rec_plain, clip)), len(clip) / seconds)
        )
    print("| held-out clip | PSNR | SSIM | flicker (aggregation) | flicker (none) | encode+decode fps |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, psnr, ssim, fl, fl_plain, fps in rows:
        print(f"| {name} | {psnr:.2f} | {ssim:.4f} | {fl:.3f} | {fl_plain:.3f} | {fps:.1f} |")
    print(
        f"\ngeneral codebank: {len(codes_used)} distinct codes on these 32 frames; "
        f"{general.quantizer.fraction_in_use():.1%} of {general.quantizer.codebook_size} alive by the training usage EMA"
    )

    # 2. Per-video finetuning on the whole bundled clip with a moving-stroke hole; scored on valid pixels.
    hole = make_mask("strokes", len(bbb), bbb.shape[1], bbb.shape[2], seed=0)
    config = VideoFitConfig(steps=args.fit_steps)
    fit = fit_video_tokenizer(general, bbb, hole, config, seed=0)
    before = scores(reconstruct(general, bbb, hole)[-16:], held_out, ~hole[-16:])
    after = scores(reconstruct(fit.model, bbb, hole, fit.codebook.allowed())[-16:], held_out, ~hole[-16:])
    print("\n| bundled clip, 66 frames, strokes mask (seed 0); valid pixels of the last 16 frames | PSNR | SSIM |")
    print("|---|---:|---:|")
    print(f"| general tokenizer | {before[0]:.2f} | {before[1]:.4f} |")
    print(f"| finetuned, {config.steps} steps, video codebook | {after[0]:.2f} | {after[1]:.4f} |")
    print(
        f"\nper-video finetune: {fit.seconds:.0f} s for {config.steps} steps "
        f"({config.batch_size} crops x {config.clip_len} frames x {config.crop}^2); "
        f"refined codebook: {fit.codebook.size} codes (+1 completion token)"
    )


if __name__ == "__main__":
    main()
