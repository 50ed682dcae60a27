"""Thin wrapper: `python tools/train_vldm.py ARGS` == `videovq train vldm ARGS`."""

import sys

from videovq.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", "vldm", *sys.argv[1:]]))
