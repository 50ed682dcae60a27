"""Train the general tokenizer and the general priors on one GPU within a fixed wall-clock budget.

Three runs share the GPU (the models are small, so one run leaves most of it idle):

* ``tokenizer``: the general tokenizer continued from the shipped one (configs/tokenizer/corpus.yaml), with the
  patch discriminator switched on after a third of its steps;
* ``prior_shipped``: the general prior over the shipped tokenizer's codes (configs/prior/general.yaml), for the
  whole budget;
* ``prior_new``: the same prior over the new tokenizer's codes, started once the tokenizer is done.

Each run first trains for `--probe` minutes to measure its speed, then resumes with the number of steps that fills
its share of the budget, so its learning-rate schedule ends when its time does. Example (docs/training.md):

    python tools/train_general_gpu.py --data images:PHOTOS --out runs --minutes 8
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TOKENIZER = ["mixed_precision=bf16", "optim.batch_size=24", "data.workers=6", "checkpoint_every=1000000"]
PRIOR = ["mixed_precision=bf16", "optim.batch_size=32", "data.size=256", "data.workers=6", "optim.lr=1e-3",
         "checkpoint_every=1000000"]  # fmt: skip
EXTRA: list[str] = []


def start(kind: str, config: str, data: list[str], run: Path, sets: list[str], minutes: float, resume: bool):
    cmd = [sys.executable, "-m", "videovq", "train", kind, "--config", str(ROOT / config), "--data", *data,
           "--run-dir", str(run), "--time-limit", f"{minutes:.3f}"]  # fmt: skip
    for s in [*sets, *EXTRA]:
        cmd += ["--set", s]
    if resume:
        cmd.append("--resume")
    log = open(run.parent / f"{run.name}.log", "a")
    print(f"[{time.strftime('%X')}] {' '.join(cmd)}", flush=True)
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)


def rate(run: Path) -> float:
    """Steps per second over the logged steps after the first (which pays for start-up)."""
    lines = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    timed = [x for x in lines if "time" in x and "step" in x]
    if len(timed) < 2:
        raise SystemExit(f"{run}: fewer than two logged steps in the probe; lengthen --probe")
    first, last = timed[0], timed[-1]
    return (last["step"] - first["step"]) / max(last["time"] - first["time"], 1e-6)


def steps_done(run: Path) -> int:
    return int((run / "checkpoints" / "latest").read_text().split("_")[-1])


def wait(*procs) -> None:
    for p in procs:
        if p.wait() != 0:
            raise SystemExit(f"a run failed (exit {p.returncode}): see its .log")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", required=True, help="training sources, as for videovq train")
    parser.add_argument("--out", type=Path, required=True, help="folder for the three run folders")
    parser.add_argument("--minutes", type=float, default=8.0, help="wall-clock budget of the whole job")
    parser.add_argument("--probe", type=float, default=0.75, help="minutes of the speed probe of each run")
    parser.add_argument("--tokenizer-share", type=float, default=0.45, help="share of the budget for the tokenizer")
    parser.add_argument("--set", nargs="*", default=[], dest="sets", help="overrides for every run (a CPU smoke test)")
    args = parser.parse_args()
    EXTRA[:] = args.sets
    args.out.mkdir(parents=True, exist_ok=True)
    began = time.time()
    left = lambda: args.minutes - (time.time() - began) / 60  # noqa: E731
    tok, prior_a, prior_b = args.out / "tokenizer", args.out / "prior_shipped", args.out / "prior_new"
    tok_cfg, prior_cfg = "configs/tokenizer/corpus.yaml", "configs/prior/general.yaml"
    probe = ["steps=100000", "log_every=10"]  # steps: a placeholder the resumed run replaces

    # The tokenizer's probe is a run of its own (its discriminator's start depends on the step count); the priors'
    # probes are the first steps of their runs, resumed with the step count that fills the budget.
    wait(start("tokenizer", tok_cfg, args.data, args.out / "tokenizer_probe", TOKENIZER + probe, args.probe, False),
         start("prior", prior_cfg, args.data, prior_a, PRIOR + probe, args.probe, False))  # fmt: skip
    tok_minutes = args.tokenizer_share * args.minutes - (time.time() - began) / 60
    tok_steps = int(0.8 * rate(args.out / "tokenizer_probe") * tok_minutes * 60)
    prior_steps = steps_done(prior_a) + int(0.9 * rate(prior_a) * (left() - 1) * 60)
    print(f"tokenizer: {tok_steps} steps in {tok_minutes:.1f} min; prior over the shipped tokenizer: {prior_steps}")
    sets = [*TOKENIZER, "log_every=10", f"steps={tok_steps}", f"gan.start_step={tok_steps // 3}"]
    tok_run = start("tokenizer", tok_cfg, args.data, tok, sets, tok_minutes, False)
    prior_run = start("prior", prior_cfg, args.data, prior_a, [*PRIOR, "log_every=10", f"steps={prior_steps}"],
                      left() - 0.5, True)  # fmt: skip
    wait(tok_run)
    latest = tok / "checkpoints" / (tok / "checkpoints" / "latest").read_text().strip()
    sets = [*PRIOR, f"tokenizer={tok / 'model' if (tok / 'model').exists() else latest}"]
    wait(start("prior", prior_cfg, args.data, prior_b, sets + probe, args.probe, False))
    new_steps = steps_done(prior_b) + int(0.9 * rate(prior_b) * (left() - 1) * 60)
    wait(start("prior", prior_cfg, args.data, prior_b, [*sets, "log_every=10", f"steps={new_steps}"], left() - 0.5,
               True), prior_run)  # fmt: skip
    print(f"done in {(time.time() - began) / 60:.1f} min")


if __name__ == "__main__":
    main()
