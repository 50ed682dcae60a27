"""videovq: video inpainting (DLFormer) and video generation (Align your Latents) in learned latent spaces.

The public API, importable from the top level (``from videovq import inpaint_video, preset``):

Inpainting
    inpaint_video(video, mask, output, config, ...)   fill the masked region of a video file, write the result
    inpaint_frames(frames, hole, config, ...)         the same on uint8 arrays, (T, H, W, 3) frames + bool hole
    preset(name) -> InpaintConfig                     the "fast", "default" or "best" settings (a fresh object)
Generation
    load_video_ldm(model_dir=None, ...)               the shipped video LDM, or RUN/model of `videovq train vldm`
    generate(vldm, num_frames, steps, seed, ...)      sample a clip as uint8 (T, H, W, 3)
    load_image_ldm(path=None)                         an image LDM diffusers folder (None: the shipped one)
Evaluation
    evaluate(pred, ref, mask=None, metrics=...)       PSNR/SSIM (whole frame, in the hole), FVD, warping, flicker
Models and I/O
    load_tokenizer(path=None)                         the shipped general VQ tokenizer, or a trained one
    read_video(path) / write_video(path, frames, fps) whole videos as uint8 (T, H, W, 3)
    open_video(path)                                  streaming and random-access reader
    load_mask(path, info)                             a mask video, frame folder or image as bool (T, H, W)
    resolve_device(name="auto")                       "auto" -> cuda, then mps, then cpu

Bad input raises `InputError` (a `ValueError`) whose message names the value and the fix.

Names are imported on first use (PEP 562 module `__getattr__`), so ``import videovq`` loads neither torch nor
diffusers; each name's own docstring has its arguments.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from videovq.errors import InputError

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "inpaint_video": "videovq.inpaint.pipeline",
    "inpaint_frames": "videovq.inpaint.pipeline",
    "preset": "videovq.inpaint.presets",
    "InpaintConfig": "videovq.inpaint.presets",
    "generate": "videovq.vldm.pipeline",
    "load_video_ldm": "videovq.vldm.video_ldm",
    "load_image_ldm": "videovq.vldm.models",
    "evaluate": "videovq.evaluation",
    "load_tokenizer": "videovq.tokenizer.autoencoder",
    "read_video": "videovq.io.video",
    "write_video": "videovq.io.video",
    "open_video": "videovq.io.video",
    "load_mask": "videovq.io.masks",
    "resolve_device": "videovq.devices",
}

__all__ = ["InputError", "__version__", *_EXPORTS]

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time `__getattr__` imports on demand
    from videovq.devices import resolve_device
    from videovq.evaluation import evaluate
    from videovq.inpaint.pipeline import inpaint_frames, inpaint_video
    from videovq.inpaint.presets import InpaintConfig, preset
    from videovq.io.masks import load_mask
    from videovq.io.video import open_video, read_video, write_video
    from videovq.tokenizer.autoencoder import load_tokenizer
    from videovq.vldm.models import load_image_ldm
    from videovq.vldm.pipeline import generate
    from videovq.vldm.video_ldm import load_video_ldm


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'videovq' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
