"""Thin wrapper: `python tools/demo.py ARGS` == `videovq demo ARGS`."""

import sys

from videovq.cli import main

if __name__ == "__main__":
    sys.exit(main(["demo", *sys.argv[1:]]))
