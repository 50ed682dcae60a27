"""Checkpoints that rebuild their own model and resume training exactly.

Layout of a run folder:

    RUN/
      config.yaml                 the full training config (the model's part rebuilds the model)
      checkpoints/step_000500/    model.safetensors, config.yaml, trainer.pt (optimizer, scheduler, step)
      checkpoints/latest          name of the newest complete checkpoint
      model.safetensors           the final (or best-so-far) weights, for inference

A checkpoint folder is written under a temporary name and renamed when complete, and `latest` is updated last,
so a SIGKILL at any moment leaves the previous checkpoint intact and the next run resumes from it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors.torch import save_file

from videovq.config import config_from_dict, config_to_dict, dump_config
from videovq.errors import InputError
from videovq.io.atomic import atomic_output, write_bytes_atomic
from videovq.io.weights import load_weights


@dataclass
class TrainerState:
    step: int
    extra: dict[str, Any]  # what the loop saved beside the optimiser (e.g. a discriminator's optimiser state)


def save_checkpoint(
    run_dir: str | Path,
    step: int,
    model: torch.nn.Module,
    config: Any,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    extra: dict[str, Any] | None = None,
    keep: int = 2,
    modules: dict[str, torch.nn.Module] | None = None,
) -> Path:
    """Write checkpoint `step` atomically, point `latest` at it, and delete all but the `keep` newest.

    `modules` are further networks trained alongside (a discriminator), saved as NAME.safetensors; their
    optimiser states go in `extra`.
    """
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:07d}"
    with atomic_output(final, overwrite=True) as tmp:
        tmp.mkdir()
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        for name, module in (modules or {}).items():
            save_file({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}, str(tmp / f"{name}.safetensors"))
        (tmp / "config.yaml").write_text(dump_config(config))
        torch.save(
            {"step": step, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "extra": extra or {}},
            tmp / "trainer.pt",
        )
    write_bytes_atomic(root / "latest", final.name.encode(), overwrite=True)
    for old in sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("step_"))[:-keep]:
        shutil.rmtree(old)
    return final


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint of a run, or None."""
    pointer = Path(run_dir) / "checkpoints" / "latest"
    if not pointer.exists():
        return None
    folder = pointer.parent / pointer.read_text().strip()
    return folder if (folder / "trainer.pt").exists() else None


def load_checkpoint(folder: Path, model: torch.nn.Module, optimizer, scheduler) -> TrainerState:
    """Restore model, optimizer and scheduler from a checkpoint folder (strict)."""
    load_weights(model, folder / "model.safetensors", strict=True)
    state = torch.load(folder / "trainer.pt", map_location="cpu", weights_only=True)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return TrainerState(state["step"], state.get("extra", {}))


def prepare_run_dir(run_dir: str | Path, config: Any, resume: bool, overwrite: bool) -> Path:
    """Create the run folder; refuse to clobber a previous run unless resuming or overwriting."""
    run = Path(run_dir)
    if run.exists() and any(run.iterdir()):
        if overwrite and not resume:
            shutil.rmtree(run)
        elif not resume:
            raise InputError(f"{run}: a run already exists here; pass --resume to continue it or --overwrite to restart")
    run.mkdir(parents=True, exist_ok=True)
    config_path = run / "config.yaml"
    text = dump_config(config)
    if resume and config_path.exists():
        before = yaml.safe_load(config_path.read_text()) or {}
        try:  # through today's dataclass: a field added since the run started reads as its default
            before = config_to_dict(config_from_dict(type(config), before, source=str(config_path)))
        except InputError:
            pass  # a field since removed: the comparison below names it
        now = config_to_dict(config)
        # Only the step budget may change on resume (train longer); anything else would silently mix two runs.
        changed = sorted(k for k in set(before) | set(now) if k != "steps" and before.get(k) != now.get(k))
        if changed:
            raise InputError(
                f"{config_path}: the run was started with a different config ({', '.join(changed)} differ); resume "
                "with the same config and --set values, or start a new run folder"
            )
    write_bytes_atomic(config_path, text.encode(), overwrite=True)
    return run
