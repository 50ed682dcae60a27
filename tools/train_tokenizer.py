"""Thin wrapper: `python tools/train_tokenizer.py ARGS` == `videovq train tokenizer ARGS`."""

import sys

from videovq.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", "tokenizer", *sys.argv[1:]]))
