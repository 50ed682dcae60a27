"""The fault matrix: every command on bad input and faults.

Each case runs `videovq.cli.main` in-process and asserts: the exit code (2 for bad input, 0 where the input is legal),
exactly one line on stderr that names the file or option (and no traceback), nothing at the output path, and every
input byte-identical afterwards. Inputs are tiny (8 frames of 32x24) so the whole module runs in well under a minute;
only the SIGKILL faults start subprocesses. docs/errors.md lists what each bad input gets.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import TINY_INPAINT, moving_pattern, write_phone_clip
from videovq.cli import main
from videovq.io.masks import write_mask
from videovq.io.video import VideoWriter, open_video, probe, read_video, write_video

T, H, W = 8, 24, 32
MEMBRANE = ["--set", "generator=false"]  # no model: the hole gets the membrane of its surroundings
TINY = [x for item in TINY_INPAINT for x in ("--set", item)]
TOKENIZER_CONFIG = Path(__file__).parents[1] / "configs" / "tokenizer" / "tiny.yaml"


# -- the inputs ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def inputs(tmp_path_factory, tiny_tokenizer_dir) -> dict[str, Path]:
    """Every input file the cases read, written once; the cases must leave them byte-identical."""
    root = tmp_path_factory.mktemp("inputs")
    frames = moving_pattern(T, H, W)
    box = np.zeros((T, H, W), bool)
    box[:, 6:14, 8:20] = True
    blind = box.copy()
    blind[3] = True  # one frame entirely in the hole, inside a valid mask
    paths = {
        "clip": write_video(root / "clip.mkv", frames, 25),
        "mask": write_mask(root / "mask.mkv", box, 25),
        "full_mask": write_mask(root / "full.mkv", np.ones((T, H, W), bool), 25),
        "blind_mask": write_mask(root / "blind.mkv", blind, 25),
        "pcm": write_phone_clip(root / "pcm.mov", frames, audio="pcm_s16le"),
        "rotated": write_phone_clip(root / "phone.mp4", frames, rotation=90),
        "upright_mask": write_mask(root / "upright.mkv", np.rot90(box, 1, axes=(1, 2)), 25),
        "vfr": write_phone_clip(root / "vfr.mp4", frames, pts=[0, 40, 80, 200, 240, 400, 440, 760], audio="aac"),
        "tokenizer": tiny_tokenizer_dir,
    }
    for side in ((1, 1), (2, 2), (241, 433)):
        name = f"clip_{side[1]}x{side[0]}"
        n = 2 if side[0] > 100 else T
        paths[name] = write_video(root / f"{name}.mkv", moving_pattern(n, *side), 25)
        hole = np.zeros((n, *side), bool)
        hole[:, : max(1, side[0] // 2), : max(1, side[1] // 2)] = True
        if side == (1, 1):
            hole[1:] = False  # frame 0's only pixel is the hole; the others show it
        paths[f"mask_{side[1]}x{side[0]}"] = write_mask(root / f"mask_{name}.mkv", hole, 25)
    png16 = root / "png16"
    png16.mkdir()
    for t, frame in enumerate(frames):  # 16-bit grey PNGs (PIL alone would clip them to white)
        Image.fromarray(frame[..., 0].astype(np.uint16) * 257).save(png16 / f"{t:03d}.png")
    paths["png16"] = png16
    rgba = root / "rgba"
    rgba.mkdir()
    for t, frame in enumerate(frames):
        Image.fromarray(np.dstack([frame, np.full((H, W), 200, np.uint8)]), "RGBA").save(rgba / f"{t:03d}.png")
    paths["rgba"] = rgba
    paths["ten_bit"] = _ten_bit_clip(root / "ten_bit.mkv", frames)
    pickle = root / "weights.pt"
    torch.save({"weight": torch.zeros(2)}, pickle)
    paths["pickle"] = pickle
    pickle_folder = root / "pickled_tokenizer"
    pickle_folder.mkdir()
    (pickle_folder / "model.safetensors").write_bytes(pickle.read_bytes())
    (pickle_folder / "config.yaml").write_bytes((tiny_tokenizer_dir / "config.yaml").read_bytes())
    paths["pickle_folder"] = pickle_folder
    paths["binary"] = root / "binary.yaml"
    paths["binary"].write_bytes(bytes(range(256)) * 4)
    paths["corrupt"] = root / "corrupt.mp4"
    paths["corrupt"].write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    paths["empty_dir"] = root / "empty"
    paths["empty_dir"].mkdir()
    paths["corrupt_dir"] = root / "corrupt_clips"
    paths["corrupt_dir"].mkdir()
    (paths["corrupt_dir"] / "000.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return paths


def _ten_bit_clip(path: Path, frames: np.ndarray) -> Path:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p10le"
        for t, frame in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format="yuv420p10le")
            vf.pts = t
            for packet in stream.encode(vf):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def tree_hashes(paths) -> dict[str, str]:
    out = {}
    for p in paths:
        for f in [p] if p.is_file() else sorted(x for x in p.rglob("*") if x.is_file()):
            out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def run(capsys, argv) -> tuple[int, str, str]:
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:  # argparse refusals
        rc = e.code
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def error_lines(err: str) -> list[str]:
    """stderr without warnings and progress bars (tqdm draws on stderr)."""
    lines = [part for line in err.splitlines() for part in line.split("\r")]
    return [x for x in lines if x.strip() and not x.startswith("videovq: warning:") and not PROGRESS.search(x)]


PROGRESS = re.compile(r"\d+%\|")


def warning_lines(err: str) -> list[str]:
    return [x for x in err.splitlines() if x.startswith("videovq: warning:")]


def assert_refused(rc, err, needles, outputs=()):
    assert "Traceback" not in err, err
    assert rc == 2, err
    lines = error_lines(err)
    assert len(lines) == 1 and ": error: " in lines[0], err
    for needle in needles:
        assert needle in lines[0], lines[0]
    for out in outputs:
        assert not out.exists(), f"{out} was left behind"
        assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}") or ".partial-" in p.name]


# -- the matrix ------------------------------------------------------------------------------------------------------
@dataclass
class Case:
    """argv with {name} placeholders for the inputs and {out}/{out2} for outputs in the case's own folder."""

    argv: list[str]
    needles: list[str] = field(default_factory=list)
    rc: int = 2


