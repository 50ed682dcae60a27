"""Outputs that never lose data: checked before work starts, written to a temporary sibling, renamed into place.

A crash (even SIGKILL) while writing leaves the previous output, or nothing, at the target path: the partial data
lives under a hidden `.NAME.partial-PID-N` sibling that later runs ignore. Two jobs writing one target never mix:
each writes its own sibling, and the second to finish refuses to replace the first's result unless overwriting.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from videovq.errors import InputError

_serial = itertools.count()  # one process may write the same target twice at once (tests, threads)


def check_output_path(output: str | Path, inputs: Iterable[str | Path] = (), overwrite: bool = False) -> Path:
    """Validate an output path before any work is done.

    Args:
        output: where the result will be written (a file, or a folder for PNG frames).
        inputs: the files this job reads; writing over one of them is refused even with `overwrite`.
        overwrite: allow replacing an existing output.

    Returns:
        The output as a `Path`.
    """
    out = Path(output)
    for inp in inputs:
        inp = Path(inp)
        same = out.resolve() == inp.resolve() or (inp.exists() and out.exists() and os.path.samefile(inp, out))
        if same:
            raise InputError(f"{out}: the output path is the input file; choose a different output path")
    if out.exists() and not overwrite:
        raise InputError(f"{out}: output already exists; pass --overwrite to replace it")
    parent = out.resolve().parent
    if not parent.exists():
        raise InputError(f"{out}: output folder {parent} does not exist; create it first")
    try:  # a real write beats os.access: root passes access checks on read-only mounts
        with tempfile.NamedTemporaryFile(dir=parent, prefix=".videovq-write-test-"):
            pass
    except OSError as e:
        raise InputError(f"{out}: cannot write to folder {parent} ({e.strerror}); choose another output path") from None
    return out


def check_distinct_outputs(outputs: dict[str, str | Path | None]) -> None:
    """Refuse two outputs of one job that are the same file (`{"-o": a, "--side-by-side": b}`): one would
    silently replace the other."""
    seen: dict[Path, str] = {}
    for option, path in outputs.items():
        if path is None:
            continue
        key = Path(path).resolve()
        if key in seen:
            raise InputError(f"{path}: {option} and {seen[key]} name the same file; give each output its own path")
        seen[key] = option


def partial_path(target: Path) -> Path:
    """The temporary sibling a target is written to (same folder, so the final rename is atomic)."""
    # Keep the suffix: container formats are chosen from it.
    return target.with_name(f".{target.stem}.partial-{os.getpid()}-{next(_serial)}{target.suffix}")


class AtomicOutput:
    """A temporary sibling of `target` that becomes `target` on `commit()` and vanishes on `discard()`.

    Works for files and for folders (PNG frame sequences); an existing folder target is replaced whole.
    """

    def __init__(self, target: str | Path, overwrite: bool = False):
        self.target = Path(target)
        self.overwrite = overwrite
        if self.target.exists() and not overwrite:
            raise InputError(f"{self.target}: output already exists; pass --overwrite to replace it")
        self.tmp = partial_path(self.target)
        _remove(self.tmp)

    def commit(self) -> Path:
        if not self.tmp.exists():
            raise RuntimeError(f"internal error: nothing was written to {self.tmp}")
        if not self.overwrite:  # another job may have written the target since this one started
            return self._commit_new()
        if self.tmp.is_dir() and self.target.exists():
            # Folders cannot be replaced atomically: move the old one aside first, then drop it.
            old = self.target.with_name(f".{self.target.name}.old-{os.getpid()}")
            os.replace(self.target, old)
            os.replace(self.tmp, self.target)
            _remove(old)
        else:
            os.replace(self.tmp, self.target)
        return self.target

    def discard(self) -> None:
        _remove(self.tmp)

    def _commit_new(self) -> Path:
        """Move the result into place only if nothing is there yet (another job may have written it meanwhile)."""
        try:
            if self.tmp.is_dir():
                if self.target.exists():
                    raise FileExistsError(self.target)
                os.rename(self.tmp, self.target)  # fails on a non-empty folder that appeared since the check
            else:
                self._link_new()
        except OSError as e:
            self.discard()
            if isinstance(e, FileExistsError) or self.target.exists():
                raise InputError(
                    f"{self.target}: another job wrote this output while this one ran; kept that one (pass "
                    "--overwrite to replace it)"
                ) from None
            raise
        return self.target

    def _link_new(self) -> None:
        try:
            os.link(self.tmp, self.target)  # atomic, and never replaces an existing file
        except FileExistsError:
            raise
        except OSError as e:  # a file system without hard links: check, then rename
            if e.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK) or self.target.exists():
                raise
            os.replace(self.tmp, self.target)
            return
        self.tmp.unlink()


@contextlib.contextmanager
def atomic_output(target: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write; on success move it to `target`, on any error delete it."""
    out = AtomicOutput(target, overwrite=overwrite)
    try:
        yield out.tmp
    except BaseException:
        out.discard()
        raise
    out.commit()


def write_bytes_atomic(target: str | Path, data: bytes, overwrite: bool = False) -> Path:
    """Write a small file (JSON, PNG) atomically."""
    target = Path(target)
    with atomic_output(target, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)
    return target


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
