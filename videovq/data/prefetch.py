"""Training batches drawn ahead of the loop by worker processes, identical to drawing them in the loop.

A GPU step of the small models takes a few milliseconds while drawing a batch of clips (decoding, cropping, pan and
zoom, procedural scenes) takes a few per clip on one core, so on a GPU the loop would wait for its data. Every
batch is a function of its step's RNG (`videovq.train.common.step_rng`), so workers can draw the batches of the
coming steps in advance: each returns the frames and the state its RNG ended in, which the loop copies into its own
RNG before using it for anything else (hole masks, noise). Results, and resuming, do not depend on the number of
workers.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor

import cv2
import numpy as np
import torch

from videovq.data.clips import ClipSampler, sample_batch
from videovq.io.tensors import uint8_to_video

_sampler: ClipSampler | None = None  # each worker's copy


def _init_worker(sampler: ClipSampler) -> None:
    global _sampler
    _sampler = sampler
    # One thread each: several workers on a machine's cores would otherwise each start a pool per core.
    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def _draw(seed: list[int], batch_size: int) -> tuple[np.ndarray, dict]:
    rng = np.random.default_rng(seed)
    frames = np.stack([_sampler.sample_frames(rng) for _ in range(batch_size)])
    return frames, rng.bit_generator.state


class BatchStream:
    """The batches of a training loop, ``(B, 3, T, H, W)`` float in [-1, 1], drawn exactly as `sample_batch` would.

    Args:
        sampler: where clips come from.
        batch_size: clips per batch.
        workers: processes drawing batches ahead; 0 draws each batch in the loop when asked.
        seeds: the seed of every RNG the loop will pass to `batch`, in order (only used with workers).
    """

    def __init__(self, sampler: ClipSampler, batch_size: int, workers: int = 0, seeds: Iterable[list[int]] = ()):
        self.sampler = sampler
        self.batch_size = batch_size
        self.pool: ProcessPoolExecutor | None = None
        self.pending: deque[tuple[list[int], Future]] = deque()
        self.seeds: Iterator[list[int]] = iter(seeds)
        self.ahead = 2 * workers
        if workers > 0:
            # spawn, not fork: the loop may already hold CUDA, which a forked child must not touch
            context = multiprocessing.get_context("spawn")
            self.pool = ProcessPoolExecutor(workers, context, initializer=_init_worker, initargs=(sampler,))
            self._fill()

    def _fill(self) -> None:
        while len(self.pending) < self.ahead:
            seed = next(self.seeds, None)
            if seed is None:
                return
            self.pending.append((seed, self.pool.submit(_draw, seed, self.batch_size)))

    def batch(self, rng: np.random.Generator) -> torch.Tensor:
        """The batch drawn from `rng`, which is left in the state drawing it in the loop would leave it in."""
        if self.pool is None:
            return sample_batch(self.sampler, rng, self.batch_size)
        if not self.pending:
            raise RuntimeError("more batches asked for than the seeds given to BatchStream")
        seed, future = self.pending.popleft()
        if rng.bit_generator.state != np.random.default_rng(seed).bit_generator.state:
            raise RuntimeError(f"batch asked for out of order: expected the RNG seeded {seed}")
        frames, state = future.result()
        self._fill()
        rng.bit_generator.state = state
        return torch.stack([uint8_to_video(clip) for clip in frames])

    def frame_batch(self, rng: np.random.Generator) -> torch.Tensor:
        """The first frame of each clip, ``(B, 3, H, W)`` (as `sample_frame_batch`)."""
        return self.batch(rng)[:, :, 0]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
