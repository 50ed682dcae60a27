"""`videovq train vldm`: train only the temporal layers of an inflated, frozen image LDM on video clips.

Every clip is encoded frame by frame with the image model's (frozen) VAE; the first S frames of a clip, S drawn
from `context_frames`, are given as context (the paper's prediction model, which lets `generate` continue a clip)
and the loss covers the other frames. Only temporal parameters reach the optimiser; the shipped weights are their
exponential moving average. Checkpoints hold the temporal weights, their EMA, the optimiser and the config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

from videovq.data.clips import VideoDataConfig, make_sampler
from videovq.data.prefetch import BatchStream
from videovq.errors import InputError
from videovq.io.weights import load_weights, save_weights
from videovq.train.checkpoint import latest_checkpoint
from videovq.train.common import OptimConfig, RunConfig, batch_facts, batch_stream, make_optimizer
from videovq.train.loop import EMA, optimiser_step, resume_from, run_steps, start_run
from videovq.vldm.inflate import TemporalConfig, TemporalWeights, freeze_spatial, inflate, temporal_parameters
from videovq.vldm.models import SHIPPED, load_image_ldm
from videovq.vldm.noise import mixed_noise
from videovq.vldm.video_ldm import VideoLDMConfig, encode_prompt, encode_video


@dataclass
class VideoLDMTrainConfig(RunConfig):
    """`videovq train vldm` (steps, seed and the other run fields: `RunConfig`).

    Args:
        image_model: the frozen image LDM, a diffusers folder ("shipped" = ours).
        temporal: which temporal layers to insert.
        data: training clips (clip_len frames at the image model's resolution).
        optim: optimiser and batch (clips per process per micro-step).
        context_frames: the number of given leading frames is drawn from these for every clip.
        prompt: text for every clip when the image model is text-conditioned ("" = unconditional).
        ema_decay: decay of the temporal weights' moving average (the shipped weights).
        alpha_lr_scale: learning-rate multiplier of the mixing factors. Adam moves a parameter by about the learning
            rate per step, so at the layers' rate alpha could not travel from 1 towards 0 within a short run.
        noise_correlation: share of every clip's noise common to all its frames, in [0, 1): ``sqrt(rho) * shared +
            sqrt(1 - rho) * own`` per frame, still unit Gaussian per frame so the frozen image layers see the noise
            they were trained on (the "mixed noise" prior of Ge et al., ICCV 2023). 0 = independent frames.
        init_from: start the temporal layers from a trained video LDM ("shipped" or a ``RUN/model`` folder with the
            same temporal settings) to finetune it; "" = new layers, identity at initialisation.
    """

    image_model: str = SHIPPED
    temporal: TemporalConfig = field(default_factory=TemporalConfig)
    data: VideoDataConfig = field(default_factory=lambda: VideoDataConfig(clip_len=8))
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=2e-4, batch_size=4, warmup_steps=100))
    context_frames: list[int] = field(default_factory=lambda: [0, 1, 2])
    prompt: str = ""
    ema_decay: float = 0.995
    alpha_lr_scale: float = 20.0
    noise_correlation: float = 0.0
    init_from: str = ""
    steps: int = 3000


def video_diffusion_loss(
    model, noise_schedule, latents, context_mask, generator, encoder_hidden_states=None, noise_correlation=0.0
):
    """Epsilon MSE over the frames that are not given as context (one noise level per clip)."""
    batch = latents.shape[0]
    noise = mixed_noise(latents.shape, noise_correlation, generator).to(latents)
    t = torch.randint(0, noise_schedule.config.num_train_timesteps, (batch,), generator=generator).to(latents.device)
    noisy = noise_schedule.add_noise(latents, noise, t)
    pred = model(noisy, t, context=latents, context_mask=context_mask, encoder_hidden_states=encoder_hidden_states)
    weight = (~context_mask).to(pred.dtype)[:, None, :, None, None].expand_as(pred)
    return (F.mse_loss(pred.float(), noise.float(), reduction="none") * weight).sum() / weight.sum()


def draw_context_mask(
    rng: np.random.Generator, batch: int, frames: int, choices: Sequence[int], device
) -> torch.Tensor:
    counts = rng.choice(np.asarray(choices), size=batch)
    return torch.arange(frames, device=device)[None, :] < torch.as_tensor(counts, device=device)[:, None]


def train_video_ldm(
    config: VideoLDMTrainConfig,
    data: Sequence[str | Path],
    run_dir: str | Path,
    resume: bool = False,
    overwrite: bool = False,
    time_limit_minutes: float | None = None,
    cpu: bool = False,
) -> Path:
    """Train the temporal layers; returns ``RUN/model`` (temporal.safetensors + config.yaml) once all steps ran."""
    _check(config)
    accelerator, run = start_run(config, run_dir, resume, overwrite, cpu)
    sampler = make_sampler(config.data, data)  # bad data is refused before the image model is loaded
    image = _frozen_image_model(config, accelerator.device)
    torch.manual_seed(config.seed)
    video_unet = freeze_spatial(inflate(image.unet, config.temporal))
    if config.init_from and not (resume and latest_checkpoint(run)):  # a resumed run starts from its checkpoint
        _load_initial_temporal(video_unet, config.init_from)
    params = temporal_parameters(video_unet)
    optimizer, scheduler = make_optimizer(_param_groups(params, config), config.optim, config.steps)
    ema = EMA(params, config.ema_decay)
    saved = TemporalWeights(video_unet)
    start = resume_from(run, resume, saved, optimizer, scheduler, {"ema": ema}).step
    model, optimizer = accelerator.prepare(video_unet, optimizer)
    total = sum(p.numel() for p in params.values())
    frozen = sum(p.numel() for p in video_unet.parameters()) - total
    batch_text, facts = batch_facts(config.optim, accelerator.num_processes)
    batches = batch_stream(sampler, config, start, accelerator.process_index)
    accelerator.print(
        f"{sampler}; {batch_text}; training {total / 1e6:.2f}M temporal parameters, {frozen / 1e6:.2f}M spatial frozen"
    )
    text = _text_embeddings(image, config.prompt, accelerator.device)

    loss_fn = partial(clip_loss, model, image, batches, config, text, accelerator.device)

    def step(step: int) -> dict[str, float]:
        values = optimiser_step(model, optimizer, scheduler, config, step, accelerator, loss_fn)
        ema.update()
        alphas = [m.temporal_mix.alpha.item() for m in video_unet.modules() if hasattr(m, "temporal_mix")]
        values["alpha_mean"] = float(np.mean(alphas))
        return values

    model.train()
    done = run_steps(
        step,
        accelerator=accelerator,
        run=run,
        config=config,
        start=start,
        saved=saved,
        optimizer=optimizer,
        scheduler=scheduler,
        extras={"ema": ema},
        facts=facts,
        desc="train video LDM",
        time_limit_minutes=time_limit_minutes,
        batches=batches,
    )
    final = run / "model"
    if done and accelerator.is_main_process:
        ema.copy_to(params)  # what we ship is the average
        final.mkdir(exist_ok=True)
        save_weights(final / "temporal.safetensors", saved, model_config(config))
    accelerator.wait_for_everyone()
    return final


def clip_loss(
    model, image, batches: BatchStream, config: VideoLDMTrainConfig, text: torch.Tensor | None, device, rng: np.random.Generator
) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss of one batch of clips drawn from `rng`: encode, pick each clip's context frames, denoise the rest."""
    clips = batches.batch(rng).to(device)
    generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
    with torch.no_grad():
        latents = encode_video(image.vae, clips, image.latent_scale, generator)
    mask = draw_context_mask(rng, latents.shape[0], latents.shape[2], config.context_frames, latents.device)
    ehs = None if text is None else text.expand(latents.shape[0], -1, -1)
    loss = video_diffusion_loss(model, image.scheduler, latents, mask, generator, ehs, config.noise_correlation)
    return loss, {"mse": float(loss.detach())}


def model_config(config: VideoLDMTrainConfig) -> VideoLDMConfig:
    """What rebuilds the trained model (saved beside its weights)."""
    return VideoLDMConfig(
        config.image_model, config.temporal, config.data.clip_len, max(config.context_frames), config.noise_correlation
    )


def _check(config: VideoLDMTrainConfig) -> None:
    if max(config.context_frames) >= config.data.clip_len or min(config.context_frames) < 0:
        raise InputError(
            f"context_frames={config.context_frames}: each must be >= 0 and < data.clip_len={config.data.clip_len}"
        )
    if not 0.0 <= config.noise_correlation < 1.0:
        raise InputError(f"noise_correlation={config.noise_correlation}: use a value in [0, 1)")
    if max(config.context_frames) > 0 and not config.temporal.context:
        raise InputError("context_frames > 0 needs temporal.context=true (or set context_frames=[0])")


def _frozen_image_model(config: VideoLDMTrainConfig, device):
    """The image LDM on `device`, its VAE and text encoder frozen (the UNet is frozen after inflation)."""
    image = load_image_ldm(config.image_model).to(device)
    image.vae.requires_grad_(False).eval()
    if image.text_encoder is not None:
        image.text_encoder.requires_grad_(False).eval()
    downsample = 2 ** (len(image.vae.config.block_out_channels) - 1)
    if config.data.size % downsample:
        raise InputError(f"data.size={config.data.size} must be a multiple of the VAE's downsampling {downsample}")
    return image


def _param_groups(params: dict[str, torch.nn.Parameter], config: VideoLDMTrainConfig) -> list[dict]:
    """The temporal layers at the configured rate; the mixing factors faster (see `alpha_lr_scale`)."""
    alphas = [p for name, p in params.items() if name.endswith("temporal_mix.raw")]
    layers = [p for name, p in params.items() if not name.endswith("temporal_mix.raw")]
    return [
        {"params": layers},
        {"params": alphas, "lr": config.optim.lr * config.alpha_lr_scale, "weight_decay": 0.0},
    ]


def _load_initial_temporal(video_unet, init_from: str) -> None:
    """Load a trained video LDM's temporal weights into freshly inflated layers (`init_from`)."""
    from videovq.weights import vldm_path

    folder = vldm_path() if init_from == "shipped" else Path(init_from)
    try:
        load_weights(TemporalWeights(video_unet), folder / "temporal.safetensors")
    except (InputError, RuntimeError) as error:  # name the setting that pointed here, in one line
        raise InputError(f"init_from={init_from}: {str(error).splitlines()[0]}") from None


def _text_embeddings(image, prompt: str, device) -> torch.Tensor | None:
    """(1, L, D) embeddings of `prompt` for a text-conditioned image model, None otherwise."""
    if not image.text_conditioned:
        if prompt:
            raise InputError(f"prompt={prompt!r} given but the image model {image.path} is not text-conditioned")
        return None
    return encode_prompt(image, [prompt], device)
