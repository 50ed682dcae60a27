"""Thin wrapper: `python tools/train_decoder.py ARGS` == `videovq train decoder ARGS`."""

import sys

from videovq.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", "decoder", *sys.argv[1:]]))
