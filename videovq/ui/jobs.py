"""Inpainting jobs started from the page: one at a time, in a background thread, with progress the page polls.

A thread (not a process) is enough: the work is in torch/OpenCV/FFmpeg calls that release the GIL, and the
pipeline's `log` callback gives the stage lines progress is read from.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from videovq.errors import InputError

# Pipeline stage lines look like "[2/6 fit the tokenizer ...]"; the membrane-only ablation prints "[membrane ...]".
_STAGE = re.compile(r"^\[(?:(\d+)/(\d+) )?(.*)\]$")


@dataclass
class Job:
    """One inpainting run as the page sees it."""

    id: int
    video: str
    output: str
    preset: str
    state: str = "queued"  # queued, running, done, failed
    stage: str = ""
    progress: float = 0.0  # 0..1, by finished stages
    stage_share: float = 0.0  # of the whole job, of the stage now running
    log: list[str] = field(default_factory=list)
    error: str = ""
    started: float = field(default_factory=time.time)
    finished: float | None = None

    def as_dict(self) -> dict:
        elapsed = (self.finished or time.time()) - self.started
        bar = current_bar() if self.state == "running" else None
        progress = self.progress + (self.stage_share * bar["n"] / bar["total"] if bar else 0.0)
        return {
            "id": self.id, "video": self.video, "output": self.output, "preset": self.preset, "state": self.state,
            "stage": self.stage, "progress": round(progress, 3), "log": self.log[-50:], "error": self.error,
            "elapsed": round(elapsed, 1), "bar": bar,
        }  # fmt: skip

    def on_log(self, line: str) -> None:
        self.log.append(line)
        match = _STAGE.match(line.strip())
        if match:
            done, total, text = match.groups()
            self.stage = text
            if done:
                self.progress, self.stage_share = (int(done) - 1) / int(total), 1 / int(total)


class JobRunner:
    """Runs one job at a time; `start` refuses a second while one is running."""

    def __init__(self):
        self._jobs: dict[int, Job] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def start(self, job_args: dict, work: Callable[[Callable[[str], None]], None]) -> Job:
        """Start `work(log)` for a new job made from `job_args` (video, output, preset)."""
        with self._lock:
            if any(j.state in ("queued", "running") for j in self._jobs.values()):
                raise InputError("a job is already running; wait for it to finish")
            job = Job(next(self._ids), **job_args)
            self._jobs[job.id] = job
        threading.Thread(target=self._run, args=(job, work), name=f"videovq-job-{job.id}", daemon=True).start()
        return job

    def get(self, job_id: int) -> Job | None:
        return self._jobs.get(job_id)

    def _run(self, job: Job, work) -> None:
        job.state = "running"
        try:
            work(job.on_log)
        except InputError as e:
            job.state, job.error = "failed", str(e)
        except Exception as e:  # the page must hear about any failure; the server log keeps the traceback
            traceback.print_exc()
            job.state, job.error = "failed", f"{type(e).__name__}: {e}"
        else:
            job.state, job.progress, job.stage = "done", 1.0, "done"
        finally:
            job.finished = time.time()


def current_bar() -> dict | None:
    """The innermost running tqdm bar of this process (the job's step loop), as {desc, n, total, eta}, or None.

    The pipeline reports steps through tqdm bars; tqdm keeps its live bars in `tqdm._instances`, so reading them
    gives the page step-level progress without a second progress channel through the pipeline. Only one job runs
    at a time and the page's other work (tracking) runs with its bars disabled, so a live bar is the job's.
    """
    from tqdm import tqdm

    bars = [b for b in list(getattr(tqdm, "_instances", ())) if not b.disable and b.total]
    if not bars:
        return None
    bar = max(bars, key=lambda b: b.pos if isinstance(b.pos, int) else 0)  # nested bars: the inner one
    rate = bar.format_dict.get("rate") or (bar.n / max(1e-9, bar.format_dict.get("elapsed", 0)) if bar.n else None)
    eta = (bar.total - bar.n) / rate if rate else None
    return {"desc": bar.desc, "n": int(bar.n), "total": int(bar.total), "eta": None if eta is None else round(eta)}


def unique_output(folder: Path, stem: str, suffix: str) -> Path:
    """`folder/stem.suffix`, or `stem-2.suffix`, ... if taken (a rerun never replaces an earlier result)."""
    candidate = folder / f"{stem}{suffix}"
    n = 2
    while candidate.exists():
        candidate = folder / f"{stem}-{n}{suffix}"
        n += 1
    return candidate
