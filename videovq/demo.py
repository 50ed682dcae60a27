"""`videovq demo`: the README's first command, on the bundled clip.

For now it shows the input side of inpainting: the bundled clip, a generated moving mask, the masked preview and a
side-by-side video plus a contact sheet. The inpainting issue replaces the right-hand panel with the filled result.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from videovq.data import sample_video_path
from videovq.io.atomic import check_output_path
from videovq.io.mask_shapes import make_mask
from videovq.io.masks import write_mask
from videovq.io.preview import contact_sheet, overlay_mask, save_png, side_by_side
from videovq.io.video import VideoWriter, open_video


@dataclass
class DemoOutputs:
    mask: Path
    masked: Path
    side_by_side: Path
    contact_sheet: Path
    hole_fraction: float


def run_demo(out_dir: str | Path, seed: int = 0, mask_kind: str = "strokes", overwrite: bool = False) -> DemoOutputs:
    """Read the bundled clip, generate a moving mask, write the mask, the masked preview and a side-by-side."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs = DemoOutputs(
        mask=out_dir / "mask.mkv",
        masked=out_dir / "masked.mp4",
        side_by_side=out_dir / "side_by_side.mp4",
        contact_sheet=out_dir / "contact_sheet.png",
        hole_fraction=0.0,
    )
    video = sample_video_path()
    for path in (outputs.mask, outputs.masked, outputs.side_by_side, outputs.contact_sheet):
        check_output_path(path, inputs=[video], overwrite=overwrite)  # refuse before doing any work

    # 1. Load the clip and make a mask that matches it.
    with open_video(video) as reader:
        info = reader.info
        frames = np.stack(list(tqdm(reader, total=len(reader), desc="read", unit="frame")))
    mask = make_mask(mask_kind, info.num_frames, info.height, info.width, seed=seed)
    outputs.hole_fraction = float(mask.mean())

    # 2. Write the mask (lossless, so `--mask` can read it back exactly) and the previews.
    write_mask(outputs.mask, mask, info.fps, overwrite=overwrite)
    masked = overlay_mask(frames, mask)
    with VideoWriter(outputs.masked, info.fps, overwrite=overwrite, inputs=[video]) as writer:
        for t in tqdm(range(len(masked)), desc="write masked", unit="frame"):
            writer.write(masked[t])
    both = side_by_side([frames, masked], labels=["input", f"mask ({mask_kind}, seed {seed})"])
    with VideoWriter(outputs.side_by_side, info.fps, overwrite=overwrite, inputs=[video]) as writer:
        for t in tqdm(range(len(both)), desc="write side-by-side", unit="frame"):
            writer.write(both[t])
    sheet = contact_sheet([frames, masked], num_columns=5, labels=["input", "mask"])
    save_png(outputs.contact_sheet, sheet, overwrite=overwrite)
    return outputs
