"""`videovq inpaint`: video and mask in, filled video out (DLFormer, with flow propagation first).

`inpaint_frames` is the algorithm on arrays, as numbered steps; `inpaint_video` adds files: loading, the work
folder that lets a killed job resume, writing the result atomically, and the side-by-side.
"""

from __future__ import annotations

import copy
import dataclasses
import errno
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple

import cv2
import numpy as np
import torch

from tqdm import tqdm

from videovq.errors import InputError

from videovq.inpaint.chunks import Box, plan_chunks, sample_segments, scan_hole
from videovq.inpaint.exemplar import add_detail, exemplar_detail, mostly_still
from videovq.inpaint.fit import fit_transformer
from videovq.inpaint.presets import SHIPPED_PRIOR, InpaintConfig
from videovq.inpaint.prior import load_prior, prior_for_video
from videovq.inpaint.propagation import harmonic_fill, hold_still, propagate, still_pixels
from videovq.inpaint.sampling import predict_tokens
from videovq.inpaint.spatial_fill import fill_unseen
from videovq.inpaint.sources import ArrayFrames, ArrayMask, MaskFile, VideoFrames
from videovq.inpaint.stages import StageStore
from videovq.io.weights import read_safetensors
from videovq.tokenizer.autoencoder import VQAutoencoder
from videovq.tokenizer.codebook import VideoCodebook
from videovq.tokenizer.fit import (
    FittedTokenizer,
    decode_frames,
    encode_frames,
    fit_video_tokenizer,
    pad_frames,
)
from videovq.weights import prior_path, tokenizer_path
from videovq.windows import Window, temporal_windows


@dataclass
class InpaintOutput:
    frames: np.ndarray | None  # uint8 (T, H, W, 3); None when the frames were only written out
    seconds: dict[str, float] = field(default_factory=dict)  # per stage, summed over chunks
    hole_fraction: float = 0.0
    propagated_fraction: float = 0.0  # share of the hole filled by propagation
    video_codes: int = 0
    chunks: int = 0


class _Finished(NamedTuple):
    """A chunk's fill: the hole pixels of all its frames in (t, y, x) order, and which of them propagation left."""

    window: Window
    values: np.ndarray  # uint8 (N, 3)
    remaining: np.ndarray  # bool (N,)

    def part(self, start: int, stop: int, counts: np.ndarray) -> "_Finished":
        """The same for frames [start, stop) of the window only (`counts`: hole pixels per frame of the job)."""
        first = int(counts[self.window.start : start].sum())
        last = first + int(counts[start:stop].sum())
        return _Finished(self.window, self.values[first:last], self.remaining[first:last])


class _Models(NamedTuple):
    """The per-video tokenizer, its codebook and the transformer, fitted once per job."""

    tokenizer: VQAutoencoder
    codebook: VideoCodebook
    transformer: torch.nn.Module


def inpaint_frames(
    frames: np.ndarray,
    hole: np.ndarray,
    general: VQAutoencoder,
    config: InpaintConfig,
    seed: int = 0,
    device: str | torch.device = "cpu",
    store: StageStore | None = None,
    log: Callable[[str], None] = print,
) -> InpaintOutput:
    """Fill `hole` in `frames`; every pixel outside the hole is returned bit-exact.

    The arrays are processed chunk by chunk like a file (`inpaint_stream`); the result is gathered in memory.

    Args:
        frames: uint8 (T, H, W, 3), any size.
        hole: bool (T, H, W), True = fill this pixel (already dilated).
        general: the general tokenizer (not modified).
        config: settings (see `InpaintConfig` and the presets).
        seed: seeds every random choice: same inputs and seed, same output.
        device: torch device for the models.
        store: where finished stages are saved, so a killed run resumes after its last finished chunk.
        log: where stage lines go.
    """
    if frames.shape[:3] != hole.shape:
        raise ValueError(f"frames {frames.shape[:3]} and hole {hole.shape} differ in (T, H, W)")
    out = np.empty_like(frames)
    done = 0

    def write(block: np.ndarray) -> None:
        nonlocal done
        out[done : done + len(block)] = block
        done += len(block)

    result = inpaint_stream(
        ArrayFrames(frames), ArrayMask(hole), general, config, write, seed, device, store, log, progress=False
    )
    result.frames = out
    return result


