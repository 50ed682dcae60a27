"""`videovq train tokenizer`: pretrain the general VQ tokenizer on clips, with accelerate.

Same code on one CPU, one GPU or many (launch with `accelerate launch`); only the config changes. Every step's
data is drawn from an RNG seeded by (seed, step, micro-step, process), and checkpoints hold the model, optimiser
and schedule, so a run killed at any point resumes to the same weights as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Sequence

import torch

from videovq.data.clips import VideoDataConfig, make_sampler
from videovq.errors import InputError
from videovq.tokenizer.autoencoder import AutoencoderConfig, VQAutoencoder
from videovq.tokenizer.discriminator import (
    PatchDiscriminator,
    adaptive_weight,
    hinge_d_loss,
    hinge_g_loss,
    video_frames,
)
from videovq.tokenizer.losses import LossWeights, tokenizer_loss
from videovq.io.weights import load_weights, read_config, save_weights
from videovq.train.checkpoint import latest_checkpoint
from videovq.train.common import GanConfig, OptimConfig, RunConfig, batch_facts, batch_stream, make_optimizer
from videovq.train.loop import discriminator_update, optimiser_step, resume_from, run_steps, start_run


@dataclass
class TokenizerTrainConfig(RunConfig):
    """Everything a tokenizer training run needs (stored in the run folder and every checkpoint); the run fields
    (steps, seed, mixed_precision, checkpointing, logging) are `RunConfig`'s.

    Args:
        model: architecture.
        loss: loss weights.
        gan: optional adversarial term.
        data: training clips (the aggregation block needs clip_len >= its window to learn anything).
        optim: optimiser and batch.
        restart_dead_every: steps between dead-code restarts (0 = never).
        init_from: start from a trained tokenizer's weights ("shipped", or a model folder) of the same
            architecture, instead of a random initialisation (a resumed run starts from its checkpoint). A
            config whose model has no aggregation block may start from a tokenizer with one: the block is left out.
        decoder_only: train only the decoder; the encoder and codebook stay those of `init_from`, so the codes, and
            a prior trained over them, stay valid. With `model.aggregation: none` the decoder learns to render each
            frame alone, as inpainting decodes.
    """

    model: AutoencoderConfig = field(default_factory=AutoencoderConfig)
    loss: LossWeights = field(default_factory=LossWeights)
    gan: GanConfig = field(default_factory=GanConfig)
    data: VideoDataConfig = field(
        default_factory=lambda: VideoDataConfig(size=128, clip_len=4, procedural_weight=0.3)
    )
    optim: OptimConfig = field(default_factory=OptimConfig)
    steps: int = 20000
    checkpoint_every: int = 500
    restart_dead_every: int = 100
    init_from: str = ""
    decoder_only: bool = False

    def __post_init__(self):
        super().__post_init__()
        if self.decoder_only and not self.init_from:
            raise InputError("decoder_only=true needs init_from (the tokenizer whose encoder and codebook it keeps)")


def train_tokenizer(
    config: TokenizerTrainConfig,
    data: Sequence[str | Path],
    run_dir: str | Path,
    resume: bool = False,
    overwrite: bool = False,
    time_limit_minutes: float | None = None,
    cpu: bool = False,
) -> Path:
    """Train (or continue training) a tokenizer; returns ``RUN/model``, which exists once all steps ran.

    Args:
        config: the run's config.
        data: video files, frame folders, `images:FOLDER`, image files, or `procedural`.
        run_dir: where checkpoints, logs and the final model go.
        resume: continue from the newest checkpoint in `run_dir`.
        overwrite: delete an existing run in `run_dir` and start again.
        time_limit_minutes: stop cleanly after this long, with a checkpoint and without ``RUN/model``; continue
            later with `resume`.
        cpu: force the CPU even when a GPU is visible.
    """
    if config.data.size % config.model.downsample:
        raise InputError(f"data.size={config.data.size} must be a multiple of the downsampling {config.model.downsample}")
    accelerator, run = start_run(config, run_dir, resume, overwrite, cpu)
    sampler = make_sampler(config.data, data)
    torch.manual_seed(config.seed)
    model = VQAutoencoder(config.model)
    if config.decoder_only:
        model.requires_grad_(False)
        model.decoder.requires_grad_(True)
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer, scheduler = make_optimizer(trained, config.optim, config.steps)
    gan = _build_gan(config.gan)
    if config.init_from and not (resume and latest_checkpoint(run)):  # a resumed run starts from its checkpoint
        _load_initial_weights(model, config.init_from)
    state = resume_from(run, resume, model, optimizer, scheduler, {"discriminator": gan.disc} if gan else {})
    if gan is not None and state.step > 0:
        gan.optimizer.load_state_dict(state.extra["discriminator_optimizer"])
    model, optimizer = accelerator.prepare(model, optimizer)
    if gan is not None:
        gan = _Gan(*accelerator.prepare(gan.disc, gan.optimizer))
    quantizer = accelerator.unwrap_model(model).quantizer
    quantizer.sync_processes = accelerator.num_processes > 1
    batch_text, facts = batch_facts(config.optim, accelerator.num_processes)
    batches = batch_stream(sampler, config, state.step, accelerator.process_index)
    accelerator.print(f"{sampler}; {batch_text}" + (f"; resumed at step {state.step}" if state.step else ""))

    def step(step: int) -> dict[str, float]:
        values = {}
        if config.restart_dead_every and step and step % config.restart_dead_every == 0 and not config.decoder_only:
            # Before the step rather than after the previous one: a checkpoint taken between the two then holds all
            # the restart reads (the quantizer's pool of recent outputs), and a resume restarts the same codes.
            values["restarted"] = _restart_dead_codes(quantizer, config.seed, step, accelerator)
        values.update(_train_step(model, optimizer, scheduler, batches, config, step, accelerator, gan))
        values["codes_alive"] = quantizer.fraction_in_use()
        return values

    model.train()
    if config.decoder_only:
        quantizer.eval()  # no EMA codebook updates: the codes must stay init_from's
    done = run_steps(
        step,
        accelerator=accelerator,
        run=run,
        config=config,
        start=state.step,
        saved=accelerator.unwrap_model(model),
        optimizer=optimizer,
        scheduler=scheduler,
        extras={"discriminator": accelerator.unwrap_model(gan.disc)} if gan else {},
        extra_state=(lambda: {"discriminator_optimizer": gan.optimizer.state_dict()}) if gan else None,
        facts=facts,
        desc="train tokenizer",
        time_limit_minutes=time_limit_minutes,
        batches=batches,
    )
    final = run / "model"
    if done and accelerator.is_main_process:
        final.mkdir(exist_ok=True)
        save_weights(final / "model.safetensors", accelerator.unwrap_model(model), config.model)
    accelerator.wait_for_everyone()
    return final


def _load_initial_weights(model: VQAutoencoder, init_from: str) -> None:
    """`init_from`: the weights of a trained tokenizer with this config's architecture."""
    from videovq.weights import tokenizer_path

    folder = tokenizer_path() if init_from == "shipped" else Path(init_from)
    source = read_config(AutoencoderConfig, folder, section="model")
    drop_aggregation = model.config.aggregation == "none" and source.aggregation != "none"
    if drop_aggregation:
        source = dataclasses.replace(source, aggregation="none", aggregation_window=model.config.aggregation_window)
    if source != model.config:
        raise InputError(
            f"init_from={init_from}: that tokenizer has another architecture than this config's model section; "
            "copy its model section or start from scratch"
        )
    skipped = load_weights(model, folder / "model.safetensors", strict=not drop_aggregation)
    mismatched = [key for key in skipped if not key.startswith("aggregation.")]
    if mismatched:
        raise InputError(f"init_from={init_from}: its weights do not match its config.yaml ({mismatched[0]})")


