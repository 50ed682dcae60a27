"""Model weights on disk: ``NAME.safetensors`` with the ``config.yaml`` that rebuilds the model beside it.

Inference and training read and write weights through these three functions; checkpoints (`videovq.train`) add
the optimiser state on top.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from videovq.config import config_from_dict, dump_config, read_yaml
from videovq.errors import InputError
from videovq.io.atomic import atomic_output, write_bytes_atomic


def save_weights(path: str | Path, model: torch.nn.Module, config: Any, half: bool = False, overwrite: bool = True) -> Path:
    """Write `model.safetensors` (optionally fp16, for shipping) with its config beside it as `config.yaml`.

    Args:
        path: the .safetensors file to write.
        model: the model (unwrapped from DDP).
        config: the dataclass config that rebuilds the model.
        half: store floating tensors as fp16 (half the size; buffers like code counts stay exact enough).
    """
    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    with atomic_output(path, overwrite=overwrite) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt"})
    write_bytes_atomic(path.with_name("config.yaml"), dump_config(config).encode(), overwrite=True)
    return path


def load_weights(model: torch.nn.Module, path: str | Path, strict: bool = True) -> list[str]:
    """Load a safetensors file into `model`; strict unless asked, and then returns what was skipped."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such weights file; check the path or train the model first")
    state = read_safetensors(path)
    own = model.state_dict()
    state = {k: v.to(own[k].dtype) if k in own else v for k, v in state.items()}  # fp16 files load into fp32
    result = model.load_state_dict(state, strict=strict)
    return [*result.missing_keys, *result.unexpected_keys]


def read_safetensors(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a .safetensors file; anything else (a pickle, a .pt, random bytes) is refused unread, so no
    pickle is ever executed."""
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise InputError(
            f"{path}: not a safetensors weights file ({str(e).splitlines()[0][:80]}); pass a model folder with "
            "model.safetensors + config.yaml (pickles and .pt files are never loaded)"
        ) from None


def read_config(cls: type, folder_or_file: str | Path, section: str | None = None):
    """The config stored next to weights (a model folder, a checkpoint folder or a config.yaml).

    `section` picks a nested part when the file holds a whole training config (a checkpoint's `model:`).
    """
    path = Path(folder_or_file)
    if path.is_dir():
        path = path / "config.yaml"
    elif path.suffix == ".safetensors":
        path = path.with_name("config.yaml")
    if not path.exists():
        raise InputError(f"{path}: no config.yaml beside the weights; it is needed to rebuild the model")
    data = read_yaml(path, "model config (config.yaml)")
    if section is not None and isinstance(data.get(section), dict):
        data = data[section]
    return config_from_dict(cls, data, source=str(path))
