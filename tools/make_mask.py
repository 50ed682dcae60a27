"""Thin wrapper: `python tools/make_mask.py ARGS` == `videovq mask make ARGS`."""

import sys

from videovq.cli import main

if __name__ == "__main__":
    sys.exit(main(["mask", "make", *sys.argv[1:]]))
