"""Decode throughput of our streaming reader vs bare PyAV, and random access via decord vs PyAV seeking.

Run: python benchmarks/io.py [--video PATH] [--repeat N]
Prints a markdown table; docs/benchmarks.md records it with the machine it ran on.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from videovq.data import sample_video_path
from videovq.io.video import decord_available, open_video, read_video, write_video


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bare_pyav(path: Path, threaded: bool) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if threaded:
            stream.thread_type = "AUTO"
        return sum(1 for frame in container.decode(stream) if frame.to_ndarray(format="rgb24") is not None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, help="video to measure (default: bundled clip looped to 330 frames)")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions; the best time is reported")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        video = args.video
        if video is None:  # a longer file makes seeking meaningful: 330 frames, x264 default GOP (250)
            frames = read_video(sample_video_path())
            video = write_video(Path(tmp) / "bbb_330.mp4", np.concatenate([frames] * 5), 25, crf=18)
        n = open_video(video).info.num_frames
        rng = np.random.default_rng(0)
        starts = rng.integers(0, n - 16, size=20)
        singles = rng.integers(0, n, size=20)

        rows = []
        t_bare = best_of(lambda: bare_pyav(video, threaded=False), args.repeat)
        rows.append(("bare PyAV decode (default threading)", n / t_bare, "frames/s", 1.0))
        t = best_of(lambda: bare_pyav(video, threaded=True), args.repeat)
        rows.append(("bare PyAV decode (thread_type=AUTO)", n / t, "frames/s", t_bare / t))
        t = best_of(lambda: sum(1 for _ in open_video(video)), args.repeat)
        rows.append(("videovq streaming reader", n / t, "frames/s", t_bare / t))
        t = best_of(lambda: sum(len(c) for c in open_video(video).chunks(16)), args.repeat)
        rows.append(("videovq reader, 16-frame chunks", n / t, "frames/s", t_bare / t))

        backends = ["pyav"] + (["decord"] if decord_available() else [])
        for backend in backends:
            reader = open_video(video, backend=backend)
            reader.read(0, 1)  # build the seek index / open decord outside the timing
            t = best_of(lambda: [reader.read(int(s), int(s) + 16) for s in starts], max(1, args.repeat // 2))
            rows.append((f"random 16-frame clips ({backend})", len(starts) / t, "clips/s", None))
            t = best_of(lambda: [reader.read_indices([int(i)]) for i in singles], max(1, args.repeat // 2))
            rows.append((f"random single frames ({backend})", len(singles) / t, "frames/s", None))

    info = open_video(video).info if args.video else None
    print(f"video: {info.describe() if info else 'bundled clip looped to 330 frames (432x240, H.264 CRF 18)'}")
    print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}")
    print()
    print("| measurement | rate | unit | vs bare PyAV |")
    print("| --- | ---: | --- | ---: |")
    for name, rate, unit, ratio in rows:
        print(f"| {name} | {rate:.1f} | {unit} | {'' if ratio is None else f'{ratio:.2f}x'} |")


if __name__ == "__main__":
    main()
