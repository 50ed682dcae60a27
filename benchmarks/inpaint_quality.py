"""Inpainting quality: videovq (a preset, plus ablations) against Telea and a temporal fill, on known ground truth.

Run: python benchmarks/inpaint_quality.py [--preset default] [--variants full,no-propagation,...] [--cases ...]
     [--set key=value ...] [--fvd] [--sheets DIR] [--corpus /work/corpus] [--fit-cache DIR]
Cases (the nine defaults first):
* ``strokes-N``, ``blobs-N``: the bundled clip under generated moving masks (seeds 0-2; the ground truth is the
  original frame);
* ``procedural-N``: procedural clips whose moving objects are removed (ground truth: the rendered background);
* cases where propagation cannot help, on held-out clips of the corpus (`videovq data corpus`; no model of ours
  trained on them): its still-camera clips with objects moving over a held-out photo (N = the N-th such clip)
  under ``logo-N``, a static box of 2.5 % of the frame in a corner, and ``subtitle-N``, a static band of 9 % near
  the bottom (ground truth: the clip); and ``removal-N``, every object removed under one static hole covering all
  the places any object visits, so the background behind them is never revealed (ground truth: the background).
Prints one markdown row per (case, method): in-hole PSNR/SSIM, warping error, in-hole flicker (how much the
result's frame-to-frame change departs from the ground truth's, grey levels), seconds. With --fvd, also each
method's FVD over all cases (the results cut into 16-frame clips, against the ground truth's clips; the real
Kinetics-400 I3D): the set-level perceptual score video-inpainting papers report as VFID, which rewards plausible
texture where PSNR/SSIM reward the mean; with a few dozen clips it ranks methods but its values are not comparable
with papers' (docs/evaluation.md). With --sheets, one contact sheet per case (ground truth, input, each method).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import hashlib
import platform
import time
from pathlib import Path

import numpy as np
import torch

from videovq.config import apply_overrides
from videovq.data import sample_video_path
from videovq.data.procedural import procedural_scene
from videovq.inpaint.baselines import nearest_valid_fill, telea_inpaint
from videovq.inpaint.pipeline import inpaint_frames
from videovq.inpaint.presets import InpaintConfig, preset, with_overrides
from videovq.inpaint.stages import StageStore
from videovq.io.mask_shapes import make_mask
from videovq.io.masks import dilate_mask
from videovq.io.preview import contact_sheet, save_png
from videovq.io.video import read_video
from videovq.metrics.consistency import flicker, warping_error
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


# Settings read only after the per-video models are fitted: runs differing only in these share a --fit-cache entry.
AFTER_FITTING = {
    "propagate", "flow_max_side", "still_copies", "biharmonic", "decode_steps", "temperature", "top_k",
    "confidence_noise", "overlap", "feather", "hold_still", "match_boundary", "exemplar_detail", "detail_sigma",
}  # fmt: skip


class FittedModels(StageStore):
    """A work folder that keeps the fitted models only: every chunk is filled again on each run."""

    def has(self, name: str) -> bool:
        return name in ("tokenizer", "transformer") and super().has(name)

    def save_arrays(self, name: str, **arrays: np.ndarray) -> None:
        pass


def fit_store(cache: str | None, case: str, config: InpaintConfig) -> StageStore | None:
    """The --fit-cache folder of this case and these fitting settings (None without --fit-cache)."""
    if cache is None:
        return None
    fitting = {k: v for k, v in dataclasses.asdict(config).items() if k not in AFTER_FITTING}
    key = hashlib.sha256(repr(sorted(fitting.items())).encode()).hexdigest()[:12]
    return FittedModels(Path(cache) / case / key)


def cases(names: list[str], corpus: str):
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
        elif kind in ("logo", "subtitle", "removal"):
            frames, objects, background = _still_corpus_clip(corpus, int(seed))
            if kind == "removal":
                hole = np.broadcast_to(dilate_mask(objects.any(axis=0)[None], 4), objects.shape).copy()
                yield name, frames, hole, background
            else:
                yield name, frames, _static_box(kind, int(seed), frames.shape[:3]), frames
        else:
            raise SystemExit(
                f"unknown case {name}: use strokes-N, blobs-N, procedural-N, logo-N, subtitle-N or removal-N"
            )


def _still_corpus_clip(corpus: str, index: int):
    """(frames, object masks, background) of the corpus's index-th held-out still-camera clip with objects."""
    from videovq.data.corpus import load_manifest
    from videovq.io.masks import load_mask
    from videovq.io.video import probe

    manifest = load_manifest(corpus)
    clips = [c for c in manifest["clips"] if c["split"] == "held_out" and c["motion"] == "objects-still-camera"]
    if index >= len(clips):
        raise SystemExit(f"{corpus} has {len(clips)} held-out still-camera clips: use case numbers below it")
    clip = clips[index]
    root = Path(corpus)
    frames, background = read_video(root / clip["frames"]), read_video(root / clip["background"])
    return frames, load_mask(root / clip["masks"], probe(root / clip["frames"])), background


