"""Step 2 on its own: how much of the hole flow-guided propagation fills, how well, how fast, vs the baselines.

Cases:
* the bundled clip (66 frames 432x240) with generated "strokes" and "blobs" masks (seeds 0, 1, 2). The mask is
  synthetic, so the ground truth of the hole is the original frame.
* procedural clips (seeds 0, 1, 2, same size) as object removal: the hole is the union of the object masks (objects
  and their shadows) dilated by 3 px, the ground truth the rendered background without the objects.

Columns: hole = hole pixels / all pixels; filled = share of the hole that propagation filled; then PSNR (dB) and
SSIM inside the *propagated* pixels only, for propagation, Telea and nearest-valid-fill on the same pixels (SSIM's
11x11 window also sees neighbours: every method's hole is completed, propagation's remaining pixels with Telea);
"full hole" = PSNR over the whole hole of propagation + Telea on what remains, vs Telea alone; s/frame = wall time
of `propagate` per frame.

Run: OMP_NUM_THREADS=1 python benchmarks/propagation.py [--preset medium|fast] [--max-side N] [--max-distance N]
"""

from __future__ import annotations

import argparse
import platform
import time

import cv2
import numpy as np
import torch

from videovq.data import sample_video_path
from videovq.data.procedural import procedural_scene
from videovq.inpaint.baselines import nearest_valid_fill, telea_inpaint
from videovq.inpaint.propagation import FLOW_PRESETS, propagate
from videovq.io.mask_shapes import make_mask
from videovq.io.video import read_video
from videovq.metrics.psnr_ssim import frame_psnr, frame_ssim, nan_mean

SEEDS = (0, 1, 2)
OBJECT_DILATION = 3  # px: covers the anti-aliased rim of objects and soft shadows, as a user's mask would


def cases(num_frames: int):
    """Yield (name, input frames, hole, ground truth)."""
    clip = read_video(sample_video_path())[:num_frames]
    t, h, w = clip.shape[:3]
    for kind in ("strokes", "blobs"):
        for seed in SEEDS:
            yield f"bbb {kind} s{seed}", clip, make_mask(kind, t, h, w, seed), clip
    for seed in SEEDS:
        scene = procedural_scene(t, h, w, seed)
        hole = dilate(scene.object_masks.any(axis=1), OBJECT_DILATION)
        yield f"procedural removal s{seed}", scene.frames, hole, scene.background


def dilate(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Disk dilation of every frame (cv2: much faster than kornia's `dilate_mask` on one CPU thread)."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1,) * 2)
    return np.stack([cv2.dilate(m.astype(np.uint8), kernel).astype(bool) for m in mask])


def measure(frames: np.ndarray, hole: np.ndarray, truth: np.ndarray, args: argparse.Namespace) -> dict:
    result = propagate(
        frames,
        hole,
        max_side=args.max_side,
        preset=args.preset,
        flow_margin=args.flow_margin,
        max_distance=args.max_distance,
    )
    telea = telea_inpaint(frames, hole)
    nearest = nearest_valid_fill(frames, hole)
    completed = np.where(result.remaining[..., None], telea, result.frames)  # propagation + Telea on the rest
    propagated = hole & ~result.remaining
    row = {
        "hole": hole.mean(),
        "filled": result.filled_fraction,
        "s/frame": result.seconds / len(frames),
        "full prop": nan_mean(frame_psnr(completed, truth, hole)),
        "full telea": nan_mean(frame_psnr(telea, truth, hole)),
    }
    for name, pred in (("prop", completed), ("telea", telea), ("nvf", nearest)):
        row[f"{name} psnr"] = nan_mean(frame_psnr(pred, truth, propagated))
        row[f"{name} ssim"] = nan_mean(frame_ssim(pred, truth, propagated))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=FLOW_PRESETS, default="medium", help="DIS preset")
    parser.add_argument("--max-side", type=int, default=None, help="estimate flow at this longer side")
    parser.add_argument("--flow-margin", type=int, default=4, help="px around the hole whose flow is re-interpolated")
    parser.add_argument("--max-distance", type=int, default=None, help="farthest source frame (default: any)")
    parser.add_argument("--frames", type=int, default=66, help="frames per clip")
    parser.add_argument("--threads", type=int, default=1, help="OpenCV and torch threads")
    args = parser.parse_args()
    cv2.setNumThreads(args.threads)
    torch.set_num_threads(args.threads)

    print(
        f"propagation benchmark: preset={args.preset}, max_side={args.max_side}, flow_margin={args.flow_margin}, "
        f"max_distance={args.max_distance}, "
        f"{args.threads} thread(s), {platform.processor() or platform.machine()}, OpenCV {cv2.__version__}\n"
    )
    header = (
        "| case | hole | filled | prop PSNR / SSIM | Telea PSNR / SSIM | nearest-valid PSNR / SSIM "
        "| full hole: prop+Telea / Telea PSNR | s/frame |"
    )
    print(header)
    print("|" + "---|" * 8)
    rows = []
    start = time.perf_counter()
    for name, frames, hole, truth in cases(args.frames):
        r = measure(frames, hole, truth, args)
        rows.append(r)
        print(_format(name, r), flush=True)
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    print(_format("**mean**", mean))
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


def _format(name: str, r: dict) -> str:
    return (
        f"| {name} | {100 * r['hole']:.1f} % | {100 * r['filled']:.1f} % "
        f"| {r['prop psnr']:.2f} / {r['prop ssim']:.3f} | {r['telea psnr']:.2f} / {r['telea ssim']:.3f} "
        f"| {r['nvf psnr']:.2f} / {r['nvf ssim']:.3f} | {r['full prop']:.2f} / {r['full telea']:.2f} "
        f"| {r['s/frame']:.3f} |"
    )


if __name__ == "__main__":
    main()