def inpaint(*extra: str, video="{clip}", mask="{mask}") -> list[str]:
    return ["inpaint", video, "--mask", mask, "-o", "{out}.mkv", "--tokenizer", "{tokenizer}", *MEMBRANE, *extra]


REFUSED = {
    # inpaint
    "all-masked": Case(inpaint(mask="{full_mask}"), ["full.mkv", "every pixel"]),
    "all-masked-generator": Case(
        inpaint("--set", "generator=true", "--set", "prior=null", mask="{full_mask}"), ["every pixel"]
    ),
    # The default preset's shipped prior predicts the shipped tokenizer's codes, not those of --tokenizer.
    "shipped-prior-other-tokenizer": Case(inpaint("--set", "generator=true"), ["--tokenizer", "prior=null"]),
    "side-by-side-is-output": Case(inpaint("--side-by-side", "{out}.mkv"), ["--side-by-side", "-o", "same file"]),
    "tokenizer-pickle-file": Case(inpaint("--tokenizer", "{pickle}"), ["weights.pt", "never"]),
    "tokenizer-pickle-folder": Case(inpaint("--tokenizer", "{pickle_folder}"), ["model.safetensors", "never"]),
    "tokenizer-missing": Case(inpaint("--tokenizer", "{out}-none"), ["no such tokenizer"]),
    "device-tpu": Case(inpaint("--device", "tpu"), ["--device tpu"]),
    "device-mps": Case(inpaint("--device", "mps"), ["--device mps"]),
    "device-cuda-9": Case(inpaint("--device", "cuda:9"), ["--device cuda:9"]),
    "device-junk": Case(inpaint("--device", "gpu0"), ["--device gpu0"]),
    "steps-negative": Case(inpaint("--set", "transformer_fit.steps=-5"), ["transformer_fit.steps", "-5", ">= 1"]),
    "lr-zero": Case(inpaint("--set", "tokenizer.lr=0"), ["tokenizer.lr", "> 0"]),
    "overlap-window": Case(inpaint("--set", "overlap=99"), ["overlap", "window"]),
    "temperature-nan": Case(inpaint("--set", "temperature=.nan"), ["temperature"]),
    "top-k-negative": Case(inpaint("--set", "top_k=-1"), ["top_k", "-1"]),
    "confidence-noise-absurd": Case(inpaint("--set", "confidence_noise=1000"), ["confidence_noise", "1000"]),
    "prior-missing": Case(inpaint("--set", "generator=true", "--set", "prior={empty_dir}"),
                          ["empty", "model.safetensors"]),  # fmt: skip
    "crf-99": Case(inpaint("--crf", "99"), ["--crf", "99"]),
    "dilate-negative": Case(inpaint("--dilate", "-3"), ["--dilate"]),
    "dilate-absurd": Case(inpaint("--dilate", "100000"), ["--dilate"]),
    "max-side-zero": Case(inpaint("--max-side", "0"), ["--max-side"]),
    "seed-negative": Case(inpaint("--seed", "-1"), ["--seed"]),
    "seed-huge": Case(inpaint("--seed", str(2**40)), ["--seed"]),
    "seed-text": Case(inpaint("--seed", "one"), ["--seed", "'one'"]),
    "mask-corrupt": Case(inpaint(mask="{corrupt}"), ["corrupt.mp4", "corrupt"]),
    "video-empty-folder": Case(inpaint(video="{empty_dir}"), ["empty", "no PNG/JPG"]),
    "rotated-mask-stored-size": Case(inpaint(video="{rotated}", mask="{mask}"), ["mask.mkv", "24x32", "32x24"]),
    # evaluate
    "evaluate-corrupt": Case(["evaluate", "--pred", "{corrupt}", "--ref", "{clip}"], ["corrupt.mp4"]),
    "evaluate-device": Case(["evaluate", "--pred", "{clip}", "--ref", "{clip}", "--device", "tpu"], ["--device"]),
    "evaluate-metric": Case(["evaluate", "--pred", "{clip}", "--ref", "{clip}", "--metrics", "psnr,iq"], ["iq"]),
    # generate (refused before any model is loaded or sampled)
    "generate-fps-zero": Case(["generate", "--fps", "0", "-o", "{out}.mp4"], ["--fps", "0"]),
    "generate-fps-nan": Case(["generate", "--fps", "nan", "-o", "{out}.mp4"], ["--fps"]),
    "generate-frames-zero": Case(["generate", "--frames", "0", "-o", "{out}.mp4"], ["--frames"]),
    "generate-frames-absurd": Case(["generate", "--frames", "10000000000", "-o", "{out}.mp4"], ["--frames"]),
    "generate-steps-absurd": Case(["generate", "--steps", "1000000", "-o", "{out}.mp4"], ["--steps"]),
    "generate-correlation": Case(["generate", "--noise-correlation", "1", "-o", "{out}.mp4"], ["--noise-corr"]),
    "generate-guidance": Case(["generate", "--guidance", "inf", "-o", "{out}.mp4"], ["--guidance"]),
    "generate-device": Case(["generate", "--device", "tpu", "-o", "{out}.mp4"], ["--device tpu"]),
    "generate-model-missing": Case(["generate", "--model", "{empty_dir}", "-o", "{out}.mp4"], ["temporal"]),
    # mask make, preview, info
    "mask-frames-zero": Case(["mask", "make", "--frames", "0", "--size", "32x24", "-o", "{out}.mkv"], ["--frames"]),
    "mask-size-zero": Case(["mask", "make", "--frames", "2", "--size", "0x24", "-o", "{out}.mkv"], ["--size"]),
    "mask-size-text": Case(["mask", "make", "--frames", "2", "--size", "big", "-o", "{out}.mkv"], ["--size"]),
    "mask-fps-negative": Case(["mask", "make", "--like", "{clip}", "--fps", "-1", "-o", "{out}.mkv"], ["--fps"]),
    "mask-like-corrupt": Case(["mask", "make", "--like", "{corrupt}", "-o", "{out}.mkv"], ["corrupt.mp4"]),
    "preview-crf": Case(["preview", "{clip}", "--mask", "{mask}", "--crf", "-1", "-o", "{out}.mp4"], ["--crf"]),
    "preview-corrupt-frames": Case(["preview", "{corrupt_dir}", "--mask", "{mask}", "-o", "{out}.mp4"], ["000.png"]),
    "info-corrupt": Case(["info", "{corrupt}"], ["corrupt.mp4"]),
    "info-folder-corrupt": Case(["info", "{corrupt_dir}"], ["000.png"]),
    "mask-box-bad-rect": Case(["mask", "box", "--rect", "1,2,3", "--like", "{clip}", "-o", "{out}.mkv"], ["--rect"]),
    "mask-box-dilate": Case(["mask", "box", "--rect", "1,2,3,4", "--like", "{clip}", "--dilate", "-1", "-o", "{out}.mkv"],
                            ["--dilate"]),  # fmt: skip
    "mask-track-frame": Case(["mask", "track", "{clip}", "--box", "1,1,4,4", "--frame", "99", "-o", "{out}.mkv"],
                             ["99"]),  # fmt: skip
    # benchmark, ui, data
    "benchmark-no-data": Case(["benchmark", "{empty_dir}", "--masks", "generate:strokes", "--json", "{out}.json",
                               "--no-vfid"], ["empty", "JPEGImages"]),  # fmt: skip
    "benchmark-device": Case(["benchmark", "{empty_dir}", "--masks", "generate:strokes", "--json", "{out}.json",
                              "--device", "tpu"], ["--device tpu"]),  # fmt: skip
    "ui-port": Case(["ui", "--port", "70000", "--workdir", "{out}"], ["--port", "70000"]),
    "ui-device": Case(["ui", "--device", "tpu", "--workdir", "{out}"], ["--device tpu"]),
    "ui-upload-limit": Case(["ui", "--max-upload-mb", "0", "--workdir", "{out}"], ["--max-upload-mb"]),
    "data-corpus-frames": Case(["data", "corpus", "{out}", "--frames", "0"], ["--frames"]),
    "mask-size-absurd": Case(["mask", "make", "--frames", "2", "--size", "100000x100000", "-o", "{out}.mkv"],
                             ["--size"]),  # fmt: skip
    "demo-device": Case(["demo", "--out-dir", "{out}", "--device", "tpu"], ["--device tpu"]),
    "demo-seed": Case(["demo", "--out-dir", "{out}", "--seed", "-1"], ["--seed"]),
    "demo-steps": Case(["demo", "--out-dir", "{out}", "--set", "transformer_fit.steps=0"], ["transformer_fit.steps"]),
    "demo-tokenizer-pickle": Case(["demo", "--out-dir", "{out}", "--tokenizer", "{pickle}"], ["weights.pt"]),
    "no-command": Case([], ["COMMAND"]),
    "unknown-option": Case(["info", "--frobnicate", "{clip}"], ["--frobnicate"]),
}
TRAINERS = {
    "tokenizer": ["--config", str(TOKENIZER_CONFIG)],
    "image-autoencoder": ["--config", "{vldm_configs}/tiny_image_autoencoder.yaml"],
    "vldm": ["--config", "{vldm_configs}/tiny_vldm.yaml"],
    "decoder": ["--config", "{vldm_configs}/tiny_decoder.yaml"],
    "image-ldm": ["--config", "{vldm_configs}/tiny_image_ldm.yaml", "--set", "autoencoder={empty_dir}"],
    "prior": ["--config", "{vldm_configs}/../prior/tiny.yaml", "--set", "tokenizer={tokenizer}"],
}
for name, config in TRAINERS.items():
    train = ["train", name, *config, "--run-dir", "{out}"]
    needle = ["empty"] if name == "image-ldm" else []  # it checks its autoencoder before the data
    REFUSED[f"train-{name}-empty-folder"] = Case([*train, "--data", "{empty_dir}"], ["empty"])
    REFUSED[f"train-{name}-corrupt-clip"] = Case([*train, "--data", "{corrupt}"], needle or ["corrupt.mp4"])
    REFUSED[f"train-{name}-corrupt-frames"] = Case([*train, "--data", "{corrupt_dir}"], needle or ["000.png"])
    REFUSED[f"train-{name}-binary-config"] = Case(
        ["train", name, "--config", "{binary}", "--data", "procedural", "--run-dir", "{out}"], ["binary.yaml", "binary"]
    )
    REFUSED[f"train-{name}-steps"] = Case([*train, "--data", "procedural", "--set", "steps=-5"], ["steps", "-5"])
    REFUSED[f"train-{name}-time-limit"] = Case([*train, "--data", "procedural", "--time-limit", "-1"], ["--time-limit"])


