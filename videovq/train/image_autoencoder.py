"""`videovq train image-autoencoder`: the `AutoencoderKL` of the small image LDM we ship (stage 1 of 2).

No image LDM can be downloaded here, so the video LDM starts from one we train ourselves on data we may ship
(procedural scenes and crops of the bundled clip). The result is a diffusers folder, so it loads exactly like a
user's Stable Diffusion checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import kornia
import numpy as np
import torch

from videovq.data.clips import ClipSampler, VideoDataConfig, make_sampler, sample_frame_batch
from videovq.errors import InputError
from videovq.train.common import OptimConfig, RunConfig, batch_facts, batch_stream, make_optimizer
from videovq.train.loop import optimiser_step, resume_from, run_steps, start_run
from videovq.vldm.models import AutoencoderKLConfig, build_autoencoder


@dataclass
class ImageAutoencoderTrainConfig(RunConfig):
    """`videovq train image-autoencoder`.

    Args:
        model: architecture.
        data: training frames (clip_len is ignored: frames are drawn one at a time).
        optim: optimiser and batch (images per process per micro-step).
        kl_weight: weight of the KL term (small: the latent only needs to be roughly Gaussian for the UNet).
        ssim_weight: weight of (1 - SSIM) / 2 next to L1.
        steps / seed / mixed_precision / checkpoint_every / keep_checkpoints / log_every: see `RunConfig`.
    """

    model: AutoencoderKLConfig = field(default_factory=AutoencoderKLConfig)
    data: VideoDataConfig = field(default_factory=VideoDataConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-3, batch_size=16, warmup_steps=100))
    kl_weight: float = 1e-6
    ssim_weight: float = 0.2
    steps: int = 3000


class _ReconstructWithKL(torch.nn.Module):
    """`AutoencoderKL` round trip that also returns the KL term, in one forward (so DDP syncs its gradients)."""

    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, images: torch.Tensor, generator: torch.Generator | None = None):
        posterior = self.vae.encode(images).latent_dist
        return self.vae.decode(posterior.sample(generator)).sample, posterior.kl().mean()


def autoencoder_loss(
    model, images: torch.Tensor, config: ImageAutoencoderTrainConfig, generator=None
) -> tuple[torch.Tensor, dict]:
    """L1 + SSIM + KL of one batch; `model` is a (possibly DDP-wrapped) `_ReconstructWithKL`."""
    recon, kl = model(images, generator)
    l1 = (recon - images).abs().mean()
    ssim = kornia.losses.ssim_loss((recon + 1) / 2, (images + 1) / 2, window_size=11)
    total = l1 + config.ssim_weight * ssim + config.kl_weight * kl
    return total, {name: float(v.detach()) for name, v in (("l1", l1), ("ssim", ssim), ("kl", kl), ("total", total))}


def train_image_autoencoder(
    config: ImageAutoencoderTrainConfig,
    data: Sequence[str | Path],
    run_dir: str | Path,
    resume: bool = False,
    overwrite: bool = False,
    time_limit_minutes: float | None = None,
    cpu: bool = False,
) -> Path:
    """Train the autoencoder; returns ``RUN/model`` (a diffusers folder with ``vae/``) once all steps ran."""
    levels = len(config.model.block_out_channels)
    if config.data.size % 2 ** (levels - 1):
        raise InputError(f"data.size={config.data.size} must be a multiple of the downsampling {2 ** (levels - 1)}")
    accelerator, run = start_run(config, run_dir, resume, overwrite, cpu)
    sampler = make_sampler(config.data, data)
    torch.manual_seed(config.seed)
    vae = build_autoencoder(config.model, config.data.size)
    optimizer, scheduler = make_optimizer(vae.parameters(), config.optim, config.steps)
    start = resume_from(run, resume, vae, optimizer, scheduler, {}).step
    model, optimizer = accelerator.prepare(_ReconstructWithKL(vae), optimizer)
    batch_text, facts = batch_facts(config.optim, accelerator.num_processes, "frames")
    batches = batch_stream(sampler, config, start, accelerator.process_index)
    accelerator.print(f"{sampler}; {batch_text}")

    def step(step: int) -> dict[str, float]:
        return optimiser_step(
            model,
            optimizer,
            scheduler,
            config,
            step,
            accelerator,
            lambda rng: autoencoder_loss(
                model,
                batches.frame_batch(rng).to(accelerator.device),
                config,
                torch.Generator().manual_seed(int(rng.integers(2**62))),
            ),
        )

    model.train()
    done = run_steps(
        step,
        accelerator=accelerator,
        run=run,
        config=config,
        start=start,
        saved=vae,
        optimizer=optimizer,
        scheduler=scheduler,
        facts=facts,
        desc="train image autoencoder",
        time_limit_minutes=time_limit_minutes,
        batches=batches,
    )
    final = run / "model"
    if done and accelerator.is_main_process:
        vae.eval()
        scale = latent_scaling_factor(vae, sampler, config.seed, accelerator.device)
        vae.register_to_config(scaling_factor=scale)
        vae.save_pretrained(final / "vae", safe_serialization=True)
        accelerator.print(f"latent scaling factor {scale:.4f} (1 / std of the latents)")
    accelerator.wait_for_everyone()
    return final


@torch.no_grad()
def latent_scaling_factor(
    vae, sampler: ClipSampler, seed: int, device, batches: int = 8, batch_size: int = 32
) -> float:
    """1 / std of the latents over sampled frames, so the UNet sees unit-variance inputs (as SD's 0.18215 does)."""
    rng = np.random.default_rng([seed, 987654321])
    latents = [vae.encode(sample_frame_batch(sampler, rng, batch_size).to(device)).latent_dist.mean for _ in range(batches)]
    return float(1.0 / torch.cat(latents).std())
