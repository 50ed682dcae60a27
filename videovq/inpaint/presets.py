"""Inpainting settings: one typed config, three presets (fast, default, best).

The presets trade time for quality on a CPU; docs/inpainting.md has what each costs and achieves.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from videovq.config import AT_LEAST_ONE, NON_NEGATIVE, ConfigRangeError, Range, check_ranges
from videovq.errors import InputError
from videovq.inpaint.fit import TransformerFitConfig
from videovq.inpaint.transformer import TransformerConfig
from videovq.tokenizer.fit import VideoFitConfig


@dataclass
class InpaintConfig:
    """Everything `inpaint_video` does, and the switches the ablations turn off.

    Args:
        max_side: work at most at this many pixels on the long side (the fill is upscaled and composited at full
            resolution); None = full resolution.
        propagate: fill what other frames show along optical flow before the generator runs.
        generator: fill what propagation leaves with the video's fitted tokenizer and transformer; False is an
            ablation that fills it with the harmonic membrane of the surrounding pixels instead (no model at all),
            the yardstick the generator has to beat.
        flow_max_side: long side of the copy optical flow is estimated on.
        still_copies: where the data show the scene is still, propagation copies at zero motion instead of
            following the estimated flow (noise there); False = plain flow propagation (docs/inpainting.md).
        biharmonic: without a generator, fill a small region no frame shows biharmonically instead of with the
            membrane where a self-test on the frame's known pixels around it shows that at least halving the error
            (`videovq.inpaint.spatial_fill`); False = the membrane everywhere.
        tokenizer: per-video tokenizer finetuning.
        refine_codebook: restrict tokens to the codes the video uses (else the whole general codebank).
        aggregation: decode with the tokenizer's residual temporal aggregation block (else each frame alone). Off by
            default: with the shipped tokenizer the per-video finetune does not adapt the block to generated codes,
            which it decoded into wrong-coloured patches; without it both the fast and the default preset scored
            higher (docs/inpainting.md: 9 of 9 cases fast, 7 of 9 default, mean +1.4 and +0.8 dB).
        prior: a general masked-token prior (`videovq train prior`: its model folder or a checkpoint of its run)
            that per-video fitting starts from instead of a fresh transformer; its architecture then replaces
            `transformer`. It must predict the codes of the general tokenizer in use. "shipped" = the one shipped
            with the package (over the shipped tokenizer's codes); None = fit from scratch.
        transformer: architecture of the per-video transformer.
        transformer_fit: its self-supervised training.
        decode_steps: MaskGIT decoding steps (1 = one-shot).
        temperature: sampling temperature of decoding (0 = most likely code).
        top_k: decoding samples among this many likeliest codes (0 = all; unused at temperature 0).
        confidence_noise: MaskGIT's annealed Gumbel noise on the confidence that decides which predicted tokens
            are kept at each decoding step (0 = none; `videovq.inpaint.sampling`).
        window: frames per temporal window (fitting, prediction, decoding).
        overlap: frames shared by consecutive windows.
        feather: width in pixels of a soft blend at the inside edge of the hole, from the membrane of the pixels
            around it into the fill (0 = hard composite).
        hold_still: keep the generated fill of a frame where the known pixels around it have not changed since the
            frame before (`videovq.inpaint.propagation.hold_still`): the same fill frame after frame where the
            scene is still, instead of each frame's own prediction.
        match_boundary: gradient-domain compositing: shift the generated fill by the membrane (harmonic)
            interpolation of its mismatch with the known pixels around the hole, so its colours meet the frame's at
            the hole's edge while its texture (gradients) is kept (Poisson blending, Perez et al. 2003).
        exemplar_detail: gain of the fine detail that each generated cell no frame of the chunk shows (under a
            static logo, subtitle or object) copies from the known cell with the nearest codes, scaled to the detail
            around the hole, where the scene around the hole is still in most frames (`videovq.inpaint.exemplar`;
            0 = none, the decoder's smooth fill).
        detail_sigma: that detail is what a Gaussian blur of this many pixels removes (at the working scale).
        chunk: frames per temporal chunk: a job holds one chunk at a time, so memory does not grow with length.
        chunk_overlap: frames shared by consecutive chunks; propagation reaches across a chunk border only this
            far (each frame sees at least half of it on both sides).
        chunk_pixels: at most this many pixels (frames x box area) per chunk; chunks are shortened to fit.
        crop_margin: pixels around the hole's bounding box (per chunk) that propagation, the generator and
            compositing see; pixels further away are never read by them.
        fit_frames: the per-video models are fitted on at most this many frames (evenly spread segments of
            `window` frames), so fitting costs the same on a long video as on a short one.
    """

    max_side: int | None = None
    propagate: bool = True
    generator: bool = True
    flow_max_side: int = 432
    still_copies: bool = True
    biharmonic: bool = True
    tokenizer: VideoFitConfig = field(default_factory=VideoFitConfig)
    refine_codebook: bool = True
    aggregation: bool = False
    prior: str | None = None
    transformer: TransformerConfig = field(default_factory=TransformerConfig)
    transformer_fit: TransformerFitConfig = field(default_factory=TransformerFitConfig)
    decode_steps: int = 8
    temperature: float = 0.0
    top_k: int = 0
    confidence_noise: float = 0.0
    window: int = 16
    overlap: int = 4
    feather: int = 0
    hold_still: bool = True
    match_boundary: bool = True
    exemplar_detail: float = 0.0
    detail_sigma: float = 1.0
    chunk: int = 96
    chunk_overlap: int = 16
    chunk_pixels: int | None = 100_000_000
    crop_margin: int = 64
    fit_frames: int = 96

    def __post_init__(self):
        side = Range(8, 16384)
        check_ranges(self, max_side=side, flow_max_side=side, decode_steps=AT_LEAST_ONE, window=AT_LEAST_ONE)
        check_ranges(self, temperature=Range(0, 100), overlap=NON_NEGATIVE, feather=Range(0, 256))
        check_ranges(self, top_k=NON_NEGATIVE, confidence_noise=Range(0, 100))
        check_ranges(self, exemplar_detail=Range(0, 2), detail_sigma=Range(0.5, 16))
        if self.overlap >= self.window:
            raise ConfigRangeError("overlap", self.overlap, f"smaller than window ({self.window})")
        check_ranges(self, chunk=AT_LEAST_ONE, chunk_overlap=NON_NEGATIVE, chunk_pixels=AT_LEAST_ONE)
        check_ranges(self, crop_margin=NON_NEGATIVE, fit_frames=AT_LEAST_ONE)


PRESET_NAMES = ("fast", "default", "best")
SHIPPED_PRIOR = "shipped"


def preset(name: str) -> InpaintConfig:
    """The named preset (a fresh object: callers may change it)."""
    if name == "fast":
        return InpaintConfig(
            max_side=432,
            tokenizer=VideoFitConfig(steps=30, batch_size=2, crop=96),
            transformer=TransformerConfig(dim=128, depth=2, heads=4),
            transformer_fit=TransformerFitConfig(steps=80, batch_size=2),
            decode_steps=4,
        )
    if name == "default":  # the fast preset's fits, from the shipped prior (its architecture); best's decoding; detail
        return with_overrides(
            preset("fast"),
            transformer=TransformerConfig(),
            prior=SHIPPED_PRIOR,
            decode_steps=12,
            feather=2,
            exemplar_detail=1.0,
        )
    if name == "best":
        return InpaintConfig(
            max_side=None,
            tokenizer=VideoFitConfig(steps=400, batch_size=4, crop=160),
            transformer_fit=TransformerFitConfig(steps=1000, batch_size=4),
            decode_steps=12,
            feather=2,
            prior=SHIPPED_PRIOR,
            exemplar_detail=1.0,
        )
    raise InputError(f"--preset {name}: choose one of {', '.join(PRESET_NAMES)}")


def with_overrides(config: InpaintConfig, **changes) -> InpaintConfig:
    """A copy with top-level fields replaced (for ablations and CLI flags)."""
    return dataclasses.replace(config, **changes)
