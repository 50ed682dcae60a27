"""Copy a run's newest checkpoint into the repository (checkpoints/RUN), so a new machine can resume it.

Run: python tools/snapshot_run.py RUN_DIR checkpoints/NAME [--weights-only]
Copies RUN_DIR/config.yaml, log.jsonl, checkpoints/latest and the checkpoint it names (replacing an older one in
the destination); `--weights-only` leaves out trainer.pt (optimiser state), for runs whose full checkpoint is too
large to commit: such a snapshot restarts the optimiser (see docs/training.md).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from videovq.train.checkpoint import latest_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--weights-only", action="store_true")
    args = parser.parse_args()
    checkpoint = latest_checkpoint(args.run)
    if checkpoint is None:
        raise SystemExit(f"{args.run}: no complete checkpoint yet")
    shutil.rmtree(args.dest / "checkpoints", ignore_errors=True)
    target = args.dest / "checkpoints" / checkpoint.name
    target.mkdir(parents=True)
    for name in ("config.yaml", "log.jsonl"):
        if (args.run / name).exists():
            shutil.copy2(args.run / name, args.dest / name)
    for item in checkpoint.iterdir():
        if not (args.weights_only and item.name == "trainer.pt"):
            shutil.copy2(item, target / item.name)
    (args.dest / "checkpoints" / "latest").write_text(checkpoint.name)
    size = sum(p.stat().st_size for p in args.dest.rglob("*") if p.is_file())
    print(f"{args.dest}: {checkpoint.name}, {size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
