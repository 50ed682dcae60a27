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
from typing import Callable

import cv2
import numpy as np
import torch

from videovq.errors import InputError
from videovq.inpaint.fit import fit_transformer
from videovq.inpaint.presets import InpaintConfig
from videovq.inpaint.propagation import harmonic_fill, propagate
from videovq.inpaint.sampling import predict_tokens
from videovq.inpaint.stages import StageStore
from videovq.tokenizer.autoencoder import VQAutoencoder
from videovq.tokenizer.codebook import VideoCodebook
from videovq.tokenizer.fit import (
    FittedTokenizer,
    decode_frames,
    encode_frames,
    fit_video_tokenizer,
    pad_frames,
)
from videovq.windows import temporal_windows


@dataclass
class InpaintOutput:
    frames: np.ndarray  # uint8 (T, H, W, 3)
    seconds: dict[str, float] = field(default_factory=dict)  # per stage
    hole_fraction: float = 0.0
    propagated_fraction: float = 0.0  # share of the hole filled by propagation
    video_codes: int = 0


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

    Args:
        frames: uint8 (T, H, W, 3), any size.
        hole: bool (T, H, W), True = fill this pixel (already dilated).
        general: the general tokenizer (not modified).
        config: settings (see `InpaintConfig` and the presets).
        seed: seeds every random choice: same inputs and seed, same output.
        device: torch device for the models.
        store: where finished stages are saved, so a killed run resumes after its last finished stage.
        log: where stage lines go.
    """
    if frames.shape[:3] != hole.shape:
        raise ValueError(f"frames {frames.shape[:3]} and hole {hole.shape} differ in (T, H, W)")
    store = store or StageStore(None)
    result = InpaintOutput(frames, hole_fraction=float(hole.mean()))
    if not hole.any():
        result.frames = frames.copy()
        return result

    # 1. Propagate what other frames show (at full resolution; flow on a smaller copy).
    with _stage(result, "propagate", log, "1/6 propagate known pixels along optical flow"):
        if not config.propagate:
            filled, remaining = frames.copy(), hole.copy()
        elif store.has("propagation"):
            filled, remaining = store.load_arrays("propagation", "frames", "remaining")
        else:
            prop = propagate(frames, hole, max_side=config.flow_max_side)
            filled, remaining = prop.frames, prop.remaining
            store.save_arrays("propagation", frames=filled, remaining=remaining)
    result.propagated_fraction = 1.0 - float(remaining.sum()) / float(hole.sum())
    log(f"      propagation filled {result.propagated_fraction:.1%} of the hole")
    if not remaining.any():
        result.frames = filled
        return result
    if not config.generator:  # ablation: the smooth membrane of the surroundings, no model
        with _stage(result, "membrane", log, "membrane fill of what propagation left (no generator)"):
            membrane = match_boundary(filled, remaining, np.zeros_like(filled))
            result.frames = _copy_into_blind_frames(composite(filled, remaining, membrane, in_place=True), remaining)
        return result

    # 2. Work at a resolution the models can afford; the fill is upscaled and composited at full size below.
    work_frames, work_hole = _to_working_size(filled, remaining, config.max_side)

    # 3. Customise the tokenizer to this video's known pixels.
    with _stage(result, "fit_tokenizer", log, "2/6 fit the tokenizer to this video"):
        fitted = _fit_tokenizer(general, work_frames, work_hole, config, seed, device, store)
    tokenizer, codebook = fitted.model, fitted.codebook
    result.video_codes = codebook.size

    # 4. Tokenise: cells touching the hole become the completion token.
    with _stage(result, "tokenize", log, f"3/6 tokenise ({codebook.size} video codes + completion token)"):
        padded, padded_hole = pad_frames(work_frames, work_hole, tokenizer.downsample)
        indices, known = encode_frames(tokenizer, padded, padded_hole, codebook.allowed(device))
        del padded, padded_hole
        tokens = codebook.to_local(indices, hole=~known)  # (T, h, w)

    # 5. Fit the transformer on this video's own tokens (pseudo-holes in known regions).
    with _stage(result, "fit_transformer", log, "4/6 fit the transformer on this video's tokens"):
        transformer = _fit_transformer(tokens, ~known, codebook, tokenizer, config, seed, device, store)

    # 6. Predict the hole's codes window by window; later windows see earlier predictions as context.
    with _stage(result, "predict", log, "5/6 predict the hole's codes"):
        if store.has("predicted"):
            (tokens,) = store.load_tensors("predicted", "tokens")
        else:
            tokens = _predict(transformer, tokens, ~known, config, seed)
            store.save_tensors("predicted", tokens=tokens)

    # 7. Decode with temporal aggregation and composite into the full-resolution frames.
    with _stage(result, "decode", log, "6/6 decode and composite"):
        height, width = work_frames.shape[1:3]
        fill = decode_frames(tokenizer, codebook.to_global(tokens), config.window, config.overlap)[:, :height, :width]
        fill = _resize_frames(fill, frames.shape[1:3])
        if config.match_boundary:
            fill = match_boundary(filled, remaining, fill)
        result.frames = composite(filled, remaining, fill, config.feather, in_place=True)
    return result


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

    The blend only ever changes hole pixels, so everything outside the hole stays exactly the input. `in_place`
    writes into `filled` (saves a copy of the video).
    """
    out = filled if in_place else filled.copy()
    if feather <= 0:
        out[remaining] = generated[remaining]
        return out
    for t in np.nonzero(remaining.any(axis=(1, 2)))[0]:
        # Distance inside the hole to its edge: 1 at the edge pixel, growing inwards.
        inside = cv2.distanceTransform(remaining[t].astype(np.uint8), cv2.DIST_L2, 3)
        alpha = np.clip(inside / (feather + 1), 0, 1)[..., None]
        mixed = alpha * generated[t] + (1 - alpha) * filled[t]
        out[t][remaining[t]] = mixed[remaining[t]].round().astype(np.uint8)
    return out


