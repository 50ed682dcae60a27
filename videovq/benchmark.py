"""`videovq benchmark`: score a method on a DAVIS / YouTube-VOS copy the way video-inpainting papers do.

The protocol of E2FGVI (Li et al., CVPR 2022; `evaluate.py`, `core/dataset.py`, `core/metrics.py`) and ProPainter
(Zhou et al., ICCV 2023; `scripts/evaluate_propainter.py`, `core/dataset.py`, `core/metrics.py`), which report
"video completion" on DAVIS and YouTube-VOS with one mask folder per video:

1. **Frames** resized to 432x240 (ProPainter: OpenCV decode + `cv2.resize` INTER_LINEAR; E2FGVI: PIL decode +
   `Image.resize`, whose default is bicubic; `--resize` picks either).
2. **Masks** (`test_masks/<video>/00000.png ...`) resized with nearest neighbour, any non-zero grey level a hole,
   dilated by a 3x3 cross 4 times (`cv2.dilate(m, MORPH_CROSS 3x3, iterations=4)`). The hole's pixels are zeroed
   before the method sees them, as their `masked_frames = frames * (1 - masks)`.
3. **PSNR / SSIM** per frame on the whole frame against the resized ground truth, averaged over *all frames of all
   videos* (not per video first). Their SSIM is scikit-image's `compare_ssim(..., data_range=255,
   multichannel=True, win_size=65)`: a 65x65 uniform window, sample covariance, the mean over the frame minus a
   32 px border, per RGB channel, averaged (`videovq.metrics.psnr_ssim.frame_ssim_uniform`, equal to it to ~1e-12).
   Ours (torchmetrics, 11x11 Gaussian, sigma 1.5) is reported beside it.
4. **VFID** over the set: our FVD (`videovq.metrics.fvd`, TF-Hub Kinetics-400 I3D logits, 16-frame clips resized to
   224x224). The papers take one I3D feature per whole video from another I3D checkpoint (docs/evaluation.md says
   how this differs).
5. **Flow warping error** (Lai et al. 2018) with the ground truth's flow (`videovq.metrics.consistency`).
6. Plus ours: PSNR / SSIM inside the hole.

Results go to a JSON file (per video, per frame) after every video, so a killed run resumes where it stopped
(videos already in the JSON are skipped), and to a markdown table beside it.
"""

from __future__ import annotations

import json
import math
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from PIL import Image
from tqdm import tqdm

from videovq.errors import InputError
from videovq.io.atomic import write_bytes_atomic
from videovq.io.video import IMAGE_SUFFIXES

SIZE = (432, 240)  # (width, height) of the E2FGVI / ProPainter DAVIS and YouTube-VOS tables
DILATE_ITERATIONS = 4
RESIZES = ("propainter", "e2fgvi")
BASELINES = ("telea", "temporal-fill", "membrane")
MASK_GENERATORS = ("strokes", "blobs", "boxes")
_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
_CLIP = 16  # frames per VFID clip


@dataclass
class BenchmarkSettings:
    """What `run_benchmark` does. Everything here is recorded in the JSON; resuming needs the same values.

    Args:
        data: the dataset root (`JPEGImages/480p/<video>/`, `JPEGImages/<video>/`, or `<video>/` folders).
        masks: a folder of per-video mask folders, or ``generate:KIND`` (KIND in strokes, blobs, boxes).
        method: a baseline (telea, temporal-fill, membrane) or a preset (fast, default, best).
        overrides: ``key=value`` preset fields (``--set``), for the presets and membrane.
        size: (width, height) frames and masks are resized to.
        resize: "propainter" (cv2 bilinear) or "e2fgvi" (PIL bicubic) frame resizing.
        dilate_iterations: 3x3-cross dilations of every mask.
        seed: seed of generated masks and of the method.
        max_frames: score only the first N frames of each video (None = all).
        videos: only these videos (None = all found).
        vfid: compute VFID (needs videos of >= 16 frames and the I3D weights).
    """

    data: str
    masks: str
    method: str = "membrane"
    overrides: list[str] = field(default_factory=list)
    size: tuple[int, int] = SIZE
    resize: str = "propainter"
    dilate_iterations: int = DILATE_ITERATIONS
    seed: int = 0
    max_frames: int | None = None
    videos: list[str] | None = None
    vfid: bool = True


