"""Still camera, moving hole: does flow propagation + membrane lose to copying each hole pixel from another frame?

On a fixed camera the right fill of a background pixel is the same pixel in the nearest frame that shows it (the
temporal fill, `nearest_valid_fill`); estimated flow there is noise, and colour carried along it drifts. Cases
(none of them seen by any of our models; ground truth known):

* ``procedural-N``: procedural scenes with a fixed camera (no pan, zoom or roll), objects moving in front of the
  background, under a moving "blobs" mask (seed N). ``-grain`` adds sensor noise, ``-light`` a global brightness
  oscillation.
* ``photo-N``: one frame of the bundled clip held still (a photo), a textured disc pasted on it moving across, a
  moving "strokes" (N = 0) or "blobs" (N = 1) mask; ``-noise`` adds per-frame Gaussian noise (sigma 2 grey levels).

Columns: in-hole PSNR (dB) / SSIM of Telea, the temporal fill and videovq without a generator (propagation, then
a fill of what is left: `--set generator=false`, the path `inpaint_quality.py` measures cheaply): flow propagation
and the harmonic membrane (``still_copies=False, biharmonic=False``), with still copies (exact copies where the
data show the scene is still), and as shipped (also the biharmonic fill of small unseen regions where a self-test
says so). The last column compares the temporal fill with the shipped path on the hole pixels that some frame
shows: those that no frame shows are Telea's in the fill and ours are the membrane's or biharmonic.

Run: OMP_NUM_THREADS=1 python benchmarks/still_camera.py [--frames 48] [--cases ...]
"""

from __future__ import annotations

import argparse
import platform
import time

import cv2
import numpy as np

from videovq.data import sample_video_path
from videovq.data.procedural import procedural_scene
from videovq.inpaint.baselines import nearest_valid_fill, telea_inpaint
from videovq.inpaint.presets import preset
from videovq.inpaint.propagation import propagate
from videovq.inpaint.spatial_fill import fill_unseen
from videovq.io.mask_shapes import make_mask
from videovq.io.video import read_video
from videovq.metrics.psnr_ssim import frame_psnr, frame_ssim, nan_mean

CASES = (
    "procedural-0,procedural-1,procedural-2,procedural-3-grain,procedural-4-light,"
    "photo-0,photo-1,photo-0-noise,photo-1-noise"
)


def still_case(name: str, num_frames: int, height: int = 240, width: int = 432):
    """(frames, hole) of a named still-camera case; the frames are the ground truth."""
    parts = name.split("-")
    kind, seed, variant = parts[0], int(parts[1]), (parts[2] if len(parts) > 2 else "")
    if kind == "procedural":
        scene = procedural_scene(
            num_frames, height, width, seed=2000 + seed, pan_speed=0.0, zoom=False, roll=False,
            illumination=variant == "light", grain=0.01 if variant == "grain" else 0.0,
        )
        return scene.frames, make_mask("blobs", num_frames, height, width, seed=seed)
    if kind == "photo":
        return _photo(num_frames, seed, variant == "noise"), make_mask(
            "strokes" if seed % 2 == 0 else "blobs", num_frames, height, width, seed=seed
        )
    raise SystemExit(f"unknown case {name}: use procedural-N[-grain|-light] or photo-N[-noise]")


def _photo(num_frames: int, seed: int, noise: bool) -> np.ndarray:
    """A still frame of the bundled clip with a textured disc (a patch of another frame) moving across it."""
    clip = read_video(sample_video_path())
    photo = clip[10 + 20 * seed].astype(np.float32)
    height, width = photo.shape[:2]
    radius = 28
    patch = clip[50, 60 : 60 + 2 * radius, 200 : 200 + 2 * radius].astype(np.float32)
    yy, xx = np.mgrid[-radius:radius, -radius:radius] + 0.5
    alpha = np.clip(radius - np.sqrt(yy**2 + xx**2), 0, 1)[..., None]  # anti-aliased disc
    rng = np.random.default_rng(seed)
    frames = []
    for t in range(num_frames):
        frame = photo.copy()
        cx = int(40 + (width - 80) * t / max(1, num_frames - 1))
        cy = int(height / 2 + 40 * np.sin(t / 6.0))
        box = frame[cy - radius : cy + radius, cx - radius : cx + radius]
        frame[cy - radius : cy + radius, cx - radius : cx + radius] = alpha * patch + (1 - alpha) * box
        if noise:
            frame += rng.normal(0, 2.0, frame.shape)
        frames.append(np.clip(frame + 0.5, 0, 255).astype(np.uint8))
    return np.stack(frames)


# (still_copies, biharmonic) of the last three columns: plain flow propagation and the membrane, still copies and
# the membrane, as shipped.
PATHS = ((False, False), (True, False), (True, True))


def membrane_path(
    frames: np.ndarray, hole: np.ndarray, max_side: int | None, still_copies: bool, biharmonic: bool = True
) -> np.ndarray:
    """What `inpaint_frames` does with generator=false: propagate, then fill what is left without a model."""
    result = propagate(frames, hole, max_side=max_side, still_copies=still_copies)
    return fill_unseen(result.frames, result.remaining, ~hole, biharmonic=biharmonic)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--cases", default=CASES)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    cv2.setNumThreads(args.threads)
    max_side = preset("fast").flow_max_side
    print(f"still camera, {args.frames} frames 432x240; {platform.machine()}, {args.threads} thread(s)\n", flush=True)
    print("| case | hole | Telea | temporal fill | flow prop + membrane | + still copies | + biharmonic (shipped) "
          "| seen pixels: fill / ours | s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in args.cases.split(","):
        frames, hole = still_case(name, args.frames)
        masked = np.where(hole[..., None], 0, frames).astype(np.uint8)
        start = time.perf_counter()
        preds = [telea_inpaint(masked, hole), nearest_valid_fill(masked, hole)]
        preds += [membrane_path(masked, hole, max_side, still, bih) for still, bih in PATHS]
        seconds = time.perf_counter() - start
        cells = []
        for pred in preds:
            psnr, ssim = nan_mean(frame_psnr(pred, frames, hole)), nan_mean(frame_ssim(pred, frames, hole))
            cells.append(f"{psnr:.2f} / {ssim:.3f}")
        seen = hole & ~hole.all(axis=0)
        cells.append(" / ".join(f"{nan_mean(frame_psnr(pred, frames, seen)):.2f}" for pred in (preds[1], preds[-1])))
        print(f"| {name} | {100 * hole.mean():.1f} % | {' | '.join(cells)} | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
