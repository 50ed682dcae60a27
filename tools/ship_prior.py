"""Ship a general masked-token prior inside the package (fp16), where `--set prior=shipped` and the default preset
find it.

Run: python tools/ship_prior.py RUN/checkpoints/step_N [--out videovq/weights/prior]
The prior must predict the codes of the shipped tokenizer (`videovq train prior` with its default tokenizer).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from videovq.inpaint.prior import PriorConfig, load_prior
from videovq.io.weights import save_weights

SHIPPED = Path(__file__).resolve().parents[1] / "videovq" / "weights" / "prior"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prior", type=Path, help="a prior's model folder or a checkpoint of its run")
    parser.add_argument("--out", type=Path, default=SHIPPED, help="folder to write (replaced)")
    args = parser.parse_args()
    model = load_prior(args.prior)
    args.out.mkdir(parents=True, exist_ok=True)
    path = save_weights(args.out / "model.safetensors", model, PriorConfig(model.config, model.num_codes), half=True)
    print(f"{path}: the prior of {args.prior}")


if __name__ == "__main__":
    main()