def inpaint_stream(
    frames,
    mask,
    general: VQAutoencoder,
    config: InpaintConfig,
    write: Callable[[np.ndarray], None],
    seed: int = 0,
    device: str | torch.device = "cpu",
    store: StageStore | None = None,
    log: Callable[[str], None] = print,
    progress: bool = True,
    paste_into=None,
) -> InpaintOutput:
    """Inpaint a video chunk by chunk, passing finished frames to `write` in order; memory is one chunk's.

    Args:
        frames: a frame source (`read(start, stop)` -> uint8 (t, H, W, 3); `num_frames`, `height`, `width`).
        mask: the hole, read the same way (bool (t, H, W), already dilated).
        general: the general tokenizer (not modified).
        config: settings (see `InpaintConfig` and the presets).
        write: receives the output frames, uint8 (t, H, W, 3), in order, every frame once.
        seed: same inputs and seed, same output (also when chunks are resumed).
        device: torch device for the models.
        store: where the fitted models and every finished chunk are saved, for resuming after a kill.
        log: where stage lines go.
        progress: one progress bar (with ETA) over the whole job.
        paste_into: the same frames as `frames`, read once from start to end to paste the results into (a second
            sequential reader of the file, so that `frames` can keep a cache for the chunks' overlaps); default
            `frames`.
    """
    store = store or StageStore(None)
    config = resolve_prior(config, general)
    paste_into = frames if paste_into is None else paste_into
    batch = _batch_size(height=frames.height, width=frames.width)
    num_frames, height, width = frames.num_frames, frames.height, frames.width
    result = InpaintOutput(None)

    # 1. Where the hole is: its box in every frame, from one pass over the mask.
    scan = scan_hole(mask)
    hole_pixels = int(scan.counts.sum())
    result.hole_fraction = hole_pixels / (num_frames * height * width)
    if hole_pixels == num_frames * height * width:
        raise InputError(
            f"{getattr(mask, 'path', 'the mask')}: the mask covers every pixel of every frame, so there is nothing to "
            "inpaint from; the hole must leave some pixels known (non-zero = hole, zero = keep)"
        )
    job_box = scan.box(0, num_frames)
    if job_box is None:
        for start in range(0, num_frames, batch):
            write(paste_into.read(start, min(start + batch, num_frames)))
        return result
    job_box = job_box.grown(config.crop_margin, height, width)
    # Everything below reads the job's box only (a decoder's cache then holds crops, not whole frames); boxes of
    # chunks are in its coordinates. Writing pastes into whole frames from `paste_into` and the whole mask.
    whole_mask = mask
    frames, mask = frames.within(job_box), mask.within(job_box, keep=config.chunk_overlap)
    scale = 1.0 if config.max_side is None else min(1.0, config.max_side / max(job_box.height, job_box.width))
    chunks = plan_chunks(
        num_frames, config.chunk, config.chunk_overlap, job_box.height * job_box.width, config.chunk_pixels
    )
    result.chunks = len(chunks)
    log(
        f"hole box {job_box.width}x{job_box.height} px at ({job_box.x0}, {job_box.y0}); {len(chunks)} chunk(s) of "
        f"<= {chunks[0].size} frames; working scale {scale:.3g}"
    )

    fit_steps = config.tokenizer.steps + config.transformer_fit.steps if config.generator else 0
    bar = tqdm(total=fit_steps + num_frames, desc="inpaint", unit="step", disable=not progress, smoothing=0.1)
    try:  # the bar ends its line before any error is printed
        # 2. Fit the tokenizer and the transformer on a bounded sample of frames (the models are shared by all chunks).
        in_box = job_box.inside(job_box)
        models = _fit_models(frames, mask, in_box, scale, general, config, seed, device, store, result, bar)

        # 3. Chunk by chunk: propagate, generate (or the membrane), composite, write the frames that are final. In the
        #    first half of the frames a chunk shares with the one before, what that one propagated is known content
        #    for this chunk, so content travels on from chunk to chunk.
        filled_pixels, written = 0, 0
        previous: _Finished | None = None
        for index, window in enumerate(chunks):
            box = scan.box(window.start, window.stop)
            name = f"chunk-{index:05d}"
            if box is None:
                done = _Finished(window, np.zeros((0, 3), np.uint8), np.zeros(0, bool))
            elif store.has(name):
                done = _Finished(window, *store.load_arrays(name, "values", "remaining"))
            else:
                box = box.grown(config.crop_margin, height, width).inside(job_box)
                carry = previous.part(window.start, window.own_start, scan.counts) if previous else None
                done = _Finished(window, *_fill_chunk(frames, mask, window, box, scale, models, config, seed, carry, result))
                store.save_arrays(name, values=done.values, remaining=done.remaining)
            # Frames up to the next chunk's first are final now; those shared with the chunk before are cross-faded
            # from its fill to this one's, so no frame pair jumps from one fill to the other.
            upto = chunks[index + 1].start if index + 1 < len(chunks) else num_frames
            final = done.part(written, upto, scan.counts)
            values = final.values
            if previous is not None:
                shared = previous.part(written, previous.window.stop, scan.counts).values
                values = cross_fade(shared, values, scan.counts[written : previous.window.stop])
            filled_pixels += int((~final.remaining).sum())
            _write_frames(paste_into, whole_mask, written, upto, values, write)
            bar.update(upto - written)
            written, previous = upto, done
    finally:
        bar.close()
    result.propagated_fraction = filled_pixels / hole_pixels
    log(f"      propagation filled {result.propagated_fraction:.1%} of the hole")
    return result


