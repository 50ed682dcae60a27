"""Which torch device and precision a command runs on: `--device auto|cpu|cuda[:N]|mps`, `--dtype fp32|bf16|fp16`.

`auto` takes CUDA when torch sees a GPU, then Apple's MPS, then the CPU. A device this machine lacks is refused
with one line naming the fix, so `--device mps` on Linux is an `InputError`, not a traceback from inside torch.

Half precision is for inference: `autocast` runs matrix products and convolutions in bf16/fp16 while weights,
noise schedules, codebook lookups and compositing stay in fp32. `videovq inpaint` also fits its per-video models
under autocast, without loss scaling, so bf16 (fp32's exponent range) is the safer choice there. fp16 on the CPU is
refused (torch's CPU kernels for it are slow or missing); bf16 on the CPU is allowed (torch's CPU autocast supports
it, and the tests run it), though on CPUs without bf16 instructions it is slower than fp32.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

from videovq.errors import InputError

DEVICE_CHOICES = "auto, cpu, cuda, cuda:N or mps"
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(name: str = "auto") -> str:
    """The torch device string for `name`: "auto" (CUDA, then MPS, then CPU), "cpu", "cuda", "cuda:N" or "mps".

    Raises:
        InputError: an unknown name, or a device this machine does not have.
    """
    text = str(name).strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if _mps_available() else "cpu"
    if text == "cpu":
        return "cpu"
    if text == "mps":
        if not _mps_available():
            raise InputError("--device mps: torch sees no Apple MPS device here; use --device auto or cpu")
        return "mps"
    if text == "cuda" or text.startswith("cuda:"):
        index = text.partition(":")[2]
        if index and not index.isdigit():
            raise InputError(f"--device {name}: write a GPU as cuda or cuda:N (N a number)")
        if not torch.cuda.is_available():
            raise InputError(f"--device {name}: no CUDA GPU is visible to torch here; use --device auto or cpu")
        if index and int(index) >= torch.cuda.device_count():
            raise InputError(f"--device {name}: torch sees {torch.cuda.device_count()} CUDA GPU(s), numbered from 0")
        return text
    raise InputError(f"--device {name}: unknown device; use {DEVICE_CHOICES}")


def resolve_dtype(name: str, device: str) -> torch.dtype:
    """The compute dtype for `name` ("fp32", "bf16" or "fp16") on `device` (a resolved device string).

    Raises:
        InputError: an unknown name, or fp16 on the CPU.
    """
    text = str(name).strip().lower()
    if text not in DTYPES:
        raise InputError(f"--dtype {name}: unknown precision; use one of {', '.join(DTYPES)}")
    if text == "fp16" and torch.device(device).type == "cpu":
        raise InputError("--dtype fp16 needs a GPU (CUDA or MPS); on the CPU use --dtype bf16 or fp32")
    return DTYPES[text]


@contextlib.contextmanager
def autocast(device: str, dtype: torch.dtype) -> Iterator[None]:
    """Run the block in `dtype` where torch autocasts (matmuls, convolutions); fp32 is a plain pass-through."""
    if dtype == torch.float32:
        yield
        return
    with torch.autocast(device_type=torch.device(device).type, dtype=dtype):
        yield
