"""The configs shipped inside the package, addressable by name: `--config general` as well as `--config FILE.yaml`.

Layout: `videovq/configs/<group>/<name>.yaml`, with the groups `tokenizer` (`videovq train tokenizer`), `vldm`
(the image autoencoder, image LDM, video LDM and decoder trainers) and `accelerate` (`accelerate launch
--config_file`, a path: accelerate does not know our names). In a source checkout `configs/` at the top is a link
to this folder, so `configs/vldm/vldm.yaml` works there too.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from videovq.errors import InputError

GROUPS = ("tokenizer", "prior", "vldm", "accelerate")


def configs_dir() -> Path:
    """The folder of the shipped configs in this installation."""
    return Path(str(resources.files("videovq.configs")))


def shipped_configs(group: str) -> dict[str, Path]:
    """Name -> file of every shipped config of `group` (the name is the file name without `.yaml`)."""
    if group not in GROUPS:
        raise ValueError(f"config group {group!r}: choose one of {', '.join(GROUPS)}")
    return {path.stem: path for path in sorted((configs_dir() / group).glob("*.yaml"))}


def resolve_config(value: str | Path | None, group: str) -> Path | None:
    """The YAML file `value` names: an existing file, or the name of a shipped config of `group`.

    `image-ldm` and `image_ldm` are the same name. None stays None (the trainer's defaults).

    Raises:
        InputError: neither a file nor a shipped name; the message lists the names.
    """
    if value is None:
        return None
    path = Path(value)
    if path.is_file():
        return path
    names = shipped_configs(group)
    key = path.name.removesuffix(".yaml").replace("-", "_")
    if path.parent == Path(".") and key in names:
        return names[key]
    raise InputError(
        f"--config {value}: no such file, and not a shipped {group} config; give a YAML path or one of "
        f"{', '.join(names)}"
    )
