"""`videovq train decoder`: finetune a VAE decoder with temporal layers against a 3-D-conv patch discriminator.

The encoder is frozen (the latent space, and with it every trained UNet, stays valid); the decoder side learns to
reconstruct clips from per-frame latents with L1 + SSIM, plus a hinge adversarial term from `PatchDiscriminator3D`
weighted adaptively as in VQGAN once `gan.start_step` is reached.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import kornia
import torch
from einops import rearrange

from videovq.data.clips import VideoDataConfig, make_sampler
from videovq.io.weights import save_weights
from videovq.tokenizer.discriminator import adaptive_weight, hinge_d_loss, hinge_g_loss
from videovq.train.common import GanConfig, OptimConfig, RunConfig, batch_facts, batch_stream, make_optimizer
from videovq.train.loop import discriminator_update, optimiser_step, resume_from, run_steps, start_run
from videovq.vldm.decoder import DECODER_WEIGHTS, DecoderWeights, TemporalDecoderConfig, inflate_decoder
from videovq.vldm.discriminator import PatchDiscriminator3D
from videovq.vldm.models import SHIPPED, load_vae


@dataclass
class DecoderTrainConfig(RunConfig):
    """`videovq train decoder` (steps, seed and the other run fields: `RunConfig`).

    Args:
        autoencoder: a folder with ``vae/`` (an image LDM, or RUN/model of `videovq train image-autoencoder`);
            "shipped" = the shipped image LDM.
        decoder: the temporal layers.
        data: training clips.
        optim: optimiser and batch (clips per process).
        ssim_weight: weight of (1 - SSIM) / 2 next to L1.
        temporal_weight: weight of the L1 between the reconstruction's and the clip's frame-to-frame differences:
            what the flicker metric measures, and what a per-pixel loss on each frame does not ask for.
        gan: the adversarial term (its weight multiplies VQGAN's adaptive weight).
    """

    autoencoder: str = SHIPPED
    decoder: TemporalDecoderConfig = field(default_factory=TemporalDecoderConfig)
    data: VideoDataConfig = field(default_factory=lambda: VideoDataConfig(clip_len=8))
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-4, batch_size=2, warmup_steps=50))
    ssim_weight: float = 0.2
    temporal_weight: float = 1.0
    gan: GanConfig = field(
        default_factory=lambda: GanConfig(weight=0.5, start_step=300, channels=32, layers=3, lr=2e-4)
    )
    steps: int = 1500


def reconstruction_loss(
    recon: torch.Tensor, clips: torch.Tensor, config: DecoderTrainConfig
) -> tuple[torch.Tensor, dict]:
    """L1 + SSIM per frame, + L1 of the frame-to-frame differences (B, 3, T, H, W)."""
    frames, target = (rearrange(x, "b c t h w -> (b t) c h w") for x in (recon, clips))
    l1 = (frames - target).abs().mean()
    ssim = kornia.losses.ssim_loss((frames + 1) / 2, (target + 1) / 2, window_size=11)
    temporal = (recon.diff(dim=2) - clips.diff(dim=2)).abs().mean()
    total = l1 + config.ssim_weight * ssim + config.temporal_weight * temporal
    return total, {"l1": float(l1.detach()), "ssim": float(ssim.detach()), "temporal": float(temporal.detach())}


def generator_step(model, disc, clips: torch.Tensor, latents: torch.Tensor, config: DecoderTrainConfig, last_layer):
    """The decoder's loss on one batch (+ the adaptively weighted adversarial term once the discriminator is on)."""
    recon = model(latents)
    total, values = reconstruction_loss(recon, clips, config)
    if disc is not None:
        g_loss = hinge_g_loss(disc(recon))
        weight = config.gan.weight * adaptive_weight(total, g_loss, last_layer)
        total = total + weight * g_loss
        values.update(g_loss=float(g_loss.detach()), gan_weight=float(weight))
    values["total"] = float(total.detach())
    return total, values, recon


def discriminator_step(disc, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Hinge loss of the 3-D patch discriminator on real clips vs their (detached) reconstructions."""
    return hinge_d_loss(disc(real), disc(fake))


def train_decoder(
    config: DecoderTrainConfig,
    data: Sequence[str | Path],
    run_dir: str | Path,
    resume: bool = False,
    overwrite: bool = False,
    time_limit_minutes: float | None = None,
    cpu: bool = False,
) -> Path:
    """Train the temporal decoder; returns ``RUN/model`` (decoder.safetensors + config.yaml) once all steps ran."""
    accelerator, run = start_run(config, run_dir, resume, overwrite, cpu)
    sampler = make_sampler(config.data, data)
    torch.manual_seed(config.seed)
    model = inflate_decoder(load_vae(config.autoencoder), config.decoder)
    model.requires_grad_(False)
    params = model.decoder_parameters()
    for p in params.values():
        p.requires_grad_(True)
    optimizer, scheduler = make_optimizer(list(params.values()), config.optim, config.steps)
    disc = PatchDiscriminator3D(config.gan.channels, config.gan.layers) if config.gan.weight > 0 else None
    disc_optimizer = torch.optim.AdamW(disc.parameters(), lr=config.gan.lr, betas=(0.5, 0.9)) if disc else None
    saved = DecoderWeights(model)
    state = resume_from(run, resume, saved, optimizer, scheduler, {"discriminator": disc} if disc else {})
    if disc is not None and "discriminator_optimizer" in state.extra:
        disc_optimizer.load_state_dict(state.extra["discriminator_optimizer"])
    vae = model.vae
    wrapped, optimizer = accelerator.prepare(model, optimizer)
    if disc is not None:
        disc, disc_optimizer = accelerator.prepare(disc, disc_optimizer)
    batch_text, facts = batch_facts(config.optim, accelerator.num_processes)
    batches = batch_stream(sampler, config, state.step, accelerator.process_index)
    accelerator.print(f"{sampler}; {batch_text}")

    def step(step: int) -> dict[str, float]:
        adversarial = disc is not None and step >= config.gan.start_step
        last: dict[str, torch.Tensor] = {}

        def loss_fn(rng):
            clips = batches.batch(rng).to(accelerator.device)
            generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
            with torch.no_grad():
                posterior = vae.encode(rearrange(clips, "b c t h w -> (b t) c h w")).latent_dist
                latents = rearrange(posterior.sample(generator), "(b t) c h w -> b c t h w", t=clips.shape[2])
            loss, values, recon = generator_step(
                wrapped, disc if adversarial else None, clips, latents, config, vae.decoder.conv_out.weight
            )
            last.update(real=clips, fake=recon)
            return loss, values

        values = optimiser_step(wrapped, optimizer, scheduler, config, step, accelerator, loss_fn)
        if adversarial:
            values["d_loss"] = discriminator_update(
                accelerator, disc_optimizer, lambda: discriminator_step(disc, last["real"], last["fake"].detach())
            )
        return values

    wrapped.train()
    done = run_steps(
        step,
        accelerator=accelerator,
        run=run,
        config=config,
        start=state.step,
        saved=saved,
        optimizer=optimizer,
        scheduler=scheduler,
        extras={"discriminator": accelerator.unwrap_model(disc)} if disc else {},
        extra_state=(lambda: {"discriminator_optimizer": disc_optimizer.state_dict()}) if disc else None,
        facts=facts,
        desc="train temporal decoder",
        time_limit_minutes=time_limit_minutes,
        batches=batches,
    )
    final = run / "model"
    if done and accelerator.is_main_process:
        final.mkdir(exist_ok=True)
        save_weights(final / DECODER_WEIGHTS, saved, config.decoder)
    accelerator.wait_for_everyone()
    return final
