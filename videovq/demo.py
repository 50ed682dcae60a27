"""`videovq demo`: the README's first command, on the bundled clip.

Generates a moving mask for the bundled Big Buck Bunny clip, inpaints it, writes the result, a side-by-side video
(input with mask | result) and a contact sheet, and prints the in-hole PSNR/SSIM against the original frames.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from videovq.config import apply_overrides
from videovq.data import sample_video_path
from videovq.errors import InputError
from videovq.inpaint.pipeline import inpaint_video
from videovq.inpaint.presets import preset
from videovq.io.atomic import check_output_path
from videovq.io.mask_shapes import make_mask
from videovq.io.masks import write_mask
from videovq.io.preview import contact_sheet, overlay_mask, save_png
from videovq.io.video import probe, read_video
from videovq.metrics.psnr_ssim import frame_psnr, frame_ssim, nan_mean


@dataclass
class DemoOutputs:
    mask: Path
    result: Path
    side_by_side: Path
    contact_sheet: Path
    hole_fraction: float = 0.0
    hole_psnr: float = 0.0
    hole_ssim: float = 0.0
    seconds: float = 0.0


def run_demo(
    out_dir: str | Path,
    seed: int = 0,
    mask_kind: str = "strokes",
    preset_name: str = "fast",
    overwrite: bool = False,
    tokenizer: str | Path | None = None,
    overrides: Sequence[str] = (),
    device: str = "cpu",
) -> DemoOutputs:
    """Inpaint the bundled clip with a generated moving mask; see the module docstring."""
    out_dir = Path(out_dir)
    config = apply_overrides(preset(preset_name), overrides)  # bad settings are refused before anything is written
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs = DemoOutputs(
        mask=out_dir / "mask.mkv",
        result=out_dir / "result.mp4",
        side_by_side=out_dir / "side_by_side.mp4",
        contact_sheet=out_dir / "contact_sheet.png",
    )
    video = sample_video_path()
    for path in (outputs.mask, outputs.result, outputs.side_by_side, outputs.contact_sheet):
        check_output_path(path, inputs=[video], overwrite=overwrite)  # refuse before doing any work

    # 1. A seeded moving mask matching the clip, written losslessly so `--mask` can read it back exactly.
    info = probe(video)
    hole = make_mask(mask_kind, info.num_frames, info.height, info.width, seed=seed)
    write_mask(outputs.mask, hole, info.fps, overwrite=overwrite)
    outputs.hole_fraction = float(hole.mean())

    # 2. Inpaint it (bad input, e.g. a --tokenizer that is no tokenizer, leaves nothing behind).
    try:
        job = inpaint_video(
            video,
            outputs.mask,
            outputs.result,
            config,
            side_by_side=outputs.side_by_side,
            overwrite=overwrite,
            seed=seed,
            device=device,
            tokenizer=tokenizer,
            keep_frames=True,
        )
    except InputError:
        outputs.mask.unlink(missing_ok=True)
        if created:
            shutil.rmtree(out_dir, ignore_errors=True)
        raise
    outputs.seconds = sum(job.result.seconds.values())

    # 3. Score the fill against the original pixels and draw a contact sheet.
    original = read_video(video)
    filled = job.result.frames
    outputs.hole_psnr = nan_mean(frame_psnr(filled, original, hole))
    outputs.hole_ssim = nan_mean(frame_ssim(filled, original, hole))
    picks = np.linspace(0, len(original) - 1, 5).round().astype(int)
    sheet = contact_sheet(
        [original[picks], overlay_mask(original[picks], hole[picks]), filled[picks]],
        num_columns=5,
        labels=["original", "mask", f"videovq ({preset_name})"],
    )
    save_png(outputs.contact_sheet, sheet, overwrite=overwrite)
    return outputs
