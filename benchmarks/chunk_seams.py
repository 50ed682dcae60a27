"""What streaming in chunks costs: the same clip inpainted in short chunks and as one chunk, in-hole PSNR and flicker.

Run: python benchmarks/chunk_seams.py [--frames 40] [--chunk 20] [--overlap 8] [--set KEY=VALUE ...]

The bundled clip's first frames under the blobs mask (seed 0), fast preset with the generator off unless `--set`
says otherwise. Flicker (`videovq.metrics.consistency.flicker`, in the hole) is given for the pairs through each
stretch of frames that two chunks share (cross-faded), and for all other pairs, in both results: some frames are
harder than others whatever the chunks, so the one-chunk result on the same pairs is the yardstick.
"""

from __future__ import annotations

import argparse

import numpy as np

from videovq.config import apply_overrides
from videovq.data import sample_video_path
from videovq.inpaint.chunks import plan_chunks, seam_pairs
from videovq.inpaint.pipeline import inpaint_frames
from videovq.inpaint.presets import preset, with_overrides
from videovq.io.mask_shapes import make_mask
from videovq.io.video import read_video
from videovq.metrics.consistency import flicker
from videovq.metrics.psnr_ssim import frame_psnr, nan_mean


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--chunk", type=int, default=20)
    parser.add_argument("--overlap", type=int, default=8)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a preset field")
    args = parser.parse_args()
    frames = read_video(sample_video_path())[: args.frames]
    hole = make_mask("blobs", len(frames), frames.shape[1], frames.shape[2], seed=0)
    config = apply_overrides(with_overrides(preset("fast"), generator=False, chunk_overlap=args.overlap), args.set)
    chunks = plan_chunks(len(frames), args.chunk, args.overlap, box_pixels=1, max_pixels=None)
    shared = seam_pairs(chunks)
    print(f"{len(frames)} frames; chunks {[(c.start, c.stop) for c in chunks]}\n")
    print("| run | hole PSNR dB | " + " | ".join(f"pairs {r.start}-{r.stop - 1}" for r in shared) + " | other pairs |")
    print("|---|---:|" + "---:|" * (len(shared) + 1))
    for name, size in (("chunks", args.chunk), ("one chunk", len(frames))):
        out = inpaint_frames(frames, hole, None, with_overrides(config, chunk=size), log=lambda _: None).frames
        pairs = flicker(out, frames, hole)  # pairs[t - 1] is the pair (t - 1, t)
        seams = [np.nanmean([pairs[t - 1] for t in r]) for r in shared]
        other = [pairs[t - 1] for t in range(1, len(frames)) if not any(t in r for r in shared)]
        psnr = nan_mean(frame_psnr(out, frames, hole))
        print(f"| {name} | {psnr:.2f} | " + " | ".join(f"{s:.2f}" for s in seams) + f" | {np.nanmean(other):.2f} |")


if __name__ == "__main__":
    main()
