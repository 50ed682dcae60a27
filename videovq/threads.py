"""How many threads to compute with: the cores this process may actually use, not the cores the machine has.

torch and OpenCV default to one thread per core of the machine. In a container limited by a CPU quota, or on a
machine whose other cores are busy, those extra threads wait on each other: on a 2-core host with one core busy
elsewhere a 10-frame inpainting took 25.9 s with two torch threads and 10.8 s with one. `available_cores` counts
the cores of the affinity mask, caps them by a cgroup CPU quota, and leaves out the cores other work keeps busy
right now (`busy_cores`: CPU time over a fifth of a second, not the 1-minute load average, which still counts a job
that has just finished: a run started right after another picked one thread on an idle machine);
`set_threads` applies a count to torch and OpenCV.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

from videovq.errors import InputError

# cgroup v2 keeps "QUOTA PERIOD" (or "max PERIOD") here; v1 two files.
_CGROUP_V2 = Path("/sys/fs/cgroup/cpu.max")
_CGROUP_V1 = (Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us"))


def cpu_quota(v2: Path = _CGROUP_V2, v1: tuple[Path, Path] = _CGROUP_V1) -> float | None:
    """The cgroup CPU quota in cores (e.g. 1.5), or None when there is none or it cannot be read."""
    try:
        if v2.exists():
            quota, period = v2.read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        if v1[0].exists() and v1[1].exists():
            quota, period = int(v1[0].read_text()), int(v1[1].read_text())
            return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None
    return None


def _affinity() -> set[int]:
    """The CPUs this process may run on (all of the machine's where the OS cannot say)."""
    return os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))


def allowed_cores() -> int:
    """Cores this process may run on: its affinity mask, capped by the cgroup quota (rounded up)."""
    cores = len(_affinity())
    quota = cpu_quota()
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    return max(1, cores)


def busy_cores(cpus: set[int] | None = None, seconds: float = 0.2, stat: Path = Path("/proc/stat")) -> float | None:
    """How many of `cpus` (default: the affinity mask) other work keeps busy now: the share of their CPU time that
    was not idle over `seconds`, from /proc/stat. None where that cannot be read (not Linux).

    Called before this process starts working, so what it measures is everything else.
    """
    if cpus is None:
        cpus = _affinity()
    try:
        before = _cpu_times(stat, cpus)
        time.sleep(seconds)
        after = _cpu_times(stat, cpus)
    except (OSError, ValueError, IndexError):
        return None
    busy = 0.0
    for cpu, (total, idle) in after.items():
        elapsed = total - before[cpu][0]
        if elapsed > 0:
            busy += 1.0 - (idle - before[cpu][1]) / elapsed
    return busy


def _cpu_times(stat: Path, cpus: set[int]) -> dict[int, tuple[int, int]]:
    """Per CPU of `cpus`: (all time, idle + iowait time) in clock ticks since boot."""
    times = {}
    for line in stat.read_text().splitlines():
        name, *fields = line.split()
        if name.startswith("cpu") and name != "cpu" and int(name[3:]) in cpus:
            values = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
            times[int(name[3:])] = (sum(values), values[3] + values[4])
    return times


def available_cores(load: float | None = None) -> int:
    """`allowed_cores` minus the cores other work keeps busy, at least 1.

    Args:
        load: the busy cores to subtract (default: `busy_cores()`, or the 1-minute load average where that cannot
            be measured).
    """
    cores = allowed_cores()
    if load is None:
        load = busy_cores()
    if load is None:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return max(1, min(cores, round(cores - load + 0.25)))  # a core counts as free if less than 3/4 of it is busy


def set_threads(threads: int | None = None) -> int:
    """Use `threads` intra-op threads in torch and OpenCV (None: `available_cores()`); returns the count."""
    import cv2
    import torch

    if threads is None:
        threads = available_cores()
    if threads < 1:
        raise InputError(f"--threads {threads}: use a positive number of threads (or leave it out to pick one)")
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    return threads