def fill(argv: list[str], inputs: dict[str, Path], out: Path) -> list[str]:
    names = {**{k: str(v) for k, v in inputs.items()}, "out": str(out)}
    names["vldm_configs"] = str(TOKENIZER_CONFIG.parents[1] / "vldm")
    return [a.format(**names) for a in argv]


@pytest.mark.parametrize("name", list(REFUSED))
def test_bad_input_gets_one_line_and_touches_nothing(name, inputs, tmp_path, capsys):
    case = REFUSED[name]
    before = tree_hashes(inputs.values())
    out = tmp_path / "out"
    rc, _, err = run(capsys, fill(case.argv, inputs, out))
    assert_refused(rc, err, case.needles)
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "the failed run left files behind"
    assert tree_hashes(inputs.values()) == before


# -- legal inputs: exit 0 and the right result ---------------------------------------------------------------------
@pytest.mark.parametrize("size", ["1x1", "2x2", "433x241"])
def test_tiny_and_odd_sizes_work(size, inputs, tmp_path, capsys):
    out = tmp_path / "out.mkv"
    rc, _, err = run(capsys, fill(inpaint(video=f"{{clip_{size}}}", mask=f"{{mask_{size}}}"), inputs, tmp_path / "out"))
    assert rc == 0 and "Traceback" not in err, err
    hole = np.asarray([m[..., 0] > 0 for m in read_video(inputs[f"mask_{size}"])])
    assert np.array_equal(read_video(out)[~hole], read_video(inputs[f"clip_{size}"])[~hole])
    rc, _, err = run(capsys, ["preview", inputs[f"clip_{size}"], "--mask", inputs[f"mask_{size}"], "-o", tmp_path / "p.mp4"])
    assert rc == 0, err
    if size == "433x241":  # odd sizes cannot be 4:2:0: the user is told
        assert "odd-sized" in err and "4:4:4" in err
    assert probe(tmp_path / "p.mp4").width == int(size.split("x")[0])


