"""Pieces every training loop shares: optimiser config, LR schedule, per-step RNG, progress and logs."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from tqdm import tqdm

from videovq.config import AT_LEAST_ONE, FRACTION, NON_NEGATIVE, Range, check_ranges
from videovq.data.clips import ClipSampler
from videovq.data.prefetch import BatchStream
from videovq.lr_schedule import warmup_cosine


@dataclass
class RunConfig:
    """The fields every training command's config shares (each trainer's config extends it).

    Args:
        steps: optimiser steps in total (the LR schedule is a function of it).
        seed: seeds the model init and every step's data.
        mixed_precision: "no", "fp16" or "bf16" (accelerate).
        checkpoint_every: steps between checkpoints.
        keep_checkpoints: how many checkpoints to keep.
        log_every: steps between log lines.
    """

    steps: int = 1000
    seed: int = 0
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    checkpoint_every: int = 250
    keep_checkpoints: int = 2
    log_every: int = 25

    def __post_init__(self):
        check_ranges(self, steps=AT_LEAST_ONE, seed=Range(0, 2**32 - 1), checkpoint_every=AT_LEAST_ONE)
        check_ranges(self, keep_checkpoints=AT_LEAST_ONE, log_every=AT_LEAST_ONE)


@dataclass
class OptimConfig:
    """AdamW with linear warm-up then cosine decay.

    Args:
        lr: peak learning rate (for the total batch; scale it yourself when you change the number of GPUs).
        betas: AdamW betas.
        weight_decay: AdamW weight decay.
        warmup_steps: linear warm-up length.
        min_lr_ratio: the cosine ends at lr * min_lr_ratio.
        grad_clip: max global gradient norm (0 = off).
        batch_size: clips per process per micro-step.
        grad_accum: micro-steps per optimiser step.
    """

    lr: float = 3e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.99])
    weight_decay: float = 0.0
    warmup_steps: int = 200
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    batch_size: int = 4
    grad_accum: int = 1

    def __post_init__(self):
        # lr 0 is allowed: it holds the weights where init_from put them (only the EMA codebook moves)
        check_ranges(self, lr=NON_NEGATIVE, betas=Range(0, 1, high_open=True), weight_decay=NON_NEGATIVE)
        check_ranges(self, warmup_steps=NON_NEGATIVE, min_lr_ratio=FRACTION, grad_clip=NON_NEGATIVE)
        check_ranges(self, batch_size=AT_LEAST_ONE, grad_accum=AT_LEAST_ONE)


@dataclass
class GanConfig:
    """An optional hinge patch-GAN term (VQGAN §3.2): sharper textures, at the price of a second network.

    Args:
        weight: weight of the generator's adversarial loss (0 = off).
        start_step: reconstruction-only warm-up before the discriminator starts.
        channels: discriminator width.
        layers: discriminator depth (stride-2 layers).
        lr: discriminator learning rate.
        adaptive: scale `weight` by |grad of the reconstruction loss| / |grad of the adversarial loss| at the
            decoder's last layer, every step (VQGAN eq. 7), so the adversarial pull stays a fixed share of the
            reconstruction's however the two losses' scales move.
    """

    weight: float = 0.0
    start_step: int = 2000
    channels: int = 64
    layers: int = 3
    lr: float = 1e-4
    adaptive: bool = False


def make_optimizer(params, cfg: OptimConfig, total_steps: int):
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: warmup_cosine(s, cfg.warmup_steps, total_steps, cfg.min_lr_ratio)
    )
    return optimizer, scheduler


def step_seed(seed: int, step: int, micro: int, rank: int) -> list[int]:
    """The seed of the RNG of one (step, micro-step, process)."""
    return [seed, step, micro, rank]


def step_rng(seed: int, step: int, micro: int, rank: int) -> np.random.Generator:
    """The data of each (step, micro-step, process) depends on nothing else, so a resumed run sees the same data."""
    return np.random.default_rng(step_seed(seed, step, micro, rank))


def batch_stream(sampler: ClipSampler, config, start: int, rank: int) -> BatchStream:
    """The batches of steps `start`.. of a run, drawn ahead by `config.data.workers` processes (in the order in
    which `optimiser_step` asks for them)."""
    steps = range(start, config.steps)
    seeds = (step_seed(config.seed, step, micro, rank) for step in steps for micro in range(config.optim.grad_accum))
    return BatchStream(sampler, config.optim.batch_size, config.data.workers, seeds)


class TrainLog:
    """Progress bar with ETA on the main process, and one JSON line per logged step in RUN/log.jsonl."""

    def __init__(self, run_dir: Path, start: int, total: int, main_process: bool, desc: str):
        self.main = main_process
        self.path = run_dir / "log.jsonl"
        self.bar = tqdm(total=total, initial=start, desc=desc, unit="step", disable=not main_process, dynamic_ncols=True)
        self.started = time.time()

    def update(self, step: int, values: dict[str, float], write: bool) -> None:
        if not self.main:
            return
        self.bar.update(1)
        if write:
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in values.items()}, refresh=False)
            with self.path.open("a") as f:
                f.write(json.dumps({"step": step, "time": round(time.time() - self.started, 2), **values}) + "\n")

    def record(self, values: dict) -> None:
        """One JSON line of run facts (e.g. the effective batch at the start), beside the step lines."""
        if self.main:
            with self.path.open("a") as f:
                f.write(json.dumps(values) + "\n")

    def message(self, text: str) -> None:
        if self.main:
            self.bar.write(text)

    def close(self) -> None:
        self.bar.close()


def batch_facts(cfg: OptimConfig, processes: int, unit: str = "clips") -> tuple[str, dict]:
    """The effective batch, as a sentence for the console and as a record for log.jsonl."""
    total = cfg.batch_size * cfg.grad_accum * processes
    text = f"batch {cfg.batch_size} x {cfg.grad_accum} accumulation x {processes} processes = {total} {unit} per step"
    return text, {"batch_size": cfg.batch_size, "grad_accum": cfg.grad_accum, "processes": processes, "effective_batch": total}


def make_accelerator(mixed_precision: str, cpu: bool = False):
    """An `Accelerator` that also runs multi-process on CPU-only machines (gloo) under `accelerate launch`.

    accelerate only forms a multi-CPU process group when asked for the CPU, so without a GPU we always ask.
    """
    from accelerate import Accelerator

    return Accelerator(mixed_precision=mixed_precision, cpu=cpu or not torch.cuda.is_available())
