"""Train the small image LDM we ship: first an `AutoencoderKL`, then a `UNet2DModel` on its latents.

No image LDM can be downloaded here, so the video LDM starts from one we train ourselves on data we may ship
(procedural scenes and crops of the bundled clip). Both stages run on accelerate like every trainer, resume after a
kill, and save diffusers folders, so the result loads exactly like a user's Stable Diffusion checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import kornia
import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

from videovq.data.clips import ClipSampler, build_sources, sample_batch
from videovq.errors import InputError
from videovq.train.common import OptimConfig, RunConfig, batch_facts, make_optimizer
from videovq.train.checkpoint import latest_checkpoint, load_weights
from videovq.train.loop import EMA, optimiser_step, resume_from, run_steps, start_run
from videovq.vldm.models import (
    AutoencoderKLConfig,
    ImageLDM,
    UNetConfig,
    build_autoencoder,
    build_unet,
    make_scheduler,
    resolve_image_model,
    save_image_ldm,
)


@dataclass
class VideoDataConfig:
    """Training clips for the diffusion side.

    Args:
        size: square frame size in pixels.
        clip_len: frames per clip (1 for the image stages).
        procedural_weight: share of clips drawn from procedural video.
        held_out_frames: the last frames of every training video, never trained on (kept for evaluation).
        strides: temporal strides to sample from.
    """

    size: int = 64
    clip_len: int = 1
    procedural_weight: float = 0.5
    held_out_frames: int = 16
    strides: list[int] = field(default_factory=lambda: [1, 2])


def make_sampler(config: VideoDataConfig, data: Sequence[str | Path]) -> ClipSampler:
    sources = build_sources(data, config.procedural_weight, held_out=config.held_out_frames)
    return ClipSampler(sources, config.clip_len, config.size, strides=config.strides)


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


@dataclass
class ImageUNetTrainConfig(RunConfig):
    """`videovq train image-ldm`: the denoising UNet over a trained autoencoder's latents.

    Args:
        autoencoder: folder of the trained autoencoder (``RUN/model`` of `videovq train image-autoencoder`).
        model: architecture.
        data: training frames.
        optim: optimiser and batch (images per process per micro-step).
        num_train_timesteps: diffusion steps of the training schedule.
        ema_decay: decay of the weights' moving average, which is what the finished model holds (diffusion
            samples are much cleaner from averaged weights); 0 saves the last weights instead.
        init_from: start from a trained image LDM's UNet ("shipped" or a ``RUN/model`` folder with the same
            architecture) instead of from random weights, e.g. to train the shipped model further on your frames.
        steps / seed / mixed_precision / checkpoint_every / keep_checkpoints / log_every: see `RunConfig`.
    """

    autoencoder: str = ""
    model: UNetConfig = field(default_factory=UNetConfig)
    data: VideoDataConfig = field(default_factory=VideoDataConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=5e-4, batch_size=32, warmup_steps=200))
    num_train_timesteps: int = 1000
    ema_decay: float = 0.999
    init_from: str = ""
    steps: int = 8000


def _frames(sampler: ClipSampler, rng: np.random.Generator, batch_size: int, device) -> torch.Tensor:
    """`batch_size` single frames (B, 3, H, W) in [-1, 1]."""
    clips = sample_batch(sampler, rng, batch_size)
    return rearrange(clips[:, :, :1], "b c t h w -> (b t) c h w").to(device)


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
                _frames(sampler, rng, config.optim.batch_size, accelerator.device),
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
    latents = [vae.encode(_frames(sampler, rng, batch_size, device)).latent_dist.mean for _ in range(batches)]
    return float(1.0 / torch.cat(latents).std())


def diffusion_loss(
    unet, scheduler, latents: torch.Tensor, generator: torch.Generator, class_labels=None
) -> torch.Tensor:
    """Epsilon-prediction MSE at uniformly drawn timesteps (one timestep per sample)."""
    noise = torch.randn(latents.shape, generator=generator).to(latents)
    t = torch.randint(0, scheduler.config.num_train_timesteps, (latents.shape[0],), generator=generator).to(
        latents.device
    )
    noisy = scheduler.add_noise(latents, noise, t)
    pred = unet(noisy, t, class_labels=class_labels).sample
    return F.mse_loss(pred.float(), noise.float())


def train_image_unet(
    config: ImageUNetTrainConfig,
    data: Sequence[str | Path],
    run_dir: str | Path,
    resume: bool = False,
    overwrite: bool = False,
    time_limit_minutes: float | None = None,
    cpu: bool = False,
) -> Path:
    """Train the denoising UNet; returns ``RUN/model``, a complete image LDM folder (unet/, vae/, scheduler/)."""
    if not config.autoencoder:
        raise InputError("no autoencoder given: --set autoencoder=RUN/model (from `videovq train image-autoencoder`)")
    accelerator, run = start_run(config, run_dir, resume, overwrite, cpu)
    from diffusers import AutoencoderKL

    ae_folder = Path(config.autoencoder)
    if not (ae_folder / "vae" / "config.json").exists():
        raise InputError(f"{ae_folder}: no vae/ folder here; pass RUN/model of `videovq train image-autoencoder`")
    vae = AutoencoderKL.from_pretrained(ae_folder, subfolder="vae", local_files_only=True).to(accelerator.device).eval()
    vae.requires_grad_(False)
    sampler = make_sampler(config.data, data)
    downsample = 2 ** (len(vae.config.block_out_channels) - 1)
    torch.manual_seed(config.seed)
    unet = build_unet(config.model, vae.config.latent_channels, config.data.size // downsample)
    if config.init_from and not (resume and latest_checkpoint(run)):  # a resumed run starts from its checkpoint
        _load_initial_unet(unet, config.init_from)
    noise_schedule = make_scheduler(config.num_train_timesteps)
    optimizer, scheduler = make_optimizer(unet.parameters(), config.optim, config.steps)
    params = dict(unet.named_parameters())
    extras = {"ema": EMA(params, config.ema_decay)} if config.ema_decay > 0 else {}
    start = resume_from(run, resume, unet, optimizer, scheduler, extras).step
    model, optimizer = accelerator.prepare(unet, optimizer)
    batch_text, facts = batch_facts(config.optim, accelerator.num_processes, "frames")
    accelerator.print(f"{sampler}; {batch_text}")
    scale = float(vae.config.scaling_factor)

    def loss_fn(rng):
        frames = _frames(sampler, rng, config.optim.batch_size, accelerator.device)
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        with torch.no_grad():
            latents = vae.encode(frames).latent_dist.sample(generator) * scale
        loss = diffusion_loss(model, noise_schedule, latents, generator)
        return loss, {"mse": float(loss.detach())}

    def step(step: int) -> dict[str, float]:
        values = optimiser_step(model, optimizer, scheduler, config, step, accelerator, loss_fn)
        for ema in extras.values():
            ema.update()
        return values

    model.train()
    done = run_steps(
        step,
        accelerator=accelerator,
        run=run,
        config=config,
        start=start,
        saved=accelerator.unwrap_model(model),
        optimizer=optimizer,
        scheduler=scheduler,
        extras=extras,
        facts=facts,
        desc="train image LDM",
        time_limit_minutes=time_limit_minutes,
    )
    final = run / "model"
    if done and accelerator.is_main_process:
        for ema in extras.values():
            ema.copy_to(params)
        save_image_ldm(ImageLDM(accelerator.unwrap_model(model), vae, noise_schedule), final)
    accelerator.wait_for_everyone()
    return final


def _load_initial_unet(unet, init_from: str) -> None:
    """Load a trained image LDM's UNet weights into the freshly built one (`init_from`)."""
    folder = resolve_image_model(init_from) / "unet"
    try:
        load_weights(unet, folder / "diffusion_pytorch_model.safetensors")
    except InputError as error:  # name the setting that pointed here, in one line
        raise InputError(f"init_from={init_from}: {error}") from None
    except RuntimeError:  # torch's multi-line list of mismatched tensors
        raise InputError(
            f"init_from={init_from}: its UNet has another architecture than this config's model section; "
            f"use the model settings it was trained with ({folder / 'config.json'})"
        ) from None
