"""Image decoder vs temporal decoder on held-out clips: reconstruction, flicker, warping error, FVD, chunk seams.

Run: python benchmarks/temporal_decoder.py [--autoencoder DIR] [--decoder DIR] [--clips N] [--threads N]

Every held-out 16-frame clip (`videovq.vldm.evaluation.held_out_clips`) is encoded frame by frame (posterior mean)
and decoded (a) by the image decoder, frame by frame, (b) by the temporal decoder in one chunk and (c) in chunks of
8 frames overlapping by 4. Flicker compares each reconstruction's frame-to-frame change with the real clip's
(grey levels); warping error takes the flow from the real clip (x 1e-3). "Seam flicker" is the flicker of (c) on the
frame pairs where one chunk hands over to the next, against (b) on the same pairs.

A second table splits flicker by where the real clip is static (every channel changes by <= 2 grey levels between
the two frames) or moving. On static pixels a prediction that does not change at all still scores the real clip's
own noise there; that floor is printed too, with what the whole-clip flicker would be if a decoder reached it while
keeping its moving-pixel flicker.
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
from videovq.io.tensors import uint8_to_video, video_to_uint8
from videovq.vldm.models import load_vae
from videovq.weights import vldm_path
from videovq.windows import temporal_windows

CHUNK, OVERLAP = 8, 4
STATIC = 2  # grey levels: a real pixel changing at most this much (in every channel) counts as static


def split_flicker(pred: np.ndarray, ref: np.ndarray) -> tuple[float, float, float, float]:
    """Flicker of one clip (all pairs pooled) on static and on moving pixels, the static share, and the whole-clip
    flicker of the same prediction made perfectly still on static pixels (the static floor + its moving flicker)."""
    ref = ref.astype(np.int16)
    change = np.diff(ref, axis=0)
    delta = np.abs(np.diff(pred.astype(np.int16), axis=0) - change).mean(-1)
    static = np.abs(change).max(-1) <= STATIC
    share, moving = static.mean(), delta[~static].mean()
    floor = np.abs(change).mean(-1)[static].mean()
    return delta[static].mean(), moving, share, share * floor + (1 - share) * moving


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
            video = uint8_to_video(clip)
            latents = vae.encode(rearrange(video, "c t h w -> t c h w")).latent_dist.mean
            outputs["image decoder"].append(video_to_uint8(rearrange(vae.decode(latents).sample, "t c h w -> c t h w")))
            latents = rearrange(latents, "t c h w -> 1 c t h w")
            outputs["temporal decoder"].append(video_to_uint8(decoder(latents)[0]))
            outputs[f"temporal, chunks of {CHUNK}"].append(video_to_uint8(decoder.decode_video(latents, CHUNK, OVERLAP)[0]))

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
        fvd.reset(real=False)
        fvd.update(videos, real=False)
        seam = np.mean([f[s] for f in flick for s in seams])
        print(
            f"| {name} | {psnr:.2f} | {ssim:.3f} | {np.mean([nan_mean(f) for f in flick]):.3f} | {warp:.3f} | "
            f"{fvd.compute():.1f} | {seam:.3f} |"
        )
    print(
        "\n| decoder | flicker, static pixels | flicker, moving pixels | static share | flicker if still where static |"
    )
    print("|---|---|---|---|---|")
    for name, videos in outputs.items():
        static, moving, share, at_floor = np.mean([split_flicker(v, r) for v, r in zip(videos, real)], axis=0)
        print(f"| {name} | {static:.3f} | {moving:.3f} | {share:.3f} | {at_floor:.3f} |")


if __name__ == "__main__":
    main()
