"""Put a decoder trained with `decoder_only` (configs/tokenizer/decoder_gan.yaml) into the shipped tokenizer (fp16).

Run: python tools/ship_tokenizer_decoder.py RUN/checkpoints/step_N [--out videovq/weights/tokenizer]
The shipped tokenizer keeps its encoder, codebook and aggregation block; only the `decoder.*` weights are replaced,
so its codes (and a prior trained over them) stay valid, and `--set aggregation=true` still finds its block.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from safetensors.torch import load_file, save_file

from videovq.io.weights import read_config
from videovq.tokenizer.autoencoder import AutoencoderConfig

SHIPPED = Path(__file__).resolve().parents[1] / "videovq" / "weights" / "tokenizer"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("decoder", type=Path, help="a model or checkpoint folder of a decoder_only run")
    parser.add_argument("--out", type=Path, default=SHIPPED, help="tokenizer folder to update in place")
    args = parser.parse_args()
    ours, theirs = read_config(AutoencoderConfig, args.out), read_config(AutoencoderConfig, args.decoder, "model")
    if dataclasses.replace(theirs, aggregation=ours.aggregation, aggregation_window=ours.aggregation_window) != ours:
        raise SystemExit(f"{args.decoder}: another architecture than {args.out}'s; nothing written")
    state = load_file(str(args.out / "model.safetensors"))
    decoder = {k: v for k, v in load_file(str(args.decoder / "model.safetensors")).items() if k.startswith("decoder.")}
    if set(decoder) != {k for k in state if k.startswith("decoder.")}:
        raise SystemExit(f"{args.decoder}: its decoder's weights do not match {args.out}'s; nothing written")
    state.update({k: v.half().contiguous() for k, v in decoder.items()})
    partial = args.out / "model.safetensors.partial"
    save_file(state, str(partial), metadata={"format": "pt"})
    partial.replace(args.out / "model.safetensors")
    print(f"{args.out / 'model.safetensors'}: decoder from {args.decoder}")


if __name__ == "__main__":
    main()
