"""`videovq train image-ldm`: the denoising `UNet2DModel` of the small image LDM over a trained autoencoder's
latents (stage 2 of 2); saves a complete image LDM folder (unet/, vae/, scheduler/)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

from videovq.data.clips import VideoDataConfig, make_sampler
from videovq.errors import InputError
from videovq.io.weights import load_weights
from videovq.train.checkpoint import latest_checkpoint
from videovq.train.common import OptimConfig, RunConfig, batch_facts, batch_stream, make_optimizer
from videovq.train.loop import EMA, optimiser_step, resume_from, run_steps, start_run
from videovq.vldm.models import ImageLDM, UNetConfig, build_unet, make_scheduler, resolve_image_model, save_image_ldm


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
    batches = batch_stream(sampler, config, start, accelerator.process_index)
    accelerator.print(f"{sampler}; {batch_text}")
    scale = float(vae.config.scaling_factor)

    def loss_fn(rng):
        frames = batches.frame_batch(rng).to(accelerator.device)
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
        batches=batches,
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
