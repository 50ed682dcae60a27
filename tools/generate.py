"""Thin wrapper: `python tools/generate.py ARGS` == `videovq generate ARGS`."""

import sys

from videovq.cli import main

if __name__ == "__main__":
    sys.exit(main(["generate", *sys.argv[1:]]))
