"""Weights we trained ourselves and ship inside the package (see docs/tokenizer.md for how they were made)."""

from importlib import resources
from pathlib import Path

from videovq.errors import InputError


def tokenizer_path() -> Path:
    """Folder of the shipped general tokenizer (model.safetensors + config.yaml)."""
    path = Path(str(resources.files("videovq.weights").joinpath("tokenizer")))
    if not (path / "model.safetensors").exists():
        raise InputError(
            f"{path}: the shipped tokenizer weights are missing from this installation; reinstall videovq or pass "
            "--tokenizer DIR with weights from `videovq train tokenizer`"
        )
    return path