# -- steps ------------------------------------------------------------------------------------------------------------
class _stage:
    """Times a stage and prints its line."""

    def __init__(self, result: InpaintOutput, name: str, log, line: str):
        self.result, self.name, self.log, self.line = result, name, log, line

    def __enter__(self):
        self.log(f"[{self.line}]")
        self.start = time.perf_counter()

    def __exit__(self, *exc):
        self.result.seconds[self.name] = time.perf_counter() - self.start
        return False


def _copy_into_blind_frames(frames: np.ndarray, remaining: np.ndarray) -> np.ndarray:
    """Frames with no known pixel left have no boundary for a membrane (it would be black): show the nearest frame
    that has one instead."""
    blind = remaining.all(axis=(1, 2))
    if blind.all():
        raise InputError("every pixel of every frame is in the hole: there is nothing to inpaint from")
    seen = np.nonzero(~blind)[0]
    for t in np.nonzero(blind)[0]:
        frames[t] = frames[seen[np.abs(seen - t).argmin()]]
    return frames


def _to_working_size(frames: np.ndarray, hole: np.ndarray, max_side: int | None) -> tuple[np.ndarray, np.ndarray]:
    h, w = frames.shape[1:3]
    if max_side is None or max(h, w) <= max_side:
        return frames, hole
    scale = max_side / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    small = _resize_frames(frames, size)
    # A working pixel is unknown if any full-resolution pixel under it is (area average > 0).
    small_hole = np.stack([cv2.resize(m.astype(np.float32), size[::-1], interpolation=cv2.INTER_AREA) > 0 for m in hole])
    return small, small_hole


def _resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if frames.shape[1:3] == tuple(size):
        return frames
    shrinking = size[0] < frames.shape[1]
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return np.stack([cv2.resize(f, size[::-1], interpolation=interp) for f in frames])


def _fit_tokenizer(general, frames, hole, config: InpaintConfig, seed, device, store: StageStore) -> FittedTokenizer:
    if store.has("tokenizer"):
        model = copy.deepcopy(general)
        if not config.aggregation:
            model.aggregation = None
        store.load_model("tokenizer", model)
        model.eval()
        (global_ids, counts) = store.load_tensors("codebook", "global_ids", "counts")
        return FittedTokenizer(model, VideoCodebook(global_ids, counts, general.quantizer.codebook_size), 0.0, [])
    fitted = fit_video_tokenizer(general, frames, hole, config.tokenizer, seed=seed, device=device)
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


def _fit_transformer(tokens, unknown, codebook: VideoCodebook, tokenizer, config: InpaintConfig, seed, device, store):
    from videovq.inpaint.transformer import TokenTransformer

    if store.has("transformer"):
        return store.load_model("transformer", TokenTransformer(config.transformer, codebook.size)).eval()
    code_vectors = tokenizer.quantizer._codes()[codebook.global_ids].detach().cpu()
    fit = dataclasses.replace(config.transformer_fit, window_frames=min(config.transformer_fit.window_frames, config.window))
    fitted = fit_transformer(tokens, unknown, codebook.size, config.transformer, fit, code_vectors, seed, device)
    store.save_model("transformer", fitted.model)
    return fitted.model