def test_all_masked_frame_inside_a_valid_mask(inputs, tmp_path, capsys):
    """A frame wholly in the hole is legal; the membrane ablation must not paint it black."""
    out = tmp_path / "out.mkv"
    rc, _, err = run(capsys, fill(inpaint("--set", "propagate=false", mask="{blind_mask}"), inputs, tmp_path / "out"))
    assert rc == 0, err
    result = read_video(out)
    assert result[3].mean() > 20  # the test pattern's mean is ~128; black would be 0
    assert np.array_equal(result[3], result[2]) or np.array_equal(result[3], result[4])


def test_deep_colour_and_alpha_are_read_and_the_loss_is_said(inputs, tmp_path, capsys):
    info = probe(inputs["png16"])
    assert info.bit_depth == 16
    frames = read_video(inputs["png16"])
    expected = moving_pattern(T, H, W)[..., 0]
    assert np.array_equal(frames[..., 0], expected)  # 16-bit greys scaled, not clipped to white
    said = {"png16": "16-bit colour becomes 8-bit", "rgba": "alpha channel is dropped", "ten_bit": "10-bit colour"}
    for name, loss in said.items():
        rc, _, err = run(capsys, ["preview", inputs[name], "--mask", inputs["mask"], "-o", tmp_path / f"{name}.mkv"])
        assert rc == 0, err
        assert loss in err
        assert len(warning_lines(err)) == 1 and not error_lines(err)


