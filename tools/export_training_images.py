"""Export the freely licensed still images that videovq may train on (and ship models trained on).

    pip install scikit-image          # tooling only, not a dependency of videovq
    python tools/export_training_images.py --out data/stills
    # then train with the source  images:data/stills

Copies a fixed list of images bundled inside the scikit-image wheel (`skimage/data/`), each public domain or CC0
according to its `skimage.data` docstring, to OUT as PNG, and writes OUT/LICENSES.md listing every image with its
source, licence, credit and SHA-256. Nothing is downloaded: an image missing from the installed wheel is an error.
See docs/data.md for which images were chosen, which were left out, and why.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Still:
    name: str  # skimage.data function
    file: str  # file inside skimage/data/
    licence: str
    credit: str


# Only images whose skimage.data docstring grants public domain or CC0 (checked against scikit-image 0.26.0).
STILLS = (
    Still("astronaut", "astronaut.png", "Public domain", "NASA (Eileen Collins), NASA Great Images database"),
    Still("chelsea", "chelsea.png", "CC0", "Stefan van der Walt"),
    Still("coffee", "coffee.png", "CC0", "Rachel Michetti (courtesy of Pikolo Espresso Bar)"),
    Still("rocket", "rocket.jpg", "Public domain", "SpaceX (DSCOVR launch on Falcon 9)"),
    Still("hubble_deep_field", "hubble_deep_field.jpg", "Public domain", "NASA / HubbleSite (eXtreme Deep Field)"),
    Still("retina", "retina.jpg", "CC0", "Mikael Haggstrom, Wikimedia Commons (Fundus photograph of normal left eye)"),
    Still("camera", "camera.png", "CC0", "Lav Varshney (the post-0.18 replacement 'camera' image)"),
    Still("brick", "brick.png", "CC0", "CC0Textures (Bricks25), transformed by scikit-image"),
    Still("grass", "grass.png", "CC0", "linolafett on DeviantArt (Grass 01), cropped by scikit-image"),
    Still("gravel", "gravel.png", "CC0", "CC0Textures (Gravel04), rescaled and cropped by scikit-image"),
    Still("clock", "clock_motion.png", "Public domain", "Stefan van der Walt (motion-blurred clock)"),
    Still("cell", "cell.png", "CC0", "Paul Muller et al. (quantitative phase image of a cell)"),
    Still("microaneurysms", "microaneurysms.png", "CC0", "Andreas Maier, HRF Image Database (crop of 07_dr.JPG)"),
    Still("text", "text.png", "Public domain", "Wikipedia File:Corner.png"),
)
MIN_SKIMAGE = (0, 18)  # 'camera' was replaced by a CC0 photograph in 0.18; older wheels carry the old one


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for token in version.split(".")[:2]:
        digits = "".join(ch for ch in token if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def export(out: Path, overwrite: bool = False, color_only: bool = False) -> list[Path]:
    """Write the images and LICENSES.md to `out` (atomically: a temporary sibling renamed into place)."""
    try:
        import skimage
    except ImportError:
        raise SystemExit("scikit-image is not installed; pip install scikit-image (tooling only) and run again")
    if _version_tuple(skimage.__version__) < MIN_SKIMAGE:
        raise SystemExit(f"scikit-image {skimage.__version__} is too old (its 'camera' is not CC0); install >= 0.18")
    if out.exists() and not overwrite:
        raise SystemExit(f"{out}: already exists; pass --overwrite to replace it")
    if not out.resolve().parent.exists():
        raise SystemExit(f"{out}: parent folder {out.resolve().parent} does not exist; create it first")

    data_dir = resources.files("skimage.data")
    tmp = out.with_name(f".{out.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    rows, written = [], []
    try:
        for still in STILLS:
            src = data_dir.joinpath(still.file)
            if not src.is_file():
                raise SystemExit(
                    f"{still.file} is not bundled with scikit-image {skimage.__version__}; this script never downloads"
                )
            with src.open("rb") as f, Image.open(f) as im:
                im.load()
                image = im.convert("RGB") if im.mode not in ("L", "RGB") else im.copy()
            if color_only and image.mode == "L":
                continue
            if image.mode == "RGB":  # a few "colour" files are grey in all three channels: store them as grey
                arr = np.asarray(image)
                if (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all():
                    if color_only:
                        continue
                    image = Image.fromarray(arr[..., 0])
            target = tmp / f"{still.name}.png"
            image.save(target, optimize=False)
            digest = hashlib.sha256(target.read_bytes()).hexdigest()
            kind = "grey" if image.mode == "L" else "colour"
            rows.append(
                f"| `{target.name}` | {image.width}x{image.height} {kind} | scikit-image {skimage.__version__}, "
                f"`skimage.data.{still.name}()` (`skimage/data/{still.file}`) | {still.licence} | {still.credit} | "
                f"`{digest[:16]}` |"
            )
            written.append(out / target.name)
        licences = [
            "# Licences of these images",
            "",
            "Exported by `tools/export_training_images.py` from the images bundled in the scikit-image wheel. Each is",
            "public domain or dedicated to the public domain under CC0 1.0",
            "(https://creativecommons.org/publicdomain/zero/1.0/), as stated in its `skimage.data` docstring; credits",
            "are given as a courtesy. JPEG sources were converted to PNG without other changes. SHA-256 is of the PNG",
            "written here (first 16 hex digits).",
            "",
            "| file | size | source | licence | credit / origin | sha256 |",
            "| --- | --- | --- | --- | --- | --- |",
            *rows,
            "",
        ]
        (tmp / "LICENSES.md").write_text("\n".join(licences), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="folder to create (PNG files + LICENSES.md)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    parser.add_argument("--color-only", action="store_true", help="skip the greyscale images")
    args = parser.parse_args(argv)
    written = export(args.out, overwrite=args.overwrite, color_only=args.color_only)
    print(f"wrote {len(written)} images and LICENSES.md to {args.out}; train with the source 'images:{args.out}'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