def cross_fade(before: np.ndarray, after: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Blend the first frames of `after` from `before` (two fills of the same hole pixels) to `after` itself.

    Args:
        before: uint8 (M, 3), the hole pixels of `len(counts)` frames in (t, y, x) order, as one chunk filled them.
        after: uint8 (N >= M, 3), the same frames and then more, as the next chunk filled them.
        counts: hole pixels per blended frame.

    Frame i of L keeps (L - i) / (L + 1) of `before`: a linear ramp whose first and last steps are as small as
    the others, so the change between the two fills is spread evenly over L + 1 frame pairs.
    """
    out = after.copy()
    fade = len(counts)
    first = 0
    for i, count in enumerate(counts):
        last = first + int(count)
        weight = (i + 1) / (fade + 1)
        mixed = weight * after[first:last].astype(np.float32) + (1 - weight) * before[first:last]
        out[first:last] = np.clip(mixed.round(), 0, 255).astype(np.uint8)
        first = last
    return out


def match_boundary(filled: np.ndarray, remaining: np.ndarray, generated: np.ndarray) -> np.ndarray:
    """Shift `generated` inside `remaining` so it meets `filled` at the hole's edge (gradient-domain compositing).

    Per frame: the mismatch ``filled - generated`` on the known pixels is interpolated into the hole harmonically
    (the membrane that equals the mismatch on the hole's boundary) and added to the generated pixels. A decoded fill
    whose colours are off by a smooth offset -- the usual error of a tokenizer's reconstruction -- then continues
    the surrounding frame seamlessly, and its texture is unchanged. Only hole pixels change.
    """
    out = generated.copy()
    for t in np.nonzero(remaining.any(axis=(1, 2)))[0]:
        mismatch = filled[t].astype(np.float32) - generated[t].astype(np.float32)
        offset = harmonic_fill(mismatch, ~remaining[t])
        hole = remaining[t]
        out[t][hole] = np.clip(generated[t][hole] + offset[hole], 0, 255).round().astype(np.uint8)
    return out


def composite(
    filled: np.ndarray, remaining: np.ndarray, generated: np.ndarray, feather: int = 0, in_place: bool = False
) -> np.ndarray:
    """Generated pixels where `remaining`, `filled` elsewhere; `feather` > 0 blends softly inside the hole's edge.

    The soft blend goes from the membrane of the pixels around the hole (which equals them at its edge) to the
    generated fill `feather` + 1 pixels in: never towards what `filled` holds inside the hole, the input's own
    unknown pixels (the object being removed). The blend only ever changes hole pixels, so everything outside the
    hole stays exactly the input. `in_place` writes into `filled` (saves a copy of the video).
    """
    out = filled if in_place else filled.copy()
    if feather <= 0:
        out[remaining] = generated[remaining]
        return out
    for t in np.nonzero(remaining.any(axis=(1, 2)))[0]:
        # Distance inside the hole to its edge: 1 at the edge pixel, growing inwards.
        inside = cv2.distanceTransform(remaining[t].astype(np.uint8), cv2.DIST_L2, 3)
        alpha = np.clip(inside / (feather + 1), 0, 1)[..., None]
        membrane = harmonic_fill(filled[t].astype(np.float32), ~remaining[t])
        mixed = alpha * generated[t] + (1 - alpha) * membrane
        out[t][remaining[t]] = np.clip(mixed[remaining[t]], 0, 255).round().astype(np.uint8)
    return out


# -- steps ------------------------------------------------------------------------------------------------------------
# Full frames decoded at once: at most 16, and at most _BATCH_BYTES of them (2 frames at 4K), since only a chunk's
# box of each is kept.
_BATCH_BYTES = 64 * 2**20


def _batch_size(height: int, width: int) -> int:
    return max(1, min(16, _BATCH_BYTES // (height * width * 3)))


class _stage:
    """Adds a stage's wall time to `result.seconds` (summed over chunks)."""

    def __init__(self, result: InpaintOutput, name: str):
        self.result, self.name = result, name

    def __enter__(self):
        self.start = time.perf_counter()

    def __exit__(self, *exc):
        seconds = self.result.seconds
        seconds[self.name] = seconds.get(self.name, 0.0) + time.perf_counter() - self.start
        return False


def _read_box(frames, mask, start: int, stop: int, box: Box) -> tuple[np.ndarray, np.ndarray]:
    """Frames [start, stop) and their hole, cut to `box`, decoded a few at a time."""
    ys, xs = box.slices
    crops = np.empty((stop - start, box.height, box.width, 3), np.uint8)
    holes = np.empty((stop - start, box.height, box.width), bool)
    batch = _batch_size(height=frames.height, width=frames.width)
    for a in range(start, stop, batch):
        b = min(a + batch, stop)
        crops[a - start : b - start] = frames.read(a, b)[:, ys, xs]
        holes[a - start : b - start] = mask.read(a, b)[:, ys, xs]
    return crops, holes


def _write_frames(frames, mask, start: int, stop: int, values: np.ndarray, write) -> None:
    """Write frames [start, stop): the source frames with their hole pixels replaced by `values`.

    `values` lists the hole pixels of those frames in (t, y, x) order, which does not depend on the box.
    """
    done = 0
    batch = _batch_size(height=frames.height, width=frames.width)
    for a in range(start, stop, batch):
        b = min(a + batch, stop)
        out = np.array(frames.read(a, b))  # a copy: the source stays untouched
        hole = np.asarray(mask.read(a, b))
        count = int(hole.sum())
        out[hole] = values[done : done + count]
        done += count
        write(out)


def _fill_chunk(
    frames, mask, window: Window, box: Box, scale: float, models: _Models | None, config: InpaintConfig, seed: int,
    carry: _Finished | None, result: InpaintOutput,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Inpaint one chunk inside `box`; `carry` holds the earlier chunk's fill of the frames before `own_start`.

    Returns the hole pixels (N, 3) of all the chunk's frames in (t, y, x) order and which of them propagation did
    not fill.
    """
    crops, hole = _read_box(frames, mask, window.start, window.stop, box)
    job_hole = hole.copy()
    if carry is not None:  # what the earlier chunk propagated there is known now, the rest stays a hole
        before = slice(0, window.own_start - window.start)
        crops[before][job_hole[before]] = carry.values
        hole[before] = False
        hole[before][job_hole[before]] = carry.remaining
    # Propagate what other frames of the chunk show.
    with _stage(result, "propagate"):
        if config.propagate:
            prop = propagate(crops, hole, max_side=config.flow_max_side, still_copies=config.still_copies)
            filled, remaining = prop.frames, prop.remaining
        else:
            filled, remaining = crops.copy(), hole.copy()
    if remaining.any():
        if models is None:  # ablation: the membrane of the surroundings (biharmonic where it tests better), no model
            with _stage(result, "membrane"):
                filled = fill_unseen(filled, remaining, ~hole, biharmonic=config.biharmonic)
                _copy_into_blind_frames(filled, remaining)
        else:
            # One seed for every chunk: sampling noise is per position, so a still scene is filled alike across borders.
            filled = _generate(filled, remaining, scale, models, config, seed, result)
    return filled[job_hole], remaining[job_hole]


def _generate(
    filled: np.ndarray, remaining: np.ndarray, scale: float, models: _Models, config: InpaintConfig, seed: int,
    result: InpaintOutput,
) -> np.ndarray:  # fmt: skip
    """DLFormer on one chunk: tokenise at the working scale, predict the hole's codes, decode, upscale and
    composite them (returns the chunk's frames filled)."""
    tokenizer, codebook, transformer = models
    work_frames, work_hole = _to_scale(filled, remaining, scale)
    # Tokenise: cells touching the hole become the completion token.
    with _stage(result, "tokenize"):
        padded, padded_hole = pad_frames(work_frames, work_hole, tokenizer.downsample)
        indices, known = encode_frames(tokenizer, padded, padded_hole, codebook.allowed(next(tokenizer.parameters()).device))
        tokens = codebook.to_local(indices, hole=~known)  # (T, h, w)
    # Predict window by window; the overlap frames are context for the owned ones.
    with _stage(result, "predict"):
        tokens = _predict(transformer, tokens, ~known, config, seed)
    # Decode, bring the frames to full size, composite.
    with _stage(result, "decode"):
        height, width = work_frames.shape[1:3]
        codes = codebook.to_global(tokens)
        fill = decode_frames(tokenizer, codes, config.window, config.overlap)
        fill = _resize_frames(fill[:, :height, :width], filled.shape[1:3])
        still = still_pixels(filled, remaining) if config.hold_still or config.exemplar_detail > 0 else None
        where = mostly_still(still) if config.exemplar_detail > 0 else None
        if where is not None and where.any():
            vectors = tokenizer.quantizer._codes().detach().cpu().numpy()
            detail = exemplar_detail(
                padded, codes.cpu().numpy(), known.cpu().numpy(), vectors, tokenizer.downsample, config.detail_sigma
            )
            detail *= config.exemplar_detail
            add_detail(fill, detail[:, :height, :width], where)
        if config.hold_still:  # after the detail, so a still scene keeps one frame's detail too
            hold_still(fill, still)
        if config.match_boundary:
            fill = match_boundary(filled, remaining, fill)
        return composite(filled, remaining, fill, config.feather, in_place=True)


def _fit_models(
    frames, mask, box: Box, scale: float, general: VQAutoencoder, config: InpaintConfig, seed: int, device,
    store: StageStore, result: InpaintOutput, bar,
) -> _Models | None:  # fmt: skip
    """Fit the tokenizer and the transformer on segments of frames spread over the job, cut to the job's box."""
    if not config.generator:
        return None
    segments = sample_segments(frames.num_frames, config.fit_frames, config.window)
    sample, sample_hole = [], []
    for a, b in segments:
        crops, hole = _read_box(frames, mask, a, b, box)
        crops, hole = _to_scale(crops, hole, scale)
        sample.append(crops)
        sample_hole.append(hole)
    sample, sample_hole = np.concatenate(sample), np.concatenate(sample_hole)
    offsets = np.cumsum([0] + [b - a for a, b in segments])
    local = [(int(offsets[i]), int(offsets[i + 1])) for i in range(len(segments))]  # segments inside the sample
    with _stage(result, "fit_tokenizer"):
        fitted = _fit_tokenizer(general, sample, sample_hole, config, seed, device, store, local, bar)
    tokenizer, codebook = fitted.model, fitted.codebook
    result.video_codes = codebook.size
    with _stage(result, "fit_transformer"):
        padded, padded_hole = pad_frames(sample, sample_hole, tokenizer.downsample)
        indices, known = encode_frames(tokenizer, padded, padded_hole, codebook.allowed(device))
        tokens = codebook.to_local(indices, hole=~known)
        transformer = _fit_transformer(tokens, ~known, codebook, tokenizer, config, seed, device, store, local, bar)
    return _Models(tokenizer, codebook, transformer)


def _copy_into_blind_frames(frames: np.ndarray, remaining: np.ndarray) -> None:
    """Frames with no known pixel left have no boundary for a membrane (it would be black): show the nearest frame
    that has one instead (its hole is filled already)."""
    blind = remaining.all(axis=(1, 2))
    seen = np.nonzero(~blind)[0]
    if len(seen) == 0:  # every frame is hole: nothing nearer to show
        return
    for t in np.nonzero(blind)[0]:
        frames[t] = frames[seen[np.abs(seen - t).argmin()]]


def _to_scale(frames: np.ndarray, hole: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Frames and hole at `scale` (<= 1) of their size; a working pixel is unknown if any pixel under it is."""
    if scale >= 1.0:
        return frames, hole
    h, w = frames.shape[1:3]
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    small = _resize_frames(frames, size)
    small_hole = np.stack([cv2.resize(m.astype(np.float32), size[::-1], interpolation=cv2.INTER_AREA) > 0 for m in hole])
    return small, small_hole


def _resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if frames.shape[1:3] == tuple(size):
        return frames
    shrinking = size[0] < frames.shape[1]
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return np.stack([cv2.resize(f, size[::-1], interpolation=interp) for f in frames])


def _fit_tokenizer(general, frames, hole, config: InpaintConfig, seed, device, store: StageStore, segments, bar):
    if store.has("tokenizer"):
        model = copy.deepcopy(general)
        if not config.aggregation:
            model.aggregation = None
        store.load_model("tokenizer", model)
        model.eval()
        (global_ids, counts) = store.load_tensors("codebook", "global_ids", "counts")
        bar.update(config.tokenizer.steps)
        return FittedTokenizer(model, VideoCodebook(global_ids, counts, general.quantizer.codebook_size), 0.0, [])
    fitted = fit_video_tokenizer(
        general, frames, hole, config.tokenizer, seed=seed, device=device, progress=False, segments=segments,
        on_step=lambda: bar.update(1),
    )  # fmt: skip
    model = fitted.model
    if not config.aggregation:
        model.aggregation = None
    codebook = fitted.codebook
    if not config.refine_codebook:  # ablation: the whole general codebank
        size = general.quantizer.codebook_size
        codebook = VideoCodebook(torch.arange(size), torch.ones(size, dtype=torch.long), size)
    # The codebook first: "tokenizer" is what marks the stage finished, so a kill between the two redoes it.
    store.save_tensors("codebook", global_ids=codebook.global_ids, counts=codebook.counts)
    store.save_model("tokenizer", model)
    return FittedTokenizer(model, codebook, fitted.seconds, fitted.losses)


def _fit_transformer(
    tokens, unknown, codebook: VideoCodebook, tokenizer, config: InpaintConfig, seed, device, store, segments, bar
):
    from videovq.inpaint.transformer import TokenTransformer

    prior = _load_prior(config.prior, tokenizer) if config.prior else None
    architecture = prior.config if prior is not None else config.transformer
    if store.has("transformer"):
        bar.update(config.transformer_fit.steps)
        model = TokenTransformer(architecture, codebook.size)
        return store.load_model("transformer", model).to(device).eval()
    code_vectors = tokenizer.quantizer._codes()[codebook.global_ids].detach().cpu()
    init = prior_for_video(prior, codebook.global_ids) if prior is not None else None
    fit = dataclasses.replace(config.transformer_fit, window_frames=min(config.transformer_fit.window_frames, config.window))
    fitted = fit_transformer(
        tokens, unknown, codebook.size, architecture, fit, code_vectors, seed, device, progress=False, init=init,
        segments=segments, on_step=lambda: bar.update(1),
    )  # fmt: skip
    store.save_model("transformer", fitted.model)
    return fitted.model


def resolve_prior(config: InpaintConfig, general: VQAutoencoder) -> InpaintConfig:
    """`config` with ``prior="shipped"`` replaced by the shipped prior's folder, refused for another tokenizer than
    the shipped one (whose codes it predicts)."""
    if not config.generator or config.prior != SHIPPED_PRIOR:
        return config
    if not _is_shipped_tokenizer(general):
        raise InputError(
            "--tokenizer: the shipped token prior (prior=shipped, used by this preset) predicts the shipped "
            "tokenizer's codes; with your own tokenizer pass --set prior=DIR (a prior trained on its codes, "
            "`videovq train prior`) or --set prior=null (fit from scratch)"
        )
    return dataclasses.replace(config, prior=str(prior_path()))


def _load_prior(folder: str, tokenizer: VQAutoencoder):
    prior, codes = load_prior(folder), tokenizer.config.codebook_size
    if prior.num_codes != codes:
        raise InputError(
            f"{folder}: the prior predicts {prior.num_codes} codes but the tokenizer has {codes}; "
            "pass a prior trained on this tokenizer's codes (`videovq train prior --set tokenizer=...`)"
        )
    return prior


def _is_shipped_tokenizer(tokenizer: VQAutoencoder) -> bool:
    """Whether `tokenizer` has the shipped tokenizer's codebook (the codes the shipped prior predicts)."""
    shipped = read_safetensors(tokenizer_path() / "model.safetensors")["quantizer.codebook"].float()
    ours = tokenizer.quantizer.codebook.detach().float().cpu()
    return ours.shape == shipped.shape and torch.allclose(ours, shipped, atol=1e-3, rtol=1e-3)


def _predict(transformer, tokens: torch.Tensor, unknown: torch.Tensor, config: InpaintConfig, seed: int) -> torch.Tensor:
    tokens, unknown = tokens.clone(), unknown.clone()
    windows = temporal_windows(tokens.shape[0], config.window, min(config.overlap, config.window - 1))
    device = next(transformer.parameters()).device
    for w in windows:
        span = slice(w.start, w.stop)
        if unknown[span].any():
            # Positions are relative to the window, as in training (windows start anywhere there).
            predicted = predict_tokens(
                transformer, tokens[span].to(device), unknown[span].to(device), config.decode_steps,
                config.temperature, torch.Generator().manual_seed(seed), config.top_k, config.confidence_noise,
            )  # fmt: skip
            tokens[span] = predicted.cpu()
            unknown[span] = False  # predictions become context for the next window
    return tokens


def describe_seconds(seconds: dict[str, float], num_frames: int) -> str:
    total = sum(seconds.values())
    parts = ", ".join(f"{k} {v:.1f}s" for k, v in seconds.items())
    return f"{total:.1f} s ({total / max(1, num_frames):.2f} s/frame): {parts}"


@dataclass
class InpaintJob:
    """What `inpaint_video` produced."""

    output: Path
    side_by_side: Path | None
    result: InpaintOutput


def inpaint_video(
    video: str | Path,
    mask: str | Path,
    output: str | Path,
    config: InpaintConfig,
    *,
    dilate: int = 0,
    resize_mask: bool = False,
    side_by_side: str | Path | None = None,
    workdir: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    seed: int = 0,
    device: str = "cpu",
    tokenizer: str | Path | None = None,
    crf: int = 18,
    start: int | str | None = None,
    end: int | str | None = None,
    keep_frames: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> InpaintJob:
    """Inpaint a video file chunk by chunk: read, fill, write (source fps and audio kept), optionally a side-by-side.

    Frames are decoded as chunks need them and written as chunks finish, so memory does not grow with the video's
    length; the output appears at its path (atomically) only when complete.

    Args:
        video: the input video or frame folder.
        mask: its mask (video, frame folder, or one image for all frames); non-zero = hole.
        output: the result (.mp4, .mkv lossless, or a folder of PNGs).
        config: settings (a preset, possibly changed).
        dilate: grow the hole by this many pixels first.
        resize_mask: accept a mask of another size and resize it.
        side_by_side: also write `input with mask | result` here.
        workdir: where the fitted models and finished chunks are kept (default: a hidden folder beside the output,
            removed on success).
        resume: continue a killed job from its finished chunks.
        overwrite: replace existing outputs.
        seed: same inputs and seed, same output.
        device: "cpu" or "cuda".
        tokenizer: general tokenizer folder (default: the shipped one).
        crf: H.264 quality of mp4 outputs.
        start, end: work on frames start <= i < end only (frame indices, or times such as "12.5s"); the output
            holds that part.
        keep_frames: also return the result's frames in memory (`job.result.frames`; for short clips).
        progress: show a progress bar over the whole job.
    """
    from videovq.io.atomic import check_distinct_outputs, check_output_path
    from videovq.io.preview import overlay_mask
    from videovq.io.preview import side_by_side as stack_side_by_side
    from videovq.io.video import VideoWriter, open_video
    from videovq.tokenizer.autoencoder import load_tokenizer

    video, mask, output = Path(video), Path(mask), Path(output)
    check_output_path(output, inputs=[video, mask], overwrite=overwrite)
    if side_by_side is not None:
        check_output_path(side_by_side, inputs=[video, mask], overwrite=overwrite)
        check_distinct_outputs({"-o": output, "--side-by-side": side_by_side})
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"--device {device}: no CUDA device is visible; use --device cpu")
    tokenizer = Path(tokenizer) if tokenizer else tokenizer_path()
    general = load_tokenizer(tokenizer, device)
    config = resolve_prior(config, general)
    if config.generator and config.prior:
        _load_prior(config.prior, general)  # a wrong prior is reported now, not after minutes of fitting

    # PyAV, not decord: decord's memory grew with every frame read (by about 2.5 GB per 1000 frames at 1080p).
    with open_video(video, backend="pyav") as reader:
        info = reader.info
        first, stop = frame_range(start, end, info)
        # Three sequential readers of the file: the chunks' boxes (its cache holds a chunk overlap's full frames),
        # the frames the results are pasted into, and the side-by-side's left half (no cache: each is read once).
        frames = VideoFrames(reader, first, stop - first, keep=config.chunk_overlap)
        paste_into = VideoFrames(reader, first, stop - first, keep=0)
        preview = VideoFrames(reader, first, stop - first, keep=0)
        holes = MaskFile(mask, info, resize=resize_mask, dilate=dilate, first=first, num_frames=stop - first)
        part = f"; frames {first}-{stop - 1}" if (first, stop) != (0, info.num_frames) else ""
        log(f"{info.describe()}{part}")
        work = Path(workdir) if workdir else output.with_name(f".{output.name}.work")
        store = StageStore(work)
        threads = store.previous_meta().get("threads") if resume else None
        if threads and threads != torch.get_num_threads():
            # Float sums depend on the thread count: the rest of a job is computed as its start was.
            from videovq.threads import set_threads

            log(f"resuming with {set_threads(threads)} compute threads, as the job started")
        store.check_meta(
            {
                "layout": 2,  # what a finished chunk keeps (2: the fill of every frame it reads, for the cross-fade)
                "threads": torch.get_num_threads(),
                "video": str(video.resolve()),
                "mask": str(mask.resolve()),
                "frames": info.num_frames,
                "range": [first, stop],
                "size": [info.height, info.width],
                "dilate": dilate,
                "seed": seed,
                "tokenizer": str(tokenizer.resolve()),
                "config": dataclasses.asdict(config),
            },
            resume,
        )
        source_part = None if (first, stop) == (0, info.num_frames) else (first, stop)
        try:
            writers = [
                VideoWriter(
                    output, info.fps, crf=crf, source=video, source_frames=source_part, exact=True, overwrite=overwrite,
                    inputs=[video, mask],
                )  # fmt: skip
            ]
            if side_by_side is not None:
                writers.append(VideoWriter(side_by_side, info.fps, crf=crf, overwrite=overwrite, inputs=[video, mask]))
            kept: list[np.ndarray] = []
            done = 0

            def write(block: np.ndarray) -> None:
                nonlocal done
                writers[0].write(block)
                if keep_frames:
                    kept.append(block)
                if side_by_side is not None:
                    left = overlay_mask(preview.read(done, done + len(block)), holes.read(done, done + len(block)))
                    writers[1].write(stack_side_by_side([left, block], labels=["input + mask", "videovq"]))
                done += len(block)

            try:
                result = inpaint_stream(
                    frames, holes, general, config, write, seed, device, store, log, progress, paste_into=paste_into
                )
                for writer in writers:
                    writer.close()
            except BaseException:
                for writer in writers:
                    writer.abort()
                raise
            finally:
                holes.close()
        except InputError:  # bad input cannot be resumed: leave no work folder behind (a kill keeps it for --resume)
            if workdir is None:
                shutil.rmtree(work, ignore_errors=True)
            raise
        except OSError as e:  # disk full: the finished chunks are kept for --resume
            if e.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            where = e.filename or output
            raise InputError(f"{where}: {e.strerror or e}; free space and rerun with --resume to continue") from None
    if keep_frames:
        result.frames = np.concatenate(kept)
    if workdir is None:
        shutil.rmtree(work, ignore_errors=False)
    log(f"done in {describe_seconds(result.seconds, stop - first)}")
    return InpaintJob(output, Path(side_by_side) if side_by_side else None, result)


def frame_range(start: int | str | None, end: int | str | None, info) -> tuple[int, int]:
    """`--start`/`--end` as frame indices [first, stop): a frame index ("120") or a time in seconds ("12.5s")."""
    first = 0 if start is None else _frame_index(start, info, "--start")
    stop = info.num_frames if end is None else _frame_index(end, info, "--end")
    stop = min(stop, info.num_frames)
    if not 0 <= first < stop:
        raise InputError(
            f"--start {start} / --end {end}: the part is empty or outside the video's {info.num_frames} frames "
            f"({info.duration:.2f} s); pick a start before the end"
        )
    return first, stop


def _frame_index(value: int | str, info, option: str) -> int:
    text = str(value).strip()
    try:
        if text.endswith("s"):
            return int(round(float(text[:-1]) * float(info.fps)))
        return int(text)
    except ValueError:
        raise InputError(f"{option} {value}: give a frame index (120) or a time in seconds (12.5s)") from None