def test_pcm_audio_into_mp4_is_converted_and_said(inputs, tmp_path, capsys):
    before = tree_hashes([inputs["pcm"]])
    out = tmp_path / "out.mp4"
    argv = fill(inpaint(video="{pcm}"), inputs, tmp_path / "out")
    argv[argv.index("-o") + 1] = str(out)
    rc, _, err = run(capsys, argv)
    assert rc == 0, err
    assert "pcm_s16le audio is converted to AAC" in err and len(warning_lines(err)) == 1
    info = probe(out)
    assert info.audio_codec == "aac" and abs(info.duration - probe(inputs["pcm"]).duration) < 1e-6
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]
    rc, _, err = run(capsys, ["preview", inputs["pcm"], "--mask", inputs["mask"], "-o", tmp_path / "out.mov"])
    assert rc == 0 and probe(tmp_path / "out.mov").audio_codec == "pcm_s16le"  # .mov holds PCM: copied
    assert tree_hashes([inputs["pcm"]]) == before


def test_rotation_is_honoured_for_frames_and_masks_and_kept(inputs, tmp_path, capsys):
    rc, out, _ = run(capsys, ["info", inputs["rotated"]])
    assert rc == 0 and "24x32" in out and "rotated 90 degrees" in out
    upright = read_video(inputs["rotated"])
    assert np.array_equal(upright, np.rot90(moving_pattern(T, H, W), 1, axes=(1, 2)))  # as a player shows it
    result = tmp_path / "out.mkv"
    argv = fill(inpaint(video="{rotated}", mask="{upright_mask}"), inputs, tmp_path / "out")
    rc, _, err = run(capsys, argv)
    assert rc == 0, err
    assert probe(result).rotation == 90 and (probe(result).width, probe(result).height) == (H, W)
    hole = np.asarray([m[..., 0] > 0 for m in read_video(inputs["upright_mask"])])
    assert np.array_equal(read_video(result)[~hole], upright[~hole])


