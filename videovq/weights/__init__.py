"""Weights we trained ourselves and ship inside the package (see docs/tokenizer.md for how they were made)."""

from importlib import resources
from pathlib import Path

from videovq.errors import InputError


def _shipped(folder: str, weights: str, what: str, instead: str) -> Path:
    """The package's `folder` holding `weights`, or a one-line error saying what is missing and what to pass."""
    path = Path(str(resources.files("videovq.weights").joinpath(folder)))
    if not (path / weights).exists():
        raise InputError(f"{path}: {what} is missing from this installation; reinstall videovq or {instead}")
    return path


def tokenizer_path() -> Path:
    """Folder of the shipped general tokenizer (model.safetensors + config.yaml)."""
    return _shipped(
        "tokenizer", "model.safetensors", "the shipped tokenizer",
        "pass --tokenizer DIR with weights from `videovq train tokenizer`",
    )  # fmt: skip


def vldm_path() -> Path:
    """Folder of the shipped video LDM's temporal layers (temporal.safetensors + config.yaml)."""
    return _shipped(
        "vldm", "temporal.safetensors", "the shipped video LDM",
        "pass --model DIR with weights from `videovq train vldm`",
    )  # fmt: skip


def prior_path() -> Path:
    """Folder of the shipped general masked-token prior (model.safetensors + config.yaml), over the shipped
    tokenizer's codes."""
    return _shipped(
        "prior", "model.safetensors", "the shipped token prior",
        "pass --set prior=DIR with a prior from `videovq train prior`, or --set prior=null to fit from scratch",
    )  # fmt: skip
