"""Thin wrapper: `python tools/info.py ARGS` == `videovq info ARGS`."""

import sys

from videovq.cli import main

if __name__ == "__main__":
    sys.exit(main(["info", *sys.argv[1:]]))
