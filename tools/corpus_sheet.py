"""A contact sheet of a built corpus (docs/images/corpus_sheet.jpg): camera paths and object clips with their
ground truth.

Run: python tools/corpus_sheet.py CORPUS -o docs/images/corpus_sheet.jpg
Rows: camera clips (first, middle and last frame), then object clips (a frame, its background, its mask).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from videovq.data.corpus import load_manifest
from videovq.io.video import read_video


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=3, help="rows of each kind")
    args = parser.parse_args()
    clips = load_manifest(args.corpus)["clips"]
    rows = []
    for kind in ("camera", "objects"):
        picked = [c for c in clips if c["kind"] == kind and c["split"] == "train"][:: 37][: args.rows]
        for clip in picked:
            frames = read_video(args.corpus / clip["frames"])
            if kind == "camera":
                cells = [frames[0], frames[len(frames) // 2], frames[-1]]
            else:
                t = len(frames) // 2
                mask = read_video(args.corpus / clip["masks"])[t]
                cells = [frames[t], read_video(args.corpus / clip["background"])[t], mask]
            rows.append(np.concatenate([cv2.resize(c, (288, 160), interpolation=cv2.INTER_AREA) for c in cells], 1))
    sheet = np.concatenate(rows, 0)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.output), sheet[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {args.output}: {sheet.shape[1]}x{sheet.shape[0]}")


if __name__ == "__main__":
    main()
