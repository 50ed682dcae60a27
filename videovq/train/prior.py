"""`videovq train prior`: the general masked-token prior, trained on the token grids of the corpus.

Clips come from `--data` as for the tokenizer (a corpus folder, videos, ...), are quantised by the frozen general
tokenizer (`tokenizer`, default the shipped one) and some of their tokens are hidden behind the completion token;
the transformer learns to predict them (MaskGIT, Chang et al. 2022, §3.2). Three kinds of holes, so the prior
meets what inpainting will ask of it:

* **random**: each token hidden with probability cos(pi/2 * u), u ~ U(0, 1) (MaskGIT's cosine schedule: from
  almost nothing hidden to almost everything);
* **mask-shaped**: strokes, blobs and boxes at token resolution (`videovq.io.mask_shapes`), plus a scatter;
* **static box**: one rectangle of `box_area` of the frame, the same in every frame (a logo, a subtitle band:
  where nothing can be propagated from other frames).

Every step's data, holes and dropout are drawn from the step's seed, and checkpoints hold the model, optimiser and
schedule, so a run killed at any point resumes to the same weights as an uninterrupted one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from videovq.data.clips import VideoDataConfig, make_sampler
from videovq.errors import InputError
from videovq.inpaint.prior import PriorConfig, build_prior, load_prior
from videovq.inpaint.transformer import TransformerConfig
from videovq.io.mask_shapes import random_mask_like
from videovq.tokenizer.autoencoder import VQAutoencoder, load_tokenizer
from videovq.io.weights import save_weights
from videovq.train.common import OptimConfig, RunConfig, batch_facts, batch_stream, make_optimizer
from videovq.train.checkpoint import latest_checkpoint
from videovq.train.loop import optimiser_step, resume_from, run_steps, start_run


@dataclass
class PriorMaskConfig:
    """How often each kind of hole is drawn (relative weights), and the static boxes' size.

    Args:
        random: MaskGIT's cosine-scheduled random hiding.
        shaped: strokes / blobs / boxes like real masks.
        box: one static box in every frame.
        box_area: range of the static box's area as a fraction of the frame.
    """

    random: float = 0.4
    shaped: float = 0.4
    box: float = 0.2
    box_area: list[float] = field(default_factory=lambda: [0.02, 0.25])


@dataclass
class PriorTrainConfig(RunConfig):
    """Everything a prior training run needs (stored in the run folder and every checkpoint).

    Args:
        model: the transformer (the per-video transformer's architecture; it predicts all general codes).
        masks: kinds of holes.
        data: training clips.
        optim: optimiser and batch.
        tokenizer: the frozen general tokenizer ("shipped" or a model folder).
        init_from: start from a trained prior's weights (its model folder or a checkpoint of its run) with this
            config's architecture and codebank, instead of a random initialisation (a resumed run starts from its
            checkpoint); e.g. to continue on a CPU, with a new schedule, a run trained elsewhere.
    """

    model: TransformerConfig = field(default_factory=TransformerConfig)
    masks: PriorMaskConfig = field(default_factory=PriorMaskConfig)
    data: VideoDataConfig = field(
        default_factory=lambda: VideoDataConfig(size=128, clip_len=4, procedural_weight=0.2)
    )
    optim: OptimConfig = field(default_factory=OptimConfig)
    tokenizer: str = "shipped"
    init_from: str = ""
    steps: int = 20000
    checkpoint_every: int = 250


def train_prior(
    config: PriorTrainConfig,
    data: Sequence[str | Path],
    run_dir: str | Path,
    resume: bool = False,
    overwrite: bool = False,
    time_limit_minutes: float | None = None,
    cpu: bool = False,
) -> Path:
    """Train (or continue training) the prior; returns ``RUN/model`` (written once all steps ran)."""
    tokenizer = _frozen_tokenizer(config.tokenizer)
    if config.data.size % tokenizer.downsample:
        raise InputError(f"data.size={config.data.size} must be a multiple of the downsampling {tokenizer.downsample}")
    accelerator, run = start_run(config, run_dir, resume, overwrite, cpu)
    sampler = make_sampler(config.data, data)
    torch.manual_seed(config.seed)
    num_codes = tokenizer.config.codebook_size
    model = build_prior(PriorConfig(config.model, num_codes), tokenizer.quantizer.codebook.detach())
    optimizer, scheduler = make_optimizer(model.parameters(), config.optim, config.steps)
    if config.init_from and not (resume and latest_checkpoint(run)):  # a resumed run starts from its checkpoint
        _load_initial_weights(model, config.init_from)
    state = resume_from(run, resume, model, optimizer, scheduler, {})
    model, optimizer = accelerator.prepare(model, optimizer)
    tokenizer = tokenizer.to(accelerator.device)
    batch_text, facts = batch_facts(config.optim, accelerator.num_processes)
    batches = batch_stream(sampler, config, state.step, accelerator.process_index)
    accelerator.print(f"{sampler}; {batch_text}" + (f"; resumed at step {state.step}" if state.step else ""))

    def step(step: int) -> dict[str, float]:
        torch.manual_seed(config.seed * 1_000_003 + step)  # dropout: a function of the step, like the data

        def loss_fn(rng):
            clips = batches.batch(rng).to(accelerator.device)
            return masked_token_loss(model, tokenizer, clips, rng, config.masks, num_codes)

        return optimiser_step(model, optimizer, scheduler, config, step, accelerator, loss_fn)

    model.train()
    done = run_steps(
        step,
        accelerator=accelerator,
        run=run,
        config=config,
        start=state.step,
        saved=accelerator.unwrap_model(model),
        optimizer=optimizer,
        scheduler=scheduler,
        facts=facts,
        desc="train prior",
        time_limit_minutes=time_limit_minutes,
        batches=batches,
    )
    final = run / "model"
    if done and accelerator.is_main_process:
        final.mkdir(exist_ok=True)
        save_weights(final / "model.safetensors", accelerator.unwrap_model(model), PriorConfig(config.model, num_codes))
    accelerator.wait_for_everyone()
    return final


def _load_initial_weights(model, init_from: str) -> None:
    trained = load_prior(init_from)
    if trained.config != model.config or trained.num_codes != model.num_codes:
        raise InputError(
            f"init_from={init_from}: that prior has another architecture or codebank ({trained.num_codes} codes) "
            f"than this run ({model.num_codes} codes); copy its model section or start from scratch"
        )
    model.load_state_dict(trained.state_dict(), strict=True)


def _frozen_tokenizer(name: str) -> VQAutoencoder:
    from videovq.weights import tokenizer_path

    tokenizer = load_tokenizer(tokenizer_path() if name == "shipped" else name)
    for p in tokenizer.parameters():
        p.requires_grad_(False)
    return tokenizer.eval()


def masked_token_loss(
    model, tokenizer: VQAutoencoder, clips: torch.Tensor, rng: np.random.Generator, masks: PriorMaskConfig,
    completion: int,
):  # fmt: skip
    """Cross-entropy of the hidden tokens of `clips` (B, 3, T, H, W); `completion` is the completion token (the
    codebank's size). Returns (loss, values to log)."""
    with torch.no_grad():
        tokens = tokenizer.encode(clips).indices  # (B, T, h, w) general codes
    b, t, h, w = tokens.shape
    hidden = torch.from_numpy(np.stack([hole_mask(rng, t, h, w, masks) for _ in range(b)])).to(tokens.device)
    logits = model(tokens.masked_fill(hidden, completion))  # (B, T, h, w, K)
    picked, target = logits[hidden], tokens[hidden]  # (N, K), (N,)
    loss = F.cross_entropy(picked, target)
    accuracy = (picked.argmax(-1) == target).float().mean()
    values = {"loss": float(loss.detach()), "accuracy": float(accuracy), "hidden": float(hidden.float().mean())}
    return loss, values


def hole_mask(rng: np.random.Generator, t: int, h: int, w: int, masks: PriorMaskConfig) -> np.ndarray:
    """One training hole (T, h, w) bool, True = hidden; never empty, never the whole clip."""
    weights = np.array([masks.random, masks.shaped, masks.box], np.float64)
    kind = int(rng.choice(3, p=weights / weights.sum()))
    if kind == 0:
        ratio = math.cos(math.pi / 2 * rng.uniform(0, 1))
        hole = rng.random((t, h, w)) < ratio
    elif kind == 1:
        hole = random_mask_like(rng, t, h, w) | (rng.random((t, h, w)) < rng.uniform(0, 0.2))
    else:
        area = rng.uniform(*masks.box_area) * h * w
        aspect = math.exp(rng.uniform(-1.2, 1.2))  # width / height, up to a subtitle-like band
        bh = int(np.clip(round(math.sqrt(area / aspect)), 1, h))
        bw = int(np.clip(round(area / bh), 1, w))
        y0, x0 = int(rng.integers(h - bh + 1)), int(rng.integers(w - bw + 1))
        hole = np.zeros((t, h, w), bool)
        hole[:, y0 : y0 + bh, x0 : x0 + bw] = True
    flat = hole.reshape(-1)
    if not flat.any():
        flat[int(rng.integers(flat.size))] = True
    if flat.all():
        flat[int(rng.integers(flat.size))] = False
    return hole