def test_variable_frame_rate_keeps_its_timestamps(inputs, tmp_path, capsys):
    rc, out, _ = run(capsys, ["info", inputs["vfr"]])
    assert rc == 0 and "variable frame rate" in out and "0.80 s" in out
    result = tmp_path / "out.mkv"
    rc, _, err = run(capsys, fill(inpaint(video="{vfr}"), inputs, tmp_path / "out"))
    assert rc == 0, err
    with open_video(inputs["vfr"]) as src, open_video(result) as dst:
        seconds = lambda r: (r.timestamps - r.timestamps[0]) * float(r.time_base)  # noqa: E731
        assert np.allclose(seconds(src), seconds(dst), atol=1e-3)
        assert abs(src.info.duration - dst.info.duration) < 2e-3 and dst.info.has_audio


def test_mp4_is_lossy_and_says_so_mkv_is_exact(inputs, tmp_path, capsys):
    argv = fill(inpaint(), inputs, tmp_path / "out")
    argv[argv.index("-o") + 1] = str(tmp_path / "out.mp4")
    rc, _, err = run(capsys, argv)
    assert rc == 0 and "not bit-exact" in err and ".mkv" in err
    rc, _, err = run(capsys, fill(inpaint(), inputs, tmp_path / "out"))
    assert rc == 0 and "warning" not in err
    argv = fill(inpaint(video="{pcm}"), inputs, tmp_path / "frames")
    argv[argv.index("-o") + 1] = str(tmp_path / "frames")
    rc, _, err = run(capsys, argv)
    assert rc == 0 and "PNG folder has no audio" in err


