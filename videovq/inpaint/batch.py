"""`videovq inpaint --manifest JOBS.csv`: inpaint many videos, split between processes by accelerate.

The manifest is a CSV with the columns ``video, mask, output`` and optionally ``preset`` and ``seed`` (empty cells
take the command line's values); relative paths are relative to the manifest's folder. Under
``accelerate launch --num_processes N`` (one machine or several) each process takes a contiguous share of the rows.
Every output is written atomically, a row whose output exists is skipped (so re-running a manifest resumes it), and
a row that fails is recorded with its error and does not stop the others. The main process gathers every row's
outcome into a results CSV and prints a summary.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from videovq.errors import InputError
from videovq.io.atomic import write_bytes_atomic

REQUIRED = ("video", "mask", "output")
OPTIONAL = ("preset", "seed")


@dataclass
class ManifestRow:
    line: int  # line number in the CSV (the header is line 1)
    video: Path
    mask: Path
    output: Path
    preset: str | None = None
    seed: int | None = None


@dataclass
class RowResult:
    line: int
    video: str
    output: str
    status: str  # "done", "skipped" or "failed"
    seconds: float
    error: str = ""


def read_manifest(path: str | Path) -> list[ManifestRow]:
    """Parse and check a manifest (columns, paths, duplicate outputs); errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such manifest; pass a CSV with the columns video,mask,output")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        columns = [c.strip() for c in reader.fieldnames or []]
        missing = [c for c in REQUIRED if c not in columns]
        unknown = [c for c in columns if c not in REQUIRED + OPTIONAL]
        if missing or unknown:
            raise InputError(
                f"{path}: columns {columns} lack {missing or 'nothing'}, unknown {unknown or 'none'}; the header "
                f"must name {', '.join(REQUIRED)} (and optionally {', '.join(OPTIONAL)})"
            )
        rows = []
        for number, record in enumerate(reader, start=2):
            record = {k.strip(): (v or "").strip() for k, v in record.items() if k is not None}
            if not any(record.values()):
                continue
            empty = [c for c in REQUIRED if not record.get(c)]
            if empty:
                raise InputError(f"{path}:{number}: empty {', '.join(empty)}; every row needs video, mask and output")
            seed = record.get("seed") or None
            if seed is not None and not seed.lstrip("-").isdigit():
                raise InputError(f"{path}:{number}: seed {seed!r} is not an integer")
            rows.append(
                ManifestRow(
                    number,
                    _resolve(path, record["video"]),
                    _resolve(path, record["mask"]),
                    _resolve(path, record["output"]),
                    record.get("preset") or None,
                    int(seed) if seed is not None else None,
                )
            )
    outputs: dict[Path, int] = {}
    for row in rows:
        key = row.output.resolve()
        if key in outputs:
            raise InputError(f"{path}:{row.line}: output {row.output} is also the output of line {outputs[key]}")
        outputs[key] = row.line
    for row in rows:  # rows run in any order, on any process: one must not read what another writes
        for column, value in (("video", row.video), ("mask", row.mask)):
            other = outputs.get(value.resolve())
            if other is not None:
                raise InputError(
                    f"{path}:{row.line}: {column} {value} is the output of line {other}; run that row first in its "
                    "own manifest, or read another file"
                )
    if not rows:
        raise InputError(f"{path}: the manifest has no rows")
    return rows


def _resolve(manifest: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else manifest.parent / p


def run_manifest(
    manifest: str | Path,
    inpaint_row: Callable[[ManifestRow], None],
    results_path: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> list[RowResult]:
    """Run every row this process owns; gather all outcomes on the main process, which writes `results_path`.

    Args:
        manifest: the CSV.
        inpaint_row: inpaints one row (raises on failure).
        results_path: where the results CSV goes (default: ``MANIFEST.results.csv``); written by the main process.
        log: where per-row lines go.

    Returns:
        Every row's result on the main process (in manifest order); this process's own rows elsewhere.
    """
    from accelerate.utils import gather_object

    from videovq.parallel import process_state

    rows = read_manifest(manifest)
    state = process_state()
    results = []
    with state.split_between_processes(rows) as mine:
        for row in mine:
            results.append(_run_row(row, inpaint_row, state.process_index, log))
    if state.num_processes > 1:
        results = gather_object(results)
    if state.is_main_process:
        results.sort(key=lambda r: r.line)
        target = Path(results_path) if results_path else Path(manifest).with_suffix(".results.csv")
        write_bytes_atomic(target, results_csv(results).encode(), overwrite=True)
        log(summary_table(results))
        log(f"wrote {target}")
    return results


def _run_row(row: ManifestRow, inpaint_row, rank: int, log) -> RowResult:
    started = time.time()
    if row.output.exists():
        log(f"[process {rank}] line {row.line}: {row.output} exists, skipped")
        return RowResult(row.line, str(row.video), str(row.output), "skipped", 0.0)
    try:
        inpaint_row(row)
    except Exception as e:  # one bad row must not stop the others; the error goes into the results
        message = str(e) if isinstance(e, InputError) else f"{type(e).__name__}: {e}"
        log(f"[process {rank}] line {row.line}: FAILED {message}")
        return RowResult(row.line, str(row.video), str(row.output), "failed", time.time() - started, message)
    seconds = time.time() - started
    log(f"[process {rank}] line {row.line}: wrote {row.output} in {seconds:.1f} s")
    return RowResult(row.line, str(row.video), str(row.output), "done", seconds)


def results_csv(results: list[RowResult]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(asdict(results[0]).keys()) if results else ["line"])
    writer.writeheader()
    for result in results:
        writer.writerow({**asdict(result), "seconds": f"{result.seconds:.2f}"})
    return buffer.getvalue()


def summary_table(results: list[RowResult]) -> str:
    counts = {s: sum(r.status == s for r in results) for s in ("done", "skipped", "failed")}
    done = [r.seconds for r in results if r.status == "done"]
    lines = [
        "| done | skipped | failed | s per done row |",
        "|---|---|---|---|",
        f"| {counts['done']} | {counts['skipped']} | {counts['failed']} | "
        f"{(sum(done) / len(done)) if done else 0:.1f} |",
    ]
    failed = [f"line {r.line} ({r.video}): {r.error}" for r in results if r.status == "failed"]
    return "\n".join(lines + (["failed rows:"] + failed if failed else []))
