"""The image latent diffusion model the video LDM starts from: build a small one, or load a user's from a folder.

An image LDM is a diffusers folder with ``unet/``, ``vae/`` and ``scheduler/`` (and ``text_encoder/`` +
``tokenizer/`` for text-conditioned models such as Stable Diffusion). The small model we ship is saved in the same
layout, so the shipped model and a user's SD checkpoint go through the same code. Nothing is ever downloaded:
every part is read with ``local_files_only=True``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from videovq.errors import InputError

SHIPPED = "shipped"


@dataclass
class AutoencoderKLConfig:
    """A small diffusers `AutoencoderKL` (downsampling 2^(levels-1)).

    Args:
        block_out_channels: channels per level.
        layers_per_block: resnets per level.
        latent_channels: channels of the latent.
        norm_num_groups: GroupNorm groups (divides every channel count).
        mid_block_attention: self-attention in the middle block.
    """

    block_out_channels: list[int] = field(default_factory=lambda: [32, 64, 64])
    layers_per_block: int = 1
    latent_channels: int = 4
    norm_num_groups: int = 16
    mid_block_attention: bool = False


@dataclass
class UNetConfig:
    """A small diffusers `UNet2DModel` over latents.

    Args:
        block_out_channels: channels per level.
        layers_per_block: resnets per level.
        attention_levels: which levels have spatial self-attention.
        attention_head_dim: channels per attention head.
        norm_num_groups: GroupNorm groups.
        num_class_embeds: classes for a class-conditional model (None = unconditional).
    """

    block_out_channels: list[int] = field(default_factory=lambda: [64, 128, 192])
    layers_per_block: int = 1
    attention_levels: list[bool] = field(default_factory=lambda: [False, True, True])
    attention_head_dim: int = 32
    norm_num_groups: int = 32
    num_class_embeds: int | None = None


def build_autoencoder(config: AutoencoderKLConfig, image_size: int):
    from diffusers import AutoencoderKL

    levels = len(config.block_out_channels)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * levels,
        up_block_types=("UpDecoderBlock2D",) * levels,
        block_out_channels=tuple(config.block_out_channels),
        layers_per_block=config.layers_per_block,
        latent_channels=config.latent_channels,
        norm_num_groups=config.norm_num_groups,
        sample_size=image_size,
        scaling_factor=1.0,  # set from the latents' spread after training (see train_image_autoencoder)
        mid_block_add_attention=config.mid_block_attention,
    )


def build_unet(config: UNetConfig, latent_channels: int, latent_size: int):
    from diffusers import UNet2DModel

    if len(config.attention_levels) != len(config.block_out_channels):
        raise InputError(
            f"attention_levels has {len(config.attention_levels)} entries for {len(config.block_out_channels)} "
            "levels; give one per entry of block_out_channels"
        )
    down = tuple("AttnDownBlock2D" if a else "DownBlock2D" for a in config.attention_levels)
    up = tuple("AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(config.attention_levels))
    return UNet2DModel(
        sample_size=latent_size,
        in_channels=latent_channels,
        out_channels=latent_channels,
        down_block_types=down,
        up_block_types=up,
        block_out_channels=tuple(config.block_out_channels),
        layers_per_block=config.layers_per_block,
        attention_head_dim=config.attention_head_dim,
        norm_num_groups=config.norm_num_groups,
        num_class_embeds=config.num_class_embeds,
    )


def make_scheduler(num_train_timesteps: int = 1000):
    """The training noise schedule (Stable Diffusion's scaled-linear betas, epsilon prediction)."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(
        num_train_timesteps=num_train_timesteps,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
    )


@dataclass
class ImageLDM:
    """The parts of an image LDM. `text_encoder`/`tokenizer` only for text-conditioned models."""

    unet: Any
    vae: Any
    scheduler: Any
    text_encoder: Any = None
    tokenizer: Any = None
    path: Path | None = None

    @property
    def latent_scale(self) -> float:
        return float(self.vae.config.scaling_factor)

    @property
    def text_conditioned(self) -> bool:
        return self.unet.__class__.__name__ == "UNet2DConditionModel"

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> ImageLDM:
        """Move every part to `device` (and cast to `dtype` when given)."""
        for part in (self.unet, self.vae, self.text_encoder):
            if part is not None:
                part.to(device)
                if dtype is not None:
                    part.to(dtype)
        return self


def shipped_image_ldm_path() -> Path:
    from importlib import resources

    path = Path(str(resources.files("videovq.weights").joinpath("image_ldm")))
    if not (path / "unet").is_dir():
        raise InputError(
            f"{path}: the shipped image LDM is missing from this installation; reinstall videovq or pass "
            "--image-model with a diffusers folder (unet/, vae/, scheduler/)"
        )
    return path


def resolve_image_model(path: str | Path | None) -> Path:
    """`None` or ``"shipped"`` -> the shipped small model; anything else must be a diffusers folder."""
    if path is None or str(path) == SHIPPED:
        return shipped_image_ldm_path()
    return Path(path)