def test_mp4_encodes_do_not_depend_on_the_cpus(tmp_path):
    """x264 picks its thread count from the CPUs it may use, and its output from the thread count: we fix it.

    Each encode runs in a fresh process pinned to its CPUs: within one process, encodes that follow other encodes
    and decodes have come out differently from one another on a loaded host, which is not what
    this test is about.
    """
    script = (
        "import os, sys; sys.path.insert(0, sys.argv[3]); from conftest import moving_pattern;"
        "from videovq.io.video import write_video;"
        "os.sched_setaffinity(0, {int(c) for c in sys.argv[2].split(',')});"
        "write_video(sys.argv[1], moving_pattern(12, 256, 384), 25)"
    )
    cpus = sorted(os.sched_getaffinity(0))
    here = str(Path(__file__).parent)
    for i, allowed in enumerate([cpus, cpus[:1]]):
        cmd = [sys.executable, "-c", script, str(tmp_path / f"{i}.mp4"), ",".join(map(str, allowed)), here]
        subprocess.run(cmd, check=True)
    assert np.array_equal(read_video(tmp_path / "0.mp4"), read_video(tmp_path / "1.mp4"))
    assert (tmp_path / "0.mp4").read_bytes() == (tmp_path / "1.mp4").read_bytes()


# -- manifests -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "rows, needles",
    [
        ("video,output\n{clip},{out}/a.mkv\n", ["lack ['mask']"]),
        ("video,mask,output\n{clip},{mask},{out}/a.mkv\n{clip},{mask},{out}/a.mkv\n", ["line 2", "also the output"]),
        ("video,mask,output\n{clip},{mask},{out}/a.mkv\n{out}/a.mkv,{mask},{out}/b.mkv\n", ["output of line 2"]),
        ("video,mask,output,seed\n{clip},{mask},{out}/a.mkv,x\n", ["seed"]),
        ("video,mask,output\n", ["no rows"]),
    ],
    ids=["missing-column", "duplicate-output", "reads-another-output", "bad-seed", "no-rows"],
)
def test_bad_manifest(rows, needles, inputs, tmp_path, capsys):
    manifest = tmp_path / "jobs.csv"
    manifest.write_text(rows.format(**inputs, out=tmp_path))
    before = tree_hashes(inputs.values())
    rc, _, err = run(capsys, ["inpaint", "--manifest", manifest, "--tokenizer", inputs["tokenizer"], *MEMBRANE])
    assert_refused(rc, err, ["jobs.csv", *needles])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jobs.csv"]
    assert tree_hashes(inputs.values()) == before