class _Gan(NamedTuple):
    disc: torch.nn.Module
    optimizer: torch.optim.Optimizer


def _build_gan(config: GanConfig) -> _Gan | None:
    if config.weight <= 0:
        return None
    disc = PatchDiscriminator(config.channels, config.layers)
    return _Gan(disc, torch.optim.AdamW(disc.parameters(), lr=config.lr, betas=(0.5, 0.9)))


def _train_step(model, optimizer, scheduler, batches, config: TokenizerTrainConfig, step: int, accelerator, gan) -> dict:
    adversarial = gan is not None and step >= config.gan.start_step
    last: dict[str, torch.Tensor] = {}

    def loss_fn(rng):
        batch = batches.batch(rng).to(accelerator.device)
        loss, values, recon = generator_step(model, gan.disc if adversarial else None, batch, config)
        last.update(real=batch, fake=recon)
        return loss, values

    totals = optimiser_step(model, optimizer, scheduler, config, step, accelerator, loss_fn)
    if adversarial:
        # Judge the last micro-batch's reconstruction rather than running the tokenizer (and its EMA) again.
        totals["d_loss"] = discriminator_update(
            accelerator, gan.optimizer, lambda: discriminator_step(gan.disc, last["real"], last["fake"].detach())
        )
    return totals


def generator_step(
    model, disc, batch: torch.Tensor, config: TokenizerTrainConfig
) -> tuple[torch.Tensor, dict, torch.Tensor]:
    """The tokenizer's loss on one batch (+ the adversarial term once the discriminator is on).

    Returns the loss to backpropagate, the values to log, and the reconstruction (for the discriminator step).
    """
    loss = tokenizer_loss(model, batch, None, config.loss)
    total = loss.total
    values = {name: float(getattr(loss, name).detach()) for name in LOGGED}
    if disc is not None:
        g_loss = hinge_g_loss(disc(video_frames(loss.recon)))
        weight = config.gan.weight
        if config.gan.adaptive:
            weight = weight * float(adaptive_weight(total, g_loss, getattr(model, "module", model).decoder.last_layer))
            values["gan_weight"] = weight
        total = total + weight * g_loss
        values["g_loss"] = float(g_loss.detach())
    values["total"] = float(total.detach())
    return total, values, loss.recon


def discriminator_step(disc, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Hinge loss of the patch discriminator on real clips vs their (detached) reconstructions."""
    return hinge_d_loss(disc(video_frames(real)), disc(video_frames(fake)))


LOGGED = ("l1", "ssim", "gradient", "commit", "perplexity", "codes_used")


def _restart_dead_codes(quantizer, seed: int, step: int, accelerator) -> float:
    generator = torch.Generator(device=quantizer.usage.device).manual_seed(seed * 1_000_003 + step)
    restarted = quantizer.restart_dead_codes(generator) if accelerator.is_main_process else 0
    if accelerator.num_processes > 1:
        # Processes saw different batches; rank 0's restarted codebook becomes everyone's.
        for tensor in (quantizer.codebook, quantizer.usage, *_ema_buffers(quantizer)):
            torch.distributed.broadcast(tensor.data, 0)
    return float(restarted)


def _ema_buffers(quantizer):
    return (quantizer.ema_sum, quantizer.ema_count) if quantizer.update == "ema" else ()
