"""The work folder of an inpainting job: each finished stage is saved, so `--resume` skips it after a kill.

Each stage is written under a temporary name and renamed when complete; a stage counts as finished only when its
file exists, so a kill mid-write leaves the stage to be redone, never half-loaded.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from videovq.errors import InputError
from videovq.io.atomic import atomic_output, write_bytes_atomic


class StageStore:
    """Saves and loads the stages of one job in `folder` (None = keep nothing, for in-memory use and tests).

    Args:
        folder: the work folder.
    """

    def __init__(self, folder: str | Path | None):
        self.folder = Path(folder) if folder is not None else None
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)

    def _path(self, name: str, suffix: str) -> Path:
        return self.folder / f"{name}{suffix}"

    def has(self, name: str) -> bool:
        if self.folder is None:
            return False
        return any(self._path(name, s).exists() for s in (".npz", ".safetensors"))

    # numpy arrays (frames, masks)
    def save_arrays(self, name: str, **arrays: np.ndarray) -> None:
        if self.folder is None:
            return
        with atomic_output(self._path(name, ".npz"), overwrite=True) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)

    def load_arrays(self, name: str, *keys: str) -> list[np.ndarray]:
        with np.load(self._path(name, ".npz")) as data:
            return [data[k] for k in keys]

    # tensors and model weights
    def save_tensors(self, name: str, **tensors: torch.Tensor) -> None:
        if self.folder is None:
            return
        with atomic_output(self._path(name, ".safetensors"), overwrite=True) as tmp:
            save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp))

    def load_tensors(self, name: str, *keys: str) -> list[torch.Tensor]:
        data = load_file(str(self._path(name, ".safetensors")))
        return [data[k] for k in keys]

    def save_model(self, name: str, model: torch.nn.Module) -> None:
        self.save_tensors(name, **model.state_dict())

    def load_model(self, name: str, model: torch.nn.Module) -> torch.nn.Module:
        state = load_file(str(self._path(name, ".safetensors")))
        model.load_state_dict(state, strict=True)
        return model

    # what the job was started with: resuming with other inputs or settings would mix two jobs
    def previous_meta(self) -> dict:
        """What the job that made this work folder recorded (empty when there is none)."""
        path = None if self.folder is None else self.folder / "job.json"
        if path is None or not path.exists():
            return {}
        try:
            return json.loads(path.read_text())
        except ValueError:
            return {}

    def check_meta(self, meta: dict, resume: bool) -> None:
        if self.folder is None:
            return
        path = self.folder / "job.json"
        text = json.dumps(meta, sort_keys=True, indent=1)
        if resume and path.exists() and path.read_text() != text:
            raise InputError(
                f"{self.folder}: this work folder belongs to a job with other inputs or settings; rerun without "
                "--resume to start over, or pass the same options"
            )
        if not resume:
            for p in self.folder.iterdir():
                if p.is_file():
                    p.unlink()
        write_bytes_atomic(path, text.encode(), overwrite=True)
