"""Thin wrapper: `python tools/inpaint.py ARGS` == `videovq inpaint ARGS`."""

import sys

from videovq.cli import main

if __name__ == "__main__":
    sys.exit(main(["inpaint", *sys.argv[1:]]))
