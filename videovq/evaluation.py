"""`videovq evaluate`: score predicted videos against references.

Per video, streaming in chunks so memory stays flat in video length: PSNR/SSIM on the whole frame and inside the
hole, warping error and flicker. Over the whole set: FVD from the I3D features of every 16-frame clip.

(The module is `evaluation`, not `evaluate`: a submodule named like the package's public `evaluate` function would
replace that function on the package as soon as it is imported.)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from videovq.errors import InputError
from videovq.io.atomic import write_bytes_atomic
from videovq.io.masks import load_mask
from videovq.io.video import IMAGE_SUFFIXES, open_video, probe

METRICS = ("psnr", "ssim", "fvd", "warp", "flicker")
DEFAULT_METRICS = ("psnr", "ssim", "warp", "flicker")
VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".gif", ".y4m", ".ts")
CHUNK = 32


@dataclass
class VideoPair:
    name: str
    pred: Path
    ref: Path
    mask: Path | None = None


@dataclass
class VideoScores:
    """Per-frame values of one video (warp/flicker have one value per consecutive frame pair)."""

    name: str
    num_frames: int
    per_frame: dict[str, list[float]] = field(default_factory=dict)
    fvd_features: dict[str, np.ndarray] = field(default_factory=dict)  # "pred"/"ref" -> (clips, 400)

    def summary(self) -> dict[str, float]:
        return {key: mean_with_inf(values) for key, values in self.per_frame.items()}


@dataclass
class Report:
    videos: list[VideoScores]
    metrics: tuple[str, ...]
    fvd: float | None = None
    fvd_clips: int = 0

    def mean(self) -> dict[str, float]:
        keys = self.videos[0].per_frame.keys() if self.videos else []
        return {k: mean_with_inf([v.summary()[k] for v in self.videos]) for k in keys}

    def table(self) -> str:
        """A markdown table: one row per video, then the mean (and FVD over the whole set)."""
        keys = list(self.videos[0].per_frame) if self.videos else []
        header = ["video", "frames", *[_column_name(k) for k in keys]]
        rows = [[v.name, str(v.num_frames), *[_fmt(v.summary()[k], k) for k in keys]] for v in self.videos]
        mean = self.mean()
        rows.append(["mean", str(sum(v.num_frames for v in self.videos)), *[_fmt(mean[k], k) for k in keys]])
        if self.fvd is not None:
            header.append("FVD")
            for row in rows[:-1]:
                row.append("")
            rows[-1].append(f"{self.fvd:.2f} ({self.fvd_clips} clips)")
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {
            "metrics": list(self.metrics),
            "units": {
                "psnr": "dB on [0, 255]",
                "ssim": "[0, 1], 11x11 gaussian window",
                "warp": "mean squared error on [0, 1] of the warped previous frame (non-occluded pixels)",
                "flicker": "mean |change of prediction - change of reference| on [0, 255]",
                "*_hole": "inside the mask only",
            },
            "videos": [
                {"name": v.name, "frames": v.num_frames, "summary": _jsonable(v.summary()), "per_frame": _jsonable(v.per_frame)}
                for v in self.videos
            ],
            "mean": _jsonable(self.mean()),
            "fvd": None if self.fvd is None else {"value": self.fvd, "clips": self.fvd_clips},
        }


def parse_metrics(text: str) -> tuple[str, ...]:
    names = tuple(m.strip().lower() for m in text.split(",") if m.strip())
    unknown = [m for m in names if m not in METRICS]
    if unknown or not names:
        raise InputError(f"--metrics {text}: unknown metric(s) {unknown}; choose from {','.join(METRICS)}")
    return names


def pair_videos(pred: Path, ref: Path, mask: Path | None = None) -> list[VideoPair]:
    """Match predictions to references: two videos, or two folders of videos matched by file name (stem)."""
    pred, ref = Path(pred), Path(ref)
    for path, flag in ((pred, "--pred"), (ref, "--ref")):
        if not path.exists():
            raise InputError(f"{path}: no such file or folder; check {flag}")
    if not is_video_collection(pred) and not is_video_collection(ref):
        return [VideoPair(pred.stem or pred.name, pred, ref, mask)]
    if not (is_video_collection(pred) and is_video_collection(ref)):
        raise InputError(f"{pred} and {ref}: pass two videos or two folders of videos, not one of each")
    preds, refs = _collection(pred), _collection(ref)
    missing = sorted(set(preds) ^ set(refs))
    if missing:
        raise InputError(
            f"{pred} and {ref}: no partner for {', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}; "
            "each prediction needs a reference with the same file name"
        )
    # A folder of masks is matched by name; one mask (file, image or frame folder) applies to every video.
    masks = _collection(mask) if mask is not None and is_video_collection(mask) else None
    if masks is not None and set(preds) - set(masks):
        raise InputError(f"{mask}: no mask for {', '.join(sorted(set(preds) - set(masks))[:10])}")
    return [VideoPair(name, preds[name], refs[name], masks[name] if masks else mask) for name in sorted(preds)]


def is_video_collection(path: Path) -> bool:
    """A folder of videos (files or frame subfolders), as opposed to one video stored as a folder of frames."""
    if not path.is_dir():
        return False
    entries = [p for p in path.iterdir() if not p.name.startswith(".")]
    if any(p.suffix.lower() in IMAGE_SUFFIXES for p in entries if p.is_file()):
        return False
    return any(p.is_dir() or p.suffix.lower() in VIDEO_SUFFIXES for p in entries)


def _collection(folder: Path) -> dict[str, Path]:
    items: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or not (p.is_dir() or p.suffix.lower() in VIDEO_SUFFIXES):
            continue
        if p.stem in items:
            raise InputError(f"{folder}: two videos named '{p.stem}' ({items[p.stem].name}, {p.name}); rename one")
        items[p.stem] = p
    return items


def score_video(pair: VideoPair, metrics: Sequence[str], extractor=None, progress: tqdm | None = None) -> VideoScores:
    """All per-video metrics of one pair, reading both videos in chunks."""
    with open_video(pair.pred) as pred_reader, open_video(pair.ref) as ref_reader:
        p, r = pred_reader.info, ref_reader.info
        if (p.num_frames, p.height, p.width) != (r.num_frames, r.height, r.width):
            raise InputError(
                f"{pair.pred}: {p.num_frames} frames of {p.width}x{p.height} but the reference {pair.ref} has "
                f"{r.num_frames} frames of {r.width}x{r.height}; predictions must match their references"
            )
        mask = load_mask(pair.mask, r) if pair.mask is not None else None
        scores = VideoScores(pair.name, r.num_frames)
        clip_frames: dict[str, list[np.ndarray]] = {"pred": [], "ref": []}
        clip_feats: dict[str, list[np.ndarray]] = {"pred": [], "ref": []}
        prev: tuple[np.ndarray, np.ndarray] | None = None
        start = 0
        for pred, ref in zip(pred_reader.chunks(CHUNK), ref_reader.chunks(CHUNK)):
            m = mask[start : start + len(pred)] if mask is not None else None
            _frame_metrics(scores, pred, ref, m, metrics)
            if prev is not None or len(pred) > 1:  # pairs of consecutive frames, across chunk borders too
                pp = np.concatenate([prev[0], pred]) if prev is not None else pred
                rr = np.concatenate([prev[1], ref]) if prev is not None else ref
                mm = None
                if mask is not None:
                    mm = mask[start - 1 : start + len(pred)] if prev is not None else m
                _pair_metrics(scores, pp, rr, mm, metrics)
            if "fvd" in metrics:
                for key, frames in (("pred", pred), ("ref", ref)):
                    clip_frames[key].extend(frames)
                    while len(clip_frames[key]) >= 16:  # non-overlapping 16-frame clips, as the reference FVD
                        clip_feats[key].append(extractor.video_features(np.stack(clip_frames[key][:16])))
                        del clip_frames[key][:16]
            prev = (pred[-1:], ref[-1:])
            start += len(pred)
            if progress is not None:
                progress.update(len(pred))
        for key in clip_feats:
            if clip_feats[key]:
                scores.fvd_features[key] = np.concatenate(clip_feats[key])
    return scores


def _frame_metrics(scores: VideoScores, pred, ref, mask, metrics) -> None:
    from videovq.metrics.psnr_ssim import frame_psnr, frame_ssim

    for name, fn in (("psnr", frame_psnr), ("ssim", frame_ssim)):
        if name not in metrics:
            continue
        scores.per_frame.setdefault(name, []).extend(fn(pred, ref).tolist())
        if mask is not None:
            scores.per_frame.setdefault(f"{name}_hole", []).extend(fn(pred, ref, mask).tolist())


def _pair_metrics(scores: VideoScores, pred, ref, mask, metrics) -> None:
    from videovq.metrics.consistency import flicker, warping_error

    if "warp" in metrics:
        scores.per_frame.setdefault("warp", []).extend(warping_error(pred, ref).tolist())
    if "flicker" in metrics:
        scores.per_frame.setdefault("flicker", []).extend(flicker(pred, ref).tolist())
        if mask is not None:
            scores.per_frame.setdefault("flicker_hole", []).extend(flicker(pred, ref, mask).tolist())


def evaluate(
    pred: str | Path,
    ref: str | Path,
    mask: str | Path | None = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
    i3d: str | Path | None = None,
    device: str = "cpu",
) -> Report:
    """Score predictions against references (two videos or two folders of videos); see the module docstring.

    Under ``accelerate launch --num_processes N`` the videos are split between the processes (each scores its share,
    FVD features included) and gathered on every process in their original order, so the report equals a
    one-process run's.
    """
    from accelerate.utils import gather_object

    from videovq.parallel import process_state

    pairs = pair_videos(Path(pred), Path(ref), Path(mask) if mask else None)
    state = process_state()
    if device.startswith("cuda") and state.num_processes > 1:
        device = str(state.device)  # one GPU per process
    extractor = None
    if "fvd" in metrics:
        from videovq.metrics.fvd import I3DFeatureExtractor

        extractor = I3DFeatureExtractor(i3d, device=device)
    videos = []
    with state.split_between_processes(pairs) as mine:
        total = sum(probe(p.ref).num_frames for p in mine)  # for the progress bar's ETA
        with tqdm(total=total, desc="evaluate", unit="frame", disable=not state.is_main_process) as progress:
            for pair in mine:
                videos.append(score_video(pair, metrics, extractor, progress))
    if state.num_processes > 1:
        videos = gather_object(videos)  # contiguous shares in rank order: the original order
    report = Report(videos, tuple(metrics))
    if "fvd" in metrics:
        report.fvd, report.fvd_clips = fvd_of(videos)
    return report


def fvd_of(videos: Sequence[VideoScores]) -> tuple[float, int]:
    from videovq.metrics.fvd import frechet_distance

    feats = {k: [v.fvd_features[k] for v in videos if k in v.fvd_features] for k in ("pred", "ref")}
    if not feats["ref"]:
        raise InputError("FVD needs videos of at least 16 frames; drop fvd from --metrics for shorter videos")
    pred, ref = np.concatenate(feats["pred"]), np.concatenate(feats["ref"])
    if len(ref) < 2:
        raise InputError(f"FVD needs at least 2 clips of 16 frames per set; these videos give {len(ref)}")
    return frechet_distance(pred, ref), len(ref)


def write_report_json(report: Report, path: str | Path, overwrite: bool = False) -> Path:
    text = json.dumps(report.to_json(), indent=1, allow_nan=False)
    return write_bytes_atomic(path, text.encode(), overwrite=overwrite)


def mean_with_inf(values: Sequence[float]) -> float:
    """Mean ignoring NaN (frames with an empty hole); +inf if any value is inf (identical frames in PSNR)."""
    arr = np.asarray(values, np.float64)
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        return math.nan
    if np.isinf(arr).any():
        return math.inf
    return float(arr.mean())


def _column_name(key: str) -> str:
    return {"warp": "warp (1e-3)"}.get(key, key.replace("_hole", " (hole)"))


def _fmt(value: float, key: str) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf"
    if key.startswith("psnr"):
        return f"{value:.2f}"
    if key.startswith("warp"):
        return f"{value * 1e3:.3f}"
    if key.startswith("flicker"):
        return f"{value:.3f}"
    return f"{value:.4f}"


def _jsonable(obj):
    """inf -> "inf", nan -> null: strict JSON has neither."""
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float):
        if math.isnan(obj):
            return None
        if math.isinf(obj):
            return "inf" if obj > 0 else "-inf"
    return obj

