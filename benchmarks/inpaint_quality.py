"""Inpainting quality: videovq (a preset, plus ablations) against Telea and a temporal fill, on known ground truth.

Run: python benchmarks/inpaint_quality.py [--preset default] [--variants full,no-propagation,...] [--cases ...]
     [--set key=value ...]
Cases: the bundled clip under generated strokes and blobs masks (seeds 0-2; the ground truth is the original
frame), and procedural clips whose moving objects are removed (ground truth: the rendered background).
Prints one markdown row per (case, method): in-hole PSNR/SSIM, warping error, seconds. With --fvd, also each
method's FVD over all cases (the results cut into 16-frame clips, against the ground truth's clips; the real
Kinetics-400 I3D): the set-level perceptual score video-inpainting papers report as VFID, which rewards plausible
texture where PSNR/SSIM reward the mean.
"""

from __future__ import annotations

import argparse
import copy
import platform
import time

import numpy as np
import torch

from videovq.config import apply_overrides
from videovq.data import sample_video_path
from videovq.data.procedural import procedural_scene
from videovq.inpaint.baselines import nearest_valid_fill, telea_inpaint
from videovq.inpaint.pipeline import inpaint_frames
from videovq.inpaint.presets import preset, with_overrides
from videovq.io.mask_shapes import make_mask
from videovq.io.masks import dilate_mask
from videovq.io.video import read_video
from videovq.metrics.consistency import warping_error
from videovq.metrics.fvd import FVD, frechet_distance
from videovq.metrics.psnr_ssim import frame_psnr, frame_ssim, nan_mean
from videovq.tokenizer.autoencoder import load_tokenizer
from videovq.weights import tokenizer_path

VARIANTS = {
    "full": {},
    "no-propagation": {"propagate": False},
    "with-aggregation": {"aggregation": True},  # the default decodes without it (docs/inpainting.md)
    "no-codebook-refinement": {"refine_codebook": False},
    "one-shot": {"decode_steps": 1},
    "no-generator": {"generator": False},
}


def cases(names: list[str]):
    """Yield (name, frames, hole, ground truth) for each requested case."""
    bbb = None
    for name in names:
        kind, seed = name.rsplit("-", 1)
        if kind in ("strokes", "blobs"):
            bbb = read_video(sample_video_path()) if bbb is None else bbb
            hole = make_mask(kind, len(bbb), bbb.shape[1], bbb.shape[2], seed=int(seed))
            yield name, bbb, hole, bbb
        elif kind == "procedural":
            scene = procedural_scene(32, 240, 432, seed=1000 + int(seed))
            hole = dilate_mask(scene.object_masks.any(axis=1), 4)  # remove every object (and its soft edge)
            yield name, scene.frames, hole, scene.background
        else:
            raise SystemExit(f"unknown case {name}: use strokes-N, blobs-N or procedural-N")


def score(pred, truth, hole, seconds):
    return (
        nan_mean(frame_psnr(pred, truth, hole)),
        nan_mean(frame_ssim(pred, truth, hole)),
        nan_mean(warping_error(pred, truth)) * 1e3,
        seconds,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--variants", default="full", help=f"comma list of {','.join(VARIANTS)}")
    parser.add_argument(
        "--cases",
        default="strokes-0,strokes-1,strokes-2,blobs-0,blobs-1,blobs-2,procedural-0,procedural-1,procedural-2",
    )
    parser.add_argument("--baselines", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--tokenizer", default=None)
    parser.add_argument("--fvd", action="store_true", help="also score every method's results with FVD")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a preset field")
    args = parser.parse_args()
    base = apply_overrides(preset(args.preset), args.set)
    label = " ".join([args.preset, *args.set])
    general = load_tokenizer(args.tokenizer or tokenizer_path())
    print(f"preset {label}; {platform.machine()}, {torch.get_num_threads()} torch threads\n")
    print("| case | method | hole PSNR | hole SSIM | warp (1e-3) | seconds |")
    print("|---|---|---:|---:|---:|---:|")
    totals: dict[str, list] = {}
    real_fvd = FVD() if args.fvd else None  # the ground truth's clips; each method's results in its own FVD below
    fvd: dict[str, FVD] = {}
    for name, frames, hole, truth in cases(args.cases.split(",")):
        rows, results = [], []
        if args.baselines:
            t = time.perf_counter()
            pred = telea_inpaint(frames, hole, 5)
            rows.append(("Telea (r=5)", score(pred, truth, hole, time.perf_counter() - t)))
            results.append(pred)
            t = time.perf_counter()
            pred = nearest_valid_fill(frames, hole)
            rows.append(("temporal fill", score(pred, truth, hole, time.perf_counter() - t)))
            results.append(pred)
        for variant in args.variants.split(","):
            config = with_overrides(copy.deepcopy(base), **VARIANTS[variant])
            t = time.perf_counter()
            out = inpaint_frames(frames, hole, general, config, seed=0, log=lambda s: None)
            rows.append((f"videovq {label} {variant}", score(out.frames, truth, hole, time.perf_counter() - t)))
            results.append(out.frames)
        if real_fvd is not None:
            real_fvd.update([truth], real=True)
            for (method, _), pred in zip(rows, results):
                fvd.setdefault(method, FVD(extractor=real_fvd.extractor)).update([pred], real=False)
        for method, (psnr, ssim, warp, seconds) in rows:
            print(f"| {name} | {method} | {psnr:.2f} | {ssim:.4f} | {warp:.3f} | {seconds:.1f} |", flush=True)
            totals.setdefault(method, []).append((psnr, ssim, warp, seconds))
    print("\n| method | mean hole PSNR | mean hole SSIM | mean warp (1e-3) | mean seconds |")
    print("|---|---:|---:|---:|---:|")
    for method, values in totals.items():
        m = np.mean(values, axis=0)
        print(f"| {method} | {m[0]:.2f} | {m[1]:.4f} | {m[2]:.3f} | {m[3]:.1f} |")
    if real_fvd is not None:
        real = real_fvd.features(True)
        print(f"\n| method | FVD vs ground truth ({len(real)} clips of 16 frames) |\n|---|---:|")
        for method, results in fvd.items():
            print(f"| {method} | {frechet_distance(real, results.features(False)):.1f} |")


if __name__ == "__main__":
    main()