def _predict(transformer, tokens: torch.Tensor, unknown: torch.Tensor, config: InpaintConfig, seed: int) -> torch.Tensor:
    from tqdm import tqdm

    tokens, unknown = tokens.clone(), unknown.clone()
    generator = torch.Generator().manual_seed(seed)
    windows = temporal_windows(tokens.shape[0], config.window, min(config.overlap, config.window - 1))
    for w in tqdm(windows, desc="predict", unit="window", disable=len(windows) < 2):
        span = slice(w.start, w.stop)
        if unknown[span].any():
            # Positions are relative to the window, as in training (windows start anywhere there).
            tokens[span] = predict_tokens(
                transformer, tokens[span], unknown[span], config.decode_steps, config.temperature, generator
            )
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
    log: Callable[[str], None] = print,
) -> InpaintJob:
    """Inpaint a video file: read, fill, write (source fps and audio kept), optionally a side-by-side.

    Args:
        video: the input video or frame folder.
        mask: its mask (video, frame folder, or one image for all frames); non-zero = hole.
        output: the result (.mp4, .mkv lossless, or a folder of PNGs).
        config: settings (a preset, possibly changed).
        dilate: grow the hole by this many pixels first.
        resize_mask: accept a mask of another size and resize it.
        side_by_side: also write `input with mask | result` here.
        workdir: where finished stages are kept (default: a hidden folder beside the output, removed on success).
        resume: continue a killed job from its finished stages.
        overwrite: replace existing outputs.
        seed: same inputs and seed, same output.
        device: "cpu" or "cuda".
        tokenizer: general tokenizer folder (default: the shipped one).
        crf: H.264 quality of mp4 outputs.
    """
    from videovq.io.atomic import check_distinct_outputs, check_output_path
    from videovq.io.masks import check_fillable, dilate_mask, load_mask
    from videovq.io.preview import overlay_mask
    from videovq.io.preview import side_by_side as stack_side_by_side
    from videovq.io.video import VideoWriter, open_video
    from videovq.tokenizer.autoencoder import load_tokenizer
    from videovq.weights import tokenizer_path

    video, mask, output = Path(video), Path(mask), Path(output)
    check_output_path(output, inputs=[video, mask], overwrite=overwrite)
    if side_by_side is not None:
        check_output_path(side_by_side, inputs=[video, mask], overwrite=overwrite)
        check_distinct_outputs({"-o": output, "--side-by-side": side_by_side})
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"--device {device}: no CUDA device is visible; use --device cpu")
    tokenizer = Path(tokenizer) if tokenizer else tokenizer_path()
    general = load_tokenizer(tokenizer, device)

    # Load video and mask (the mask is checked against the video before any work).
    with open_video(video) as reader:
        info = reader.info
        hole = check_fillable(dilate_mask(load_mask(mask, info, resize=resize_mask), dilate), mask)
        frames = reader.read_all()
    log(f"{info.describe()}; hole {hole.mean():.1%} of the pixels")

    work = Path(workdir) if workdir else output.with_name(f".{output.name}.work")
    store = StageStore(work)
    store.check_meta(
        {
            "video": str(video.resolve()),
            "mask": str(mask.resolve()),
            "frames": info.num_frames,
            "size": [info.height, info.width],
            "dilate": dilate,
            "seed": seed,
            "tokenizer": str(tokenizer.resolve()),
            "config": dataclasses.asdict(config),
        },
        resume,
    )
    try:
        result = inpaint_frames(frames, hole, general, config, seed=seed, device=device, store=store, log=log)
        with VideoWriter(
            output, info.fps, crf=crf, source=video, exact=True, overwrite=overwrite, inputs=[video, mask]
        ) as writer:
            writer.write(result.frames)
    except InputError:  # bad input cannot be resumed: leave no work folder behind (a kill keeps it for --resume)
        if workdir is None:
            shutil.rmtree(work, ignore_errors=True)
        raise
    except OSError as e:  # disk full: the finished stages are kept for --resume
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        where = e.filename or output
        raise InputError(f"{where}: {e.strerror or e}; free space and rerun with --resume to continue") from None
    if side_by_side is not None:
        with VideoWriter(side_by_side, info.fps, crf=crf, overwrite=overwrite, inputs=[video, mask]) as writer:
            for s in range(0, info.num_frames, 32):  # in chunks: the panels are twice the video's width
                left = overlay_mask(frames[s : s + 32], hole[s : s + 32])
                writer.write(stack_side_by_side([left, result.frames[s : s + 32]], labels=["input + mask", "videovq"]))
    if workdir is None:
        shutil.rmtree(work, ignore_errors=False)
    log(f"done in {describe_seconds(result.seconds, info.num_frames)}")
    return InpaintJob(output, Path(side_by_side) if side_by_side else None, result)
