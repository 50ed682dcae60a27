"""Inpainting speed and memory on long and high-resolution video: wall time, peak RSS, seam flicker.

Run: python benchmarks/inpaint_speed.py [--cases 240p-moving-120,1080p-moving-120,...] [--presets fast,default]
         [--set generator=false] [--threads N] [--work DIR] [--seam-reference]

Each case is `videovq inpaint` on a file, run as a child process; its peak RSS is the child's own (os.wait4), and the
parent stays small (it imports neither torch nor frames: Linux carries a parent's peak RSS into a forked child).
Inputs are made once under --work: the bundled 66-frame 432x240 clip upscaled to the case's size (bicubic) and
ping-pong looped to its length, H.264 crf 18; "moving" masks are the blobs generator (seed 0, ~12% of the pixels)
upscaled the same way, "logo" masks one static box near the top-right corner (1.4% of the pixels) as a PNG.

Seam flicker: `videovq.metrics.consistency.flicker` (the result's frame-to-frame change minus the input's, in the
hole) over the frame pairs where the fill passes from one chunk's to the next's (into, through and out of the frames
two chunks share, which are cross-faded), against all other pairs. Some frames are harder than others whatever the
chunks, so `--seam-reference` also runs the case as one chunk and gives its flicker on the same pairs: what chunking
adds is the difference between the two.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

SIZES = {"240p": (432, 240), "1080p": (1920, 1080), "4k": (3840, 2160)}
DEFAULT_CASES = "240p-moving-120,1080p-moving-120,1080p-logo-120,1080p-moving-1200,4k-logo-120"


def parse_case(name: str) -> tuple[int, int, str, int]:
    size, kind, frames = name.split("-")
    width, height = SIZES[size]
    if kind not in ("moving", "logo"):
        raise SystemExit(f"case {name}: the mask is 'moving' or 'logo'")
    return width, height, kind, int(frames)


def make_inputs(work: Path, name: str) -> tuple[Path, Path]:
    """The case's video and mask files (made once)."""
    width, height, kind, frames = parse_case(name)
    video = work / f"bbb_{width}x{height}_{frames}.mp4"
    mask = work / (f"logo_{width}x{height}.png" if kind == "logo" else f"blobs_{width}x{height}_{frames}.mkv")
    if not video.exists():
        _write_video(video, width, height, frames)
    if not mask.exists():
        _write_mask(mask, width, height, frames, kind)
    return video, mask


def _looped_source(frames: int):
    import numpy as np

    from videovq.data import sample_video_path
    from videovq.io.video import read_video

    clip = read_video(sample_video_path())
    loop = np.concatenate([clip, clip[::-1]])
    return (loop[i % len(loop)] for i in range(frames))


def _write_video(path: Path, width: int, height: int, frames: int) -> None:
    import av
    import cv2

    tmp = path.with_name(f".{path.name}.partial.mp4")
    container = av.open(str(tmp), mode="w")
    stream = container.add_stream("libx264", rate=25)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.options = {"crf": "18", "preset": "ultrafast"}
    for i, frame in enumerate(_looped_source(frames)):
        big = cv2.resize(frame, (width, height), interpolation=cv2.INTER_CUBIC)
        vf = av.VideoFrame.from_ndarray(big, format="rgb24")
        vf.pts = i
        for packet in stream.encode(vf):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    tmp.rename(path)


def _write_mask(path: Path, width: int, height: int, frames: int, kind: str) -> None:
    import cv2
    import numpy as np
    from PIL import Image

    from videovq.io.mask_shapes import make_mask
    from videovq.io.video import VideoWriter

    if kind == "logo":
        logo = np.zeros((height, width), np.uint8)
        logo[height // 20 : height // 20 + height // 10, width - width // 5 : width - width // 20] = 255
        Image.fromarray(logo).save(path)
        return
    small = make_mask("blobs", frames, 240, 432, seed=0)
    with VideoWriter(path, 25) as writer:
        for m in small:
            big = cv2.resize(m.astype(np.uint8) * 255, (width, height), interpolation=cv2.INTER_NEAREST)
            writer.write(np.repeat(big[..., None], 3, axis=-1))


def run_case(video: Path, mask: Path, out: Path, preset: str, overrides: list[str], threads: int | None) -> dict:
    """`videovq inpaint` in a child process: wall time, peak RSS and the job's own log."""
    cmd = [sys.executable, "-m", "videovq", "inpaint", str(video), "--mask", str(mask), "-o", str(out)]
    cmd += ["--preset", preset, "--overwrite", *[x for o in overrides for x in ("--set", o)]]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    log = out.with_suffix(".log")
    start = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env={**os.environ, "TQDM_DISABLE": "1"})
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed; see {log}")
    return {"wall": wall, "peak_rss_mb": usage.ru_maxrss / 1024, "log": log.read_text()}


