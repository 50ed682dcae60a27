"""Copy trained diffusion-side models into the package (fp16), as the shipped defaults.

Run: python tools/ship_vldm.py [--image-ldm RUN/model] [--vldm RUN/model] [--decoder RUN/model]
Writes videovq/weights/image_ldm/ (diffusers folders unet/, vae/, scheduler/), videovq/weights/vldm/
(temporal.safetensors + config.yaml) and videovq/weights/vldm/decoder/ (decoder.safetensors + config.yaml).
The video LDM's config is rewritten to name the shipped image LDM ("shipped") as its image model.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from videovq.config import dump_config
from videovq.io.weights import read_config
from videovq.vldm.decoder import DECODER_WEIGHTS, TemporalDecoderConfig
from videovq.vldm.models import SHIPPED, load_image_ldm, save_image_ldm
from videovq.vldm.video_ldm import VideoLDMConfig

WEIGHTS = Path(__file__).resolve().parents[1] / "videovq" / "weights"


def half_copy(src: Path, dst: Path) -> None:
    state = {k: v.half() if v.is_floating_point() else v for k, v in load_file(str(src)).items()}
    dst.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(dst), metadata={"format": "pt"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-ldm", type=Path, help="RUN/model of `videovq train image-ldm`")
    parser.add_argument("--vldm", type=Path, help="RUN/model of `videovq train vldm`")
    parser.add_argument("--decoder", type=Path, help="RUN/model of `videovq train decoder`")
    args = parser.parse_args()
    if args.image_ldm:
        target = WEIGHTS / "image_ldm"
        shutil.rmtree(target, ignore_errors=True)
        save_image_ldm(load_image_ldm(args.image_ldm), target, half=True)
        print(f"wrote {target}")
    if args.vldm:
        target = WEIGHTS / "vldm"
        half_copy(args.vldm / "temporal.safetensors", target / "temporal.safetensors")
        config = read_config(VideoLDMConfig, args.vldm)
        config.image_model = SHIPPED
        (target / "config.yaml").write_text(dump_config(config))
        print(f"wrote {target}")
    if args.decoder:
        target = WEIGHTS / "vldm" / "decoder"
        half_copy(args.decoder / DECODER_WEIGHTS, target / DECODER_WEIGHTS)
        (target / "config.yaml").write_text(dump_config(read_config(TemporalDecoderConfig, args.decoder)))
        print(f"wrote {target}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
