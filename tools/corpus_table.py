"""Write the photo table of a built corpus into docs/data.md (between the corpus-table markers).

Run: python tools/corpus_table.py CORPUS [--doc docs/data.md]
The table is `videovq.data.corpus.licence_table` of CORPUS/corpus.json, the same text as CORPUS/LICENSES.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from videovq.data.corpus import corpus_stats, licence_table, load_manifest

BEGIN, END = "<!-- corpus-table:begin -->", "<!-- corpus-table:end -->"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--doc", type=Path, default=Path("docs/data.md"))
    args = parser.parse_args()
    manifest = load_manifest(args.corpus)
    text = args.doc.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{args.doc}: no {BEGIN} ... {END} section to replace")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    stats = corpus_stats(manifest)
    summary = (
        f"Photos kept: {stats['photos_kept']['train']} for training, {stats['photos_kept']['held_out']} held out; "
        f"clips: {', '.join(f'{k} {v}' for k, v in sorted(stats['clips'].items()))}; "
        f"frames: {stats['frames']['train']} training, {stats['frames']['held_out']} held out."
    )
    args.doc.write_text(f"{head}{BEGIN}\n{summary}\n\n{licence_table(manifest)}{END}{tail}")
    print(f"updated {args.doc}: {summary}")


if __name__ == "__main__":
    main()