# -- concurrent writers, full disk, SIGKILL --------------------------------------------------------------------------
def test_two_jobs_writing_one_output(inputs, tmp_path, capsys):
    """Both started before either finished: the first result is kept, the second job says so and leaves nothing."""
    out = tmp_path / "o.mkv"
    first, second = VideoWriter(out, 25), VideoWriter(out, 25)
    first.write(moving_pattern(2, 8, 8))
    second.write(moving_pattern(2, 8, 8, seed=1))
    first.close()
    with pytest.raises(Exception, match="another job wrote this output"):
        second.close()
    assert np.array_equal(read_video(out), moving_pattern(2, 8, 8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.mkv"]


def test_full_disk_while_writing(inputs, tmp_path, capsys, monkeypatch):
    """ENOSPC at the write: one line, no partial file; the finished stages stay for --resume, which then works."""
    from videovq.io import video

    before = tree_hashes(inputs.values())

    def full(self, packets):  # the disk fills up at the first packet
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self._tmp))

    monkeypatch.setattr(video.VideoWriter, "_mux", full)
    rc, _, err = run(capsys, fill(inpaint(), inputs, tmp_path / "out"))
    monkeypatch.undo()
    assert_refused(rc, err, ["No space left", "--resume"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.mkv.work"]  # resumable: only the stages
    assert tree_hashes(inputs.values()) == before
    rc, _, err = run(capsys, [*fill(inpaint(), inputs, tmp_path / "out"), "--resume"])
    assert rc == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mkv"]


def _kill_when(cmd: list[str], ready, timeout: float = 180) -> None:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=Path(__file__).parent)
    deadline = time.time() + timeout
    while not ready() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_sigkill_while_inpaint_writes_then_resume(inputs, tmp_path, capsys):
    """Killed while the result is being written: nothing at the target; --resume gives the uninterrupted result."""
    argv = lambda out, *extra: fill(inpaint(*extra), inputs, out)  # noqa: E731
    straight = tmp_path / "straight"
    assert run(capsys, argv(straight))[0] == 0
    killed = tmp_path / "killed"
    work = tmp_path / "work"
    partial = lambda: any(".partial-" in p.name for p in tmp_path.iterdir())  # noqa: E731
    # The child stalls after its first written frame, so the kill surely lands mid-write.
    stall = (
        "import sys, time; from videovq.io import video; write = video.VideoWriter.write; "
        "video.VideoWriter.write = lambda self, f: (write(self, f), time.sleep(600)); "
        "from videovq.cli import main; main(sys.argv[1:])"
    )
    _kill_when([sys.executable, "-c", stall, *argv(killed, "--workdir", str(work))], partial)
    assert not Path(f"{killed}.mkv").exists()
    assert (work / "chunk-00000.npz").exists()  # the kill came after the first chunk, while writing it
    rc, _, err = run(capsys, argv(killed, "--workdir", str(work), "--resume"))
    assert rc == 0, err
    assert np.array_equal(read_video(f"{killed}.mkv"), read_video(f"{straight}.mkv"))


def test_sigkill_during_training_then_resume(tmp_path, capsys):
    """The image autoencoder's trainer (tokenizer, vldm and decoder have the same test in their own modules)."""
    from conftest import kill_at_first_checkpoint
    from safetensors.torch import load_file

    config = TOKENIZER_CONFIG.parents[1] / "vldm" / "tiny_image_autoencoder.yaml"

    def argv(run_dir, *extra):
        return ["train", "image-autoencoder", "--config", config, "--data", "procedural", "--set", "steps=4",
                "--run-dir", run_dir, *extra]  # fmt: skip

    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert run(capsys, argv(straight))[0] == 0
    kill_at_first_checkpoint([sys.executable, "-m", "videovq", *map(str, argv(killed))], killed, 4)
    assert run(capsys, argv(killed, "--resume"))[0] == 0
    weights = "model/vae/diffusion_pytorch_model.safetensors"
    a, b = load_file(str(straight / weights)), load_file(str(killed / weights))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_overwrite_with_bad_input_keeps_the_old_run(tmp_path, capsys, inputs):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "precious.txt").write_text("weeks of training")
    argv = ["train", "tokenizer", "--config", TOKENIZER_CONFIG, "--data", inputs["empty_dir"], "--run-dir", run_dir]
    rc, _, err = run(capsys, [*argv, "--overwrite"])
    assert_refused(rc, err, ["empty"])
    assert (run_dir / "precious.txt").read_text() == "weeks of training"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