# -- 1-2: the dataset ------------------------------------------------------------------------------------------------
def find_videos(root: Path) -> dict[str, Path]:
    """Video name -> folder of frames, in DAVIS (`JPEGImages/480p/`), YouTube-VOS (`JPEGImages/`) or flat layout."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: no such dataset folder; pass the folder holding JPEGImages/")
    for base in (root / "JPEGImages" / "480p", root / "JPEGImages", root):
        videos = {p.name: p for p in sorted(base.iterdir()) if p.is_dir() and _frame_files(p)} if base.is_dir() else {}
        if videos:
            return videos
    raise InputError(
        f"{root}: no video folders found; expected JPEGImages/480p/<video>/*.jpg (DAVIS) or JPEGImages/<video>/ "
        "(YouTube-VOS)"
    )


def load_frames(folder: Path, size: tuple[int, int], resize: str, max_frames: int | None) -> np.ndarray:
    """uint8 (T, H, W, 3) RGB frames of one video, resized as ProPainter or E2FGVI resize them."""
    frames = []
    for path in _frame_files(folder)[:max_frames]:
        if resize == "e2fgvi":
            with Image.open(path) as im:  # PIL decode; Image.resize's default filter is bicubic
                frames.append(np.asarray(im.convert("RGB").resize(size, Image.BICUBIC)))
            continue
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise InputError(f"{path}: cannot decode this frame; re-extract the dataset")
        frames.append(cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), size, interpolation=cv2.INTER_LINEAR))
    return np.stack(frames)


def load_masks(folder: Path, num_frames: int, size: tuple[int, int], iterations: int) -> np.ndarray:
    """bool (T, H, W) holes from one video's mask folder: nearest resize, non-zero = hole, 3x3-cross dilation."""
    files = _frame_files(folder)
    if len(files) < num_frames:
        raise InputError(f"{folder}: {len(files)} mask images for {num_frames} frames; give one mask per frame")
    masks = []
    for path in files[:num_frames]:
        with Image.open(path) as im:
            m = (np.asarray(im.resize(size, Image.NEAREST).convert("L")) > 0).astype(np.uint8)
        masks.append(dilate_cross(m, iterations))
    return np.stack(masks)


def generate_masks(kind: str, name: str, num_frames: int, size: tuple[int, int], seed: int, iterations: int):
    """A seeded moving mask for one video (the seed mixes in the video's name: same video, same mask)."""
    from videovq.io.mask_shapes import make_mask

    width, height = size
    hole = make_mask(kind, num_frames, height, width, seed=seed + zlib.crc32(name.encode()) % 65536)
    return np.stack([dilate_cross(m.astype(np.uint8), iterations) for m in hole])


def dilate_cross(mask: np.ndarray, iterations: int) -> np.ndarray:
    """The papers' dilation: `cv2.dilate` with a 3x3 cross, `iterations` times; uint8/bool (H, W) -> bool."""
    return cv2.dilate(mask.astype(np.uint8), _CROSS, iterations=iterations).astype(bool)


def _frame_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


