"""Image decoder vs temporal decoder on held-out clips: reconstruction, flicker, warping error, FVD, chunk seams.

Run: python benchmarks/temporal_decoder.py [--autoencoder DIR] [--decoder DIR] [--clips N] [--threads N]

Every held-out 16-frame clip (`videovq.vldm.evaluation.held_out_clips`) is encoded frame by frame (posterior mean)
and decoded (a) by the image decoder, frame by frame, (b) by the temporal decoder in one chunk and (c) in chunks of
8 frames overlapping by 4. Flicker compares each reconstruction's frame-to-frame change with the real clip's
(grey levels); warping error takes the flow from the real clip (x 1e-3). "Seam flicker" is the flicker of (c) on the
frame pairs where one chunk hands over to the next, against (b) on the same pairs.
"""

from __future__ import annotations

import argparse
import platform

import numpy as np
import torch
from einops import rearrange

from videovq.metrics.consistency import flicker, warping_error
from videovq.metrics.fvd import FVD
from videovq.metrics.psnr_ssim import frame_psnr, frame_ssim, nan_mean
from videovq.vldm.decoder import load_temporal_decoder
from videovq.vldm.evaluation import held_out_clips
from videovq.vldm.pipeline import to_uint8
from videovq.vldm.train_decoder import load_vae
from videovq.weights import vldm_path
from videovq.windows import temporal_windows

CHUNK, OVERLAP = 8, 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--autoencoder", default="shipped", help="folder with vae/ (default: the shipped image LDM)")
    parser.add_argument("--decoder", default=None, help="temporal decoder folder (default: the shipped one)")
    parser.add_argument("--clips", type=int, default=48, help="held-out clips")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    vae = load_vae(args.autoencoder).eval()
    decoder = load_temporal_decoder(args.decoder or vldm_path() / "decoder", vae).eval()
    size = vae.config.sample_size
    real = held_out_clips(args.clips, size)
    outputs: dict[str, list[np.ndarray]] = {
        "image decoder": [],
        "temporal decoder": [],
        f"temporal, chunks of {CHUNK}": [],
    }
    with torch.no_grad():
        for clip in real:
            video = torch.from_numpy(clip).permute(3, 0, 1, 2).float().div(127.5).sub(1)
            latents = vae.encode(rearrange(video, "c t h w -> t c h w")).latent_dist.mean
            outputs["image decoder"].append(to_uint8(rearrange(vae.decode(latents).sample, "t c h w -> c t h w")))
            latents = rearrange(latents, "t c h w -> 1 c t h w")
            outputs["temporal decoder"].append(to_uint8(decoder(latents)[0]))
            outputs[f"temporal, chunks of {CHUNK}"].append(to_uint8(decoder.decode_video(latents, CHUNK, OVERLAP)[0]))

    seams = [w.own_stop - 1 for w in temporal_windows(len(real[0]), CHUNK, OVERLAP)[:-1]]  # pair (s, s+1) crosses
    fvd = FVD()
    fvd.update(real, real=True)
    print(
        f"machine: {platform.processor() or platform.machine()}, {args.threads} threads; {len(real)} held-out clips, "
        f"{len(real[0])} frames at {size}x{size}\n"
    )
    print("| decoder | PSNR | SSIM | flicker | warping error (x1e-3) | FVD vs real | flicker at chunk seams |")
    print("|---|---|---|---|---|---|---|")
    for name, videos in outputs.items():
        psnr = np.mean([nan_mean(frame_psnr(v, r)) for v, r in zip(videos, real)])
        ssim = np.mean([nan_mean(frame_ssim(v, r)) for v, r in zip(videos, real)])
        flick = [flicker(v, r) for v, r in zip(videos, real)]
        warp = np.mean([nan_mean(warping_error(v, r)) for v, r in zip(videos, real)]) * 1e3
        fvd.feats[False] = []
        fvd.update(videos, real=False)
        seam = np.mean([f[s] for f in flick for s in seams])
        print(
            f"| {name} | {psnr:.2f} | {ssim:.3f} | {np.mean([nan_mean(f) for f in flick]):.3f} | {warp:.3f} | "
            f"{fvd.compute():.1f} | {seam:.3f} |"
        )


if __name__ == "__main__":
    main()