def load_vae(folder: str | Path | None):
    """The `AutoencoderKL` of an image LDM folder ("shipped" or None = ours) or of RUN/model of an autoencoder run."""
    from diffusers import AutoencoderKL

    root = resolve_image_model(folder)
    if not (root / "vae" / "config.json").exists():
        raise InputError(f"{root}: no vae/ folder here; pass an image LDM folder or RUN/model of an autoencoder run")
    return AutoencoderKL.from_pretrained(root, subfolder="vae", local_files_only=True)



def _diffusers_class(folder: Path, part: str) -> str:
    config = folder / part / "config.json"
    if not config.exists():
        raise InputError(
            f"{folder}: the image model has no {part}/ (no {config.name} in {folder / part}); pass a diffusers-format "
            "folder with unet/, vae/ and scheduler/ (e.g. a Stable Diffusion checkpoint saved with save_pretrained)"
        )
    return json.loads(config.read_text()).get("_class_name", "")


def load_image_ldm(path: str | Path | None, need_text: bool = False) -> ImageLDM:
    """Load unet, vae, scheduler (+ text encoder and tokenizer when present) from a local diffusers folder.

    Args:
        path: the folder; None or "shipped" for the small model shipped with videovq.
        need_text: fail (one line) when the text encoder or tokenizer is missing, e.g. because a prompt was given.
    """
    import diffusers

    folder = resolve_image_model(path)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such image model folder; pass a diffusers folder with unet/, vae/, scheduler/")
    parts: dict[str, Any] = {}
    for part in ("unet", "vae"):
        name = _diffusers_class(folder, part)
        cls = getattr(diffusers, name, None)
        if cls is None:
            raise InputError(
                f"{folder / part}: unknown model class {name!r} in config.json; expected a diffusers class"
            )
        # float32 whatever the files hold (ours are stored in fp16): CPU kernels want it; move with `ImageLDM.to`.
        parts[part] = cls.from_pretrained(folder, subfolder=part, local_files_only=True, torch_dtype=torch.float32)
    scheduler_config = folder / "scheduler" / "scheduler_config.json"
    if not scheduler_config.exists():
        raise InputError(f"{folder}: the image model has no scheduler/scheduler_config.json; add the scheduler folder")
    parts["scheduler"] = diffusers.DDPMScheduler.from_pretrained(folder, subfolder="scheduler", local_files_only=True)
    ldm = ImageLDM(**parts, path=folder)
    if ldm.text_conditioned or need_text:
        ldm.text_encoder, ldm.tokenizer = _load_text_parts(folder)
    return ldm


def _load_text_parts(folder: Path):
    for part in ("text_encoder", "tokenizer"):
        if not (folder / part).is_dir():
            raise InputError(
                f"{folder}: this image model is text-conditioned but has no {part}/ folder; copy it from the model's "
                "diffusers checkpoint"
            )
    try:
        import transformers
    except ImportError:
        raise InputError(
            f"{folder}: a text-conditioned model needs the `transformers` package; pip install 'videovq[text]'"
        ) from None
    encoder_class = json.loads((folder / "text_encoder" / "config.json").read_text()).get(
        "architectures", ["CLIPTextModel"]
    )[0]
    encoder = getattr(transformers, encoder_class).from_pretrained(
        folder, subfolder="text_encoder", local_files_only=True
    )
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, subfolder="tokenizer", local_files_only=True)
    return encoder, tokenizer


def save_image_ldm(ldm: ImageLDM, folder: str | Path, half: bool = False) -> Path:
    """Write the parts in diffusers layout (``unet/``, ``vae/``, ``scheduler/``)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("unet", "vae"):
        model = getattr(ldm, name)
        if half:
            model = _half_copy(model)
        model.save_pretrained(folder / name, safe_serialization=True)
        _drop_source_path(folder / name / "config.json")
    ldm.scheduler.save_pretrained(folder / "scheduler")
    if not ldm.text_conditioned:
        write_model_index(folder, ldm)
    return folder


def _drop_source_path(config_json: Path) -> None:
    """Remove `_name_or_path` (the folder a model was loaded from, on the machine that saved it) from a config."""
    import json

    config = json.loads(config_json.read_text())
    if config.pop("_name_or_path", None) is not None:
        config_json.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def write_model_index(folder: str | Path, ldm: ImageLDM) -> Path:
    """Make an unconditional image LDM folder loadable by `diffusers.DiffusionPipeline.from_pretrained`.

    Writes `model_index.json` naming the folder's parts and `pipeline.py` (a copy of `image_pipeline.py`, the
    sampling loop diffusers has no class for: its LDMPipeline wants a VQModel under `vqvae/`).
    """
    import shutil

    import diffusers

    folder = Path(folder)
    shutil.copyfile(Path(__file__).with_name("image_pipeline.py"), folder / "pipeline.py")
    index = {
        "_class_name": ["pipeline", "ImageLDMPipeline"],
        "_diffusers_version": diffusers.__version__,
        "scheduler": ["diffusers", type(ldm.scheduler).__name__],
        "unet": ["diffusers", type(ldm.unet).__name__],
        "vae": ["diffusers", type(ldm.vae).__name__],
    }
    path = folder / "model_index.json"
    path.write_text(json.dumps(index, indent=2) + "\n")
    return path


def _half_copy(model):
    import copy

    return copy.deepcopy(model).half()