# -- the methods -----------------------------------------------------------------------------------------------------
def make_method(
    name: str, overrides: list[str], seed: int, device: str
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A function (frames, hole) -> filled frames for a baseline or a preset."""
    from videovq.inpaint.presets import PRESET_NAMES

    if name == "telea":
        from videovq.inpaint.baselines import telea_inpaint

        return telea_inpaint
    if name == "temporal-fill":
        from videovq.inpaint.baselines import nearest_valid_fill

        return nearest_valid_fill
    if name not in ("membrane", *PRESET_NAMES):
        raise InputError(f"--method {name}: choose one of {', '.join((*BASELINES, *PRESET_NAMES))}")
    from videovq.config import apply_overrides
    from videovq.inpaint.pipeline import inpaint_frames
    from videovq.inpaint.presets import preset, with_overrides

    if name == "membrane":  # propagation, then the harmonic membrane on what is left: no model
        config, general = with_overrides(apply_overrides(preset("fast"), overrides), generator=False), None
    else:
        from videovq.tokenizer.autoencoder import load_tokenizer
        from videovq.weights import tokenizer_path

        config, general = apply_overrides(preset(name), overrides), load_tokenizer(tokenizer_path())

    def run(frames: np.ndarray, hole: np.ndarray) -> np.ndarray:
        return inpaint_frames(frames, hole, general, config, seed=seed, device=device, log=lambda _: None).frames

    return run


# -- 3-6: scores -----------------------------------------------------------------------------------------------------
def score_video(pred: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> dict[str, list[float]]:
    """Per-frame scores of one video (warp: per consecutive pair)."""
    from videovq.metrics.consistency import warping_error
    from videovq.metrics.psnr_ssim import frame_psnr, frame_ssim, frame_ssim_uniform

    return {
        "psnr": frame_psnr(pred, truth).tolist(),
        "ssim_paper": frame_ssim_uniform(pred, truth).tolist(),
        "ssim": frame_ssim(pred, truth).tolist(),
        "psnr_hole": frame_psnr(pred, truth, hole).tolist(),
        "ssim_hole": frame_ssim(pred, truth, hole).tolist(),
        "warp": warping_error(pred, truth).tolist(),
    }


def summarise(videos: dict[str, dict]) -> dict[str, float]:
    """Means over all scored frames of all videos (frames with an empty hole are left out, see docs)."""
    summary: dict[str, float] = {}
    for key in ("psnr", "ssim_paper", "ssim", "psnr_hole", "ssim_hole", "warp"):
        values = []
        for v in videos.values():
            per_frame = np.asarray(v["per_frame"][key], np.float64)
            if key != "warp":  # frames without a hole are identical to the truth: nothing was inpainted there
                per_frame = per_frame[np.asarray(v["has_hole"], bool)]
            values.append(per_frame[np.isfinite(per_frame)])
        values = np.concatenate(values) if values else np.zeros(0)
        summary[key] = float(values.mean()) if values.size else math.nan
    summary["frames"] = int(sum(sum(v["has_hole"]) for v in videos.values()))
    summary["seconds_per_frame"] = float(
        sum(v["seconds"] for v in videos.values()) / max(1, sum(v["frames"] for v in videos.values()))
    )
    return summary


# -- the run ---------------------------------------------------------------------------------------------------------
def run_benchmark(settings: BenchmarkSettings, json_path: Path, overwrite: bool = False, device: str = "cpu") -> dict:
    """Run `settings.method` on every video not yet in `json_path`, then write the JSON and a markdown table."""
    json_path = Path(json_path)
    report = _start_report(settings, json_path, overwrite)
    videos = find_videos(Path(settings.data))
    if settings.videos:
        missing = sorted(set(settings.videos) - set(videos))
        if missing:
            raise InputError(f"--videos: {', '.join(missing)} not in {settings.data}")
        videos = {k: videos[k] for k in settings.videos}
    mask_kind, mask_dirs = _mask_source(settings.masks, videos)
    todo = [name for name in videos if name not in report["videos"]]
    method = make_method(settings.method, settings.overrides, settings.seed, device) if todo else None
    features_dir = json_path.with_suffix(".i3d")
    extractor = None
    counts = {n: min(len(_frame_files(videos[n])), settings.max_frames or 10**9) for n in todo}
    with tqdm(total=sum(counts.values()), desc=f"benchmark {settings.method}", unit="frame") as progress:
        for name in todo:
            progress.set_postfix_str(name)
            truth = load_frames(videos[name], tuple(settings.size), settings.resize, settings.max_frames)
            if mask_kind is None:
                hole = load_masks(mask_dirs[name], len(truth), tuple(settings.size), settings.dilate_iterations)
            else:
                hole = generate_masks(
                    mask_kind, name, len(truth), tuple(settings.size), settings.seed, settings.dilate_iterations
                )
            masked = np.where(hole[..., None], 0, truth).astype(np.uint8)  # the method never sees the hole
            start = time.perf_counter()
            pred = method(masked, hole)
            seconds = time.perf_counter() - start
            report["videos"][name] = {
                "frames": len(truth),
                "has_hole": hole.any(axis=(1, 2)).tolist(),
                "hole_fraction": float(hole.mean()),
                "seconds": seconds,
                "per_frame": score_video(pred, truth, hole),
            }
            if settings.vfid and len(truth) >= _CLIP:
                extractor = extractor or _i3d(device)
                _save_features(features_dir / f"{name}.npz", extractor, pred, truth)
            _write_json(report, json_path)
            progress.update(counts[name])
    report["summary"] = summarise(report["videos"])
    report["vfid"] = _vfid(features_dir, list(videos)) if settings.vfid else None
    _write_json(report, json_path)
    write_bytes_atomic(json_path.with_suffix(".md"), (markdown_table(report) + "\n").encode(), overwrite=True)
    return report


def _start_report(settings: BenchmarkSettings, json_path: Path, overwrite: bool) -> dict:
    recorded = json.loads(json.dumps(asdict(settings)))  # tuples -> lists, as they come back from the file
    if json_path.exists() and not overwrite:
        try:
            report = json.loads(json_path.read_text())
        except (OSError, ValueError) as e:
            raise InputError(f"{json_path}: not a benchmark JSON ({e}); pass --overwrite to start again") from None
        if report.get("settings") != recorded:
            raise InputError(
                f"{json_path}: written with other settings ({report.get('settings')}); use another --json or "
                "--overwrite to start again"
            )
        return report
    return {"settings": recorded, "videos": {}}


def _mask_source(masks: str, videos: dict[str, Path]) -> tuple[str | None, dict[str, Path]]:
    if masks.startswith("generate:"):
        kind = masks.split(":", 1)[1]
        if kind not in MASK_GENERATORS:
            raise InputError(f"--masks {masks}: use generate:{'|generate:'.join(MASK_GENERATORS)} or a mask folder")
        return kind, {}
    root = Path(masks)
    if not root.is_dir():
        raise InputError(f"--masks {masks}: no such folder; pass the folder of per-video mask folders (test_masks)")
    missing = [name for name in videos if not (root / name).is_dir()]
    if missing:
        raise InputError(f"--masks {masks}: no mask folder for {', '.join(missing[:10])}; one folder per video")
    return None, {name: root / name for name in videos}


def _i3d(device: str):
    from videovq.metrics.fvd import I3DFeatureExtractor

    return I3DFeatureExtractor(device=device)


def _save_features(path: Path, extractor, pred: np.ndarray, truth: np.ndarray) -> None:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, pred=extractor.video_features(pred), truth=extractor.video_features(truth))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, buffer.getvalue(), overwrite=True)


def _vfid(features_dir: Path, names: list[str]) -> dict | None:
    from videovq.metrics.fvd import frechet_distance

    feats = [np.load(features_dir / f"{n}.npz") for n in names if (features_dir / f"{n}.npz").exists()]
    if sum(len(f["truth"]) for f in feats) < 2:
        return {"value": None, "clips": 0, "note": "needs at least 2 clips of 16 frames over the set"}
    pred = np.concatenate([f["pred"] for f in feats])
    truth = np.concatenate([f["truth"] for f in feats])
    return {"value": frechet_distance(truth, pred), "clips": len(truth)}


def _write_json(report: dict, path: Path) -> None:
    text = json.dumps(_jsonable(report), indent=1, allow_nan=False)
    write_bytes_atomic(path, text.encode(), overwrite=True)


def _jsonable(obj):
    """inf -> "inf", nan -> null: strict JSON has neither."""
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


# -- the table -------------------------------------------------------------------------------------------------------
_COLUMNS = (
    ("psnr", "PSNR", "{:.2f}"),
    ("ssim_paper", "SSIM (skimage, 65 uniform)", "{:.4f}"),
    ("ssim", "SSIM (ours, 11 gaussian)", "{:.4f}"),
    ("psnr_hole", "hole PSNR", "{:.2f}"),
    ("ssim_hole", "hole SSIM", "{:.4f}"),
    ("warp", "warp (1e-3)", "{:.3f}"),
)


def markdown_table(report: dict) -> str:
    """One row per video, then the all-frames mean (the papers' average) and the VFID."""
    s = report["settings"]
    lines = [
        f"method {s['method']} {' '.join(s['overrides'])}; {s['size'][0]}x{s['size'][1]}, {s['resize']} resize, "
        f"masks {s['masks']} (3x3 cross x{s['dilate_iterations']})",
        "",
        "| video | frames | " + " | ".join(title for _, title, _ in _COLUMNS) + " | s/frame |",
        "|---|---:|" + "---:|" * (len(_COLUMNS) + 1),
    ]
    for name, video in report["videos"].items():
        summary = summarise({name: video})
        lines.append(_row(name, video["frames"], summary))
    if "summary" in report:
        lines.append(_row("**all frames**", report["summary"]["frames"], report["summary"]))
    vfid = report.get("vfid")
    if vfid:
        value = "n/a" if vfid["value"] is None else f"{vfid['value']:.2f}"
        lines += ["", f"VFID (our FVD: TF-Hub I3D logits, 16-frame clips): {value} over {vfid['clips']} clips"]
    return "\n".join(lines)


def _row(name: str, frames: int, summary: dict) -> str:
    cells = []
    for key, _, fmt in _COLUMNS:
        value = summary[key] * (1e3 if key == "warp" else 1)
        cells.append("n/a" if not math.isfinite(value) else fmt.format(value))
    return f"| {name} | {frames} | " + " | ".join(cells) + f" | {summary['seconds_per_frame']:.3f} |"
