"""The step loop every trainer shares: steps, progress/ETA, logs, checkpoints, time limit, resume.

Each trainer builds its models and a `step(step) -> dict of logged values` function; this runs it. What goes into
a checkpoint is given as objects with ``state_dict()`` / ``load_state_dict()`` (a module, or a view of part of one
such as the temporal layers of an inflated UNet), so a run can save only what it trains.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any, Callable

import torch

from videovq.data.prefetch import BatchStream
from videovq.train.checkpoint import (
    TrainerState,
    latest_checkpoint,
    load_checkpoint,
    load_weights,
    prepare_run_dir,
    save_checkpoint,
)
from videovq.train.common import TrainLog, make_accelerator, step_rng


def start_run(config: Any, run_dir: str | Path, resume: bool, overwrite: bool, cpu: bool):
    """The accelerator, and the run folder prepared by the main process (refusing to clobber another run)."""
    accelerator = make_accelerator(config.mixed_precision, cpu)
    run = Path(run_dir)
    if accelerator.is_main_process:
        prepare_run_dir(run, config, resume, overwrite)
    accelerator.wait_for_everyone()
    return accelerator, run


def resume_from(run: Path, resume: bool, model: Any, optimizer, scheduler, extras: dict[str, Any]) -> TrainerState:
    """Load the newest checkpoint of `run` into the given objects (when resuming).

    Returns the step to start at and what the loop saved beside the optimiser (`extra_state` of `run_steps`).
    """
    checkpoint = latest_checkpoint(run) if resume else None
    if checkpoint is None:
        return TrainerState(0, {})
    state = load_checkpoint(checkpoint, model, optimizer, scheduler)
    for name, obj in extras.items():
        load_weights(obj, checkpoint / f"{name}.safetensors")
    return state


def run_steps(
    step_fn: Callable[[int], dict[str, float]],
    *,
    accelerator,
    run: Path,
    config: Any,
    start: int,
    saved: Any,
    optimizer,
    scheduler,
    extras: dict[str, Any] | None = None,
    extra_state: Callable[[], dict[str, Any]] | None = None,
    facts: dict[str, Any] | None = None,
    desc: str,
    time_limit_minutes: float | None = None,
    batches: BatchStream | None = None,
) -> bool:
    """Run steps `start`..`config.steps`, checkpointing every `config.checkpoint_every` and at the end.

    Args:
        step_fn: does one optimiser step and returns the values to log.
        saved: what the checkpoint's model.safetensors holds (object with state_dict()).
        extras: further objects saved beside it as NAME.safetensors (an EMA, a discriminator).
        extra_state: returns further state for trainer.pt (a discriminator's optimiser); `resume_from` gives it back.
        facts: written to log.jsonl before the first step (the effective batch, see `batch_facts`).
        batches: the run's `BatchStream`, closed (its workers stopped) when the loop ends.

    Returns:
        True when all steps ran, False when the time limit stopped the run early (resume later).
    """
    try:
        log = TrainLog(run, start, config.steps, accelerator.is_main_process, desc)
        if facts:
            log.record({"start_step": start, **facts})
        deadline = time.time() + 60 * time_limit_minutes if time_limit_minutes else None
        step = start
        while step < config.steps:
            values = step_fn(step)
            values["lr"] = scheduler.get_last_lr()[0]
            step += 1
            log.update(step, values, write=step % config.log_every == 0 or step == config.steps)
            out_of_time = deadline is not None and time.time() > deadline
            if step % config.checkpoint_every == 0 or step == config.steps or out_of_time:
                if accelerator.is_main_process:
                    extra = extra_state() if extra_state is not None else None
                    save_checkpoint(
                        run, step, saved, config, optimizer, scheduler, extra, config.keep_checkpoints, extras or {}
                    )
                accelerator.wait_for_everyone()
            if out_of_time:
                log.message(f"time limit reached at step {step}/{config.steps}; continue with --resume")
                log.close()
                return False
        log.close()
        return True
    finally:
        if batches is not None:
            batches.close()


class EMA:
    """Exponential moving average of some parameters (the weights we ship are the average, not the last step's).

    Args:
        named_parameters: ``{name: parameter}`` to follow.
        decay: weight of the old average per step; warmed up as ``min(decay, (1 + n) / (10 + n))`` so early
            averages are not dominated by the random initialisation.
    """

    def __init__(self, named_parameters: dict[str, torch.nn.Parameter], decay: float):
        self.params = named_parameters
        self.decay = decay
        self.updates = 0
        self.shadow = {name: p.detach().clone().float() for name, p in named_parameters.items()}

    @torch.no_grad()
    def update(self) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for name, p in self.params.items():
            self.shadow[name].lerp_(p.detach().float(), 1 - decay)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {**self.shadow, "__updates__": torch.tensor(self.updates)}

    def load_state_dict(self, state: dict[str, torch.Tensor], strict: bool = True):
        state = dict(state)
        self.updates = int(state.pop("__updates__", torch.tensor(0)))
        missing = sorted(set(self.shadow) - set(state))
        unexpected = sorted(set(state) - set(self.shadow))
        if strict and (missing or unexpected):
            raise KeyError(f"EMA state does not match: missing {missing[:3]}, unexpected {unexpected[:3]}")
        for name, value in state.items():
            if name in self.shadow:
                self.shadow[name].copy_(value)
        return torch.nn.modules.module._IncompatibleKeys(missing, unexpected)

    @torch.no_grad()
    def copy_to(self, named_parameters: dict[str, torch.nn.Parameter]) -> None:
        for name, p in named_parameters.items():
            p.copy_(self.shadow[name].to(p.dtype))


def optimiser_step(model, optimizer, scheduler, config, step: int, accelerator, loss_fn) -> dict[str, float]:
    """One optimiser step over `grad_accum` micro-batches; `loss_fn(rng)` -> (loss, values to log)."""
    accum = config.optim.grad_accum
    totals: dict[str, float] = {}
    for micro in range(accum):
        rng = step_rng(config.seed, step, micro, accelerator.process_index)
        sync = accelerator.no_sync(model) if micro < accum - 1 else contextlib.nullcontext()
        with sync, accelerator.autocast():
            loss, values = loss_fn(rng)
            accelerator.backward(loss / accum)
        for name, value in values.items():
            totals[name] = totals.get(name, 0.0) + value / accum
    if config.optim.grad_clip > 0:
        accelerator.clip_grad_norm_(model.parameters(), config.optim.grad_clip)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return totals


def discriminator_update(accelerator, optimizer, loss_fn: Callable[[], torch.Tensor]) -> float:
    """One step of a GAN discriminator on `loss_fn()`; returns the loss.

    The generator's backward also reached the discriminator (through D(fake)); those gradients are dropped first.
    """
    optimizer.zero_grad(set_to_none=True)
    with accelerator.autocast():
        loss = loss_fn()
    accelerator.backward(loss)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss.detach())