def _static_box(kind: str, seed: int, shape: tuple[int, int, int]) -> np.ndarray:
    """A logo (2.5 % of the frame, 2:1, in a corner) or a subtitle band (9 %, 80 % of the width, near the bottom)."""
    num_frames, height, width = shape
    margin = round(0.05 * height)
    if kind == "logo":
        h = round(np.sqrt(0.025 * height * width / 2))
        w = 2 * h
        top = margin if seed % 2 == 0 else height - margin - h
        left = margin if seed // 2 % 2 == 0 else width - margin - w
    else:
        w = round(0.8 * width)
        h = round(0.09 * height * width / w)
        top, left = height - margin - h, (width - w) // 2
    hole = np.zeros(shape, bool)
    hole[:, top : top + h, left : left + w] = True
    return hole


def score(pred, truth, hole, seconds):
    return (
        nan_mean(frame_psnr(pred, truth, hole)),
        nan_mean(frame_ssim(pred, truth, hole)),
        nan_mean(warping_error(pred, truth)) * 1e3,
        nan_mean(flicker(pred, truth, hole)),
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
    parser.add_argument("--sheets", default=None, help="write a contact sheet per case into this folder")
    parser.add_argument("--corpus", default="/work/corpus", help="corpus folder of the logo/subtitle/removal cases")
    parser.add_argument("--fit-cache", default=None, help="keep and reuse the per-case fitted models in this folder")
    args = parser.parse_args()
    base = apply_overrides(preset(args.preset), args.set)
    label = " ".join([args.preset, *args.set])
    general = load_tokenizer(args.tokenizer or tokenizer_path())
    print(f"preset {label}; {platform.machine()}, {torch.get_num_threads()} torch threads\n")
    print("| case | method | hole PSNR | hole SSIM | warp (1e-3) | hole flicker | seconds |")
    print("|---|---|---:|---:|---:|---:|---:|")
    totals: dict[str, list] = {}
    real_fvd = FVD() if args.fvd else None  # the ground truth's clips; each method's results in its own FVD below
    fvd: dict[str, FVD] = {}
    for name, frames, hole, truth in cases(args.cases.split(","), args.corpus):
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
            store = fit_store(args.fit_cache, name, config)
            out = inpaint_frames(frames, hole, general, config, seed=0, store=store, log=lambda s: None)
            rows.append((f"videovq {label} {variant}", score(out.frames, truth, hole, time.perf_counter() - t)))
            results.append(out.frames)
        if real_fvd is not None:
            real_fvd.update([truth], real=True)
            for (method, _), pred in zip(rows, results):
                fvd.setdefault(method, FVD(extractor=real_fvd.extractor)).update([pred], real=False)
        for method, (psnr, ssim, warp, flick, seconds) in rows:
            cells = f"{psnr:.2f} | {ssim:.4f} | {warp:.3f} | {flick:.2f} | {seconds:.1f}"
            print(f"| {name} | {method} | {cells} |", flush=True)
            totals.setdefault(method, []).append((psnr, ssim, warp, flick, seconds))
        if args.sheets:
            shown = np.where(hole[..., None], np.uint8(128), frames)  # the input, hole in grey
            labels = ["ground truth", "input", *(method for method, _ in rows)]
            sheet = contact_sheet([truth, shown, *results], num_columns=4, labels=labels)
            Path(args.sheets).mkdir(parents=True, exist_ok=True)
            save_png(Path(args.sheets) / f"{name}.png", sheet, overwrite=True)
    print("\n| method | mean hole PSNR | mean hole SSIM | mean warp (1e-3) | mean hole flicker | mean seconds |")
    print("|---|---:|---:|---:|---:|---:|")
    for method, values in totals.items():
        m = np.mean(values, axis=0)
        print(f"| {method} | {m[0]:.2f} | {m[1]:.4f} | {m[2]:.3f} | {m[3]:.2f} | {m[4]:.1f} |")
    if real_fvd is not None:
        real = real_fvd.features(True)
        print(f"\n| method | FVD vs ground truth ({len(real)} clips of 16 frames) |\n|---|---:|")
        for method, results in fvd.items():
            print(f"| {method} | {frechet_distance(real, results.features(False)):.1f} |")


if __name__ == "__main__":
    main()
