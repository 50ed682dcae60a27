"""Thin wrapper: `python tools/evaluate.py ARGS` == `videovq evaluate ARGS`."""

import sys

from videovq.cli import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))