def seam_flicker(video: Path, mask: Path, outs: list[Path], preset: str, overrides: list[str]) -> dict:
    """Inside a child: mean flicker in the hole of each result over the seam pairs and over all other pairs.

    Seam pairs are those of the first result's chunks (`seam_pairs`).
    """
    import numpy as np

    from videovq.config import apply_overrides
    from videovq.inpaint.chunks import plan_chunks, scan_hole, seam_pairs
    from videovq.inpaint.presets import preset as get_preset
    from videovq.inpaint.sources import MaskFile, VideoFrames
    from videovq.io.video import open_video
    from videovq.metrics.consistency import flicker

    config = apply_overrides(get_preset(preset), overrides)
    readers = [open_video(out, backend="pyav") for out in outs]
    # Sequential decoders that keep the last frame: each block starts one frame back (random access into H.264
    # would decode from the previous keyframe for every block).
    results = [VideoFrames(reader, keep=1) for reader in readers]
    with open_video(video, backend="pyav") as reader:
        src = VideoFrames(reader, keep=1)
        holes = MaskFile(mask, reader.info, keep=1)
        scan = scan_hole(holes)
        h, w = reader.info.height, reader.info.width
        box = scan.box(0, holes.num_frames).grown(config.crop_margin, h, w)
        chunks = plan_chunks(holes.num_frames, config.chunk, config.chunk_overlap, box.height * box.width, config.chunk_pixels)
        seams = {t for pairs in seam_pairs(chunks) for t in pairs}
        ys, xs = box.slices
        values = [{True: [], False: []} for _ in outs]
        for start in range(0, holes.num_frames, 16):
            first = max(0, start - 1)  # one frame of overlap so that every pair is seen
            stop = min(start + 16, holes.num_frames)
            a, m = src.read(first, stop)[:, ys, xs], holes.read(first, stop)[:, ys, xs]
            for res, v in zip(results, values):
                for i, f in enumerate(flicker(res.read(first, stop)[:, ys, xs], a, m)):
                    if not np.isnan(f):
                        v[first + i + 1 in seams].append(float(f))
        holes.close()
    for reader in readers:
        reader.close()
    mean = lambda x: float(np.mean(x)) if x else float("nan")  # noqa: E731
    return {
        "chunks": len(chunks),
        "seam": mean(values[0][True]),
        "elsewhere": mean(values[0][False]),
        "reference_seam": mean(values[1][True]) if len(outs) > 1 else float("nan"),
        "reference_elsewhere": mean(values[1][False]) if len(outs) > 1 else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=DEFAULT_CASES, help="SIZE-MASK-FRAMES, comma-separated")
    parser.add_argument("--presets", default="fast")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a preset field")
    parser.add_argument("--threads", type=int, help="passed to videovq inpaint (default: its own choice)")
    parser.add_argument("--work", type=Path, default=Path("bench-inpaint-speed"), help="inputs and outputs")
    parser.add_argument("--no-flicker", action="store_true", help="skip the seam flicker (it reads every frame)")
    parser.add_argument(
        "--seam-reference", action="store_true",
        help="also run each case as one chunk (memory grows with the length) and give its flicker on the same pairs",
    )  # fmt: skip
    parser.add_argument("--child-flicker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_flicker:
        video, mask, preset, *outs = args.child_flicker
        print(json.dumps(seam_flicker(Path(video), Path(mask), [Path(o) for o in outs], preset, args.set)))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {load:.1f} at the start")
    print(f"overrides: {' '.join(args.set) or 'none'}\n")
    print(
        "| case | preset | frames | wall s | s/frame | peak RSS MB | chunks | seam flicker | elsewhere "
        "| one chunk: seam pairs | elsewhere | load |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for case in args.cases.split(","):
        video, mask = make_inputs(args.work, case)
        frames = parse_case(case)[3]
        for preset in args.presets.split(","):
            tag = "-".join([case, preset, *[o.replace("=", "_") for o in args.set]])
            out = args.work / f"out_{tag}.mp4"
            r = run_case(video, mask, out, preset, args.set, args.threads)
            outs = [out]
            if args.seam_reference:
                outs.append(args.work / f"out_{tag}-one-chunk.mp4")
                one_chunk = [*args.set, "chunk=1000000", "chunk_pixels=null"]
                run_case(video, mask, outs[-1], preset, one_chunk, args.threads)
            nan = float("nan")
            seam = {"chunks": "", "seam": nan, "elsewhere": nan, "reference_seam": nan, "reference_elsewhere": nan}
            if not args.no_flicker:
                child = subprocess.run(
                    [sys.executable, __file__, *[x for o in args.set for x in ("--set", o)], "--child-flicker",
                     str(video), str(mask), preset, *map(str, outs)],
                    capture_output=True, text=True, check=True,
                )  # fmt: skip
                seam = json.loads(child.stdout.strip().splitlines()[-1])
            print(
                f"| {case} | {preset} | {frames} | {r['wall']:.1f} | {r['wall'] / frames:.2f} | {r['peak_rss_mb']:.0f} "
                f"| {seam['chunks']} | {seam['seam']:.2f} | {seam['elsewhere']:.2f} | {seam['reference_seam']:.2f} "
                f"| {seam['reference_elsewhere']:.2f} | {os.getloadavg()[0]:.1f} |",
                flush=True,
            )
            (args.work / f"out_{tag}.json").write_text(json.dumps({**r, **seam, "case": case, "preset": preset}))


if __name__ == "__main__":
    main()
