"""Which process this is under `accelerate launch` (inference splits work between processes; training uses
accelerate's `Accelerator`, which forms the same process group)."""

from __future__ import annotations

import torch


def process_state():
    """accelerate's `PartialState` (rank, world size, device), forming the process group on CPU-only machines too.

    Like `make_accelerator`: without asking for the CPU, accelerate does not form a multi-process group on a machine
    without GPUs, and every process would think it is alone.
    """
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())
