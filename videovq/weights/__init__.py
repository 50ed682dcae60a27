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


def vldm_path() -> Path:
    """Folder of the shipped video LDM's temporal layers (temporal.safetensors + config.yaml)."""
    path = Path(str(resources.files("videovq.weights").joinpath("vldm")))
    if not (path / "temporal.safetensors").exists():
        raise InputError(
            f"{path}: the shipped video LDM is missing from this installation; reinstall videovq or pass --model DIR "
            "with weights from `videovq train vldm`"
        )
    return path


def prior_path() -> Path:
    """Folder of the shipped general masked-token prior (model.safetensors + config.yaml), over the shipped
    tokenizer's codes."""
    path = Path(str(resources.files("videovq.weights").joinpath("prior")))
    if not (path / "model.safetensors").exists():
        raise InputError(
            f"{path}: the shipped token prior is missing from this installation; reinstall videovq, pass --set "
            "prior=DIR with a prior from `videovq train prior`, or --set prior=null to fit from scratch"
        )
    return path
