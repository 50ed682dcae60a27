"""The working folder of `videovq ui`: every file the page reads or writes is inside it.

Names from the page are relative paths such as `clip.mp4` or `results/clip-fast.mp4`. `Workspace.path` refuses
anything that could reach outside the folder: absolute paths, `..` parts, and symlinks (or symlinked folders) that
resolve to somewhere else.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v")
RESULTS = "results"
MASKS = "masks"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class PathEscape(ValueError):
    """A name that would leave the working folder."""


class Workspace:
    """Paths inside one working folder (created if missing).

    Args:
        root: the working folder.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()
        self.root.mkdir(parents=True, exist_ok=True)
        self.root = self.root.resolve()

    def path(self, name: str) -> Path:
        """The file `name` (relative, '/'-separated) inside the folder; raises `PathEscape` otherwise."""
        if not name or "\\" in name or "\0" in name:
            raise PathEscape(f"{name!r}: not a file name inside the working folder")
        rel = PurePosixPath(name)
        if rel.is_absolute() or ".." in rel.parts or Path(name).is_absolute():
            raise PathEscape(f"{name!r}: absolute paths and '..' are refused; name a file inside the working folder")
        target = self.root.joinpath(*rel.parts)
        # resolve() follows every symlink on the way, so a link inside the folder that points out is caught here.
        if not target.resolve().is_relative_to(self.root):
            raise PathEscape(f"{name!r}: leads outside the working folder (symlink?)")
        return target

    def name(self, path: Path) -> str:
        """The page's name of a path inside the folder."""
        return path.relative_to(self.root).as_posix()

    def videos(self) -> list[str]:
        """Videos at the top of the folder (uploads and files put there by hand), newest first."""
        found = [p for p in self.root.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES]
        found = [p for p in found if p.resolve().is_relative_to(self.root) and not p.name.startswith(".")]
        return [p.name for p in sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)]

    def upload_name(self, filename: str) -> str:
        """A safe top-level name for an uploaded file (only its last part, odd characters replaced)."""
        base = PurePosixPath(filename.replace("\\", "/")).name
        stem, suffix = Path(base).stem, Path(base).suffix.lower()
        if suffix not in VIDEO_SUFFIXES:
            raise ValueError(f"{base!r}: upload a video ({', '.join(VIDEO_SUFFIXES)})")
        stem = _SAFE_NAME.sub("_", stem).strip("._") or "video"
        return f"{stem[:80]}{suffix}"
