"""The docs are reference for users: they name no internal work history."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Words about how the project was worked on (work sessions, the tracker's issues and their acceptance bars) belong in
# the tracker, not in the repository.
# Written in two pieces so that this file does not match itself (`git grep` for the pattern finds nothing).
HISTORY = re.compile(r"sess" r"ion [0-9]|the iss" r"ue's", re.IGNORECASE)


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode == 0 and listed.stdout.strip():
        names = listed.stdout.split()
    else:  # an unpacked source tree without git: every file under the root but the venv and build outputs
        names = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file()]
        names = [n for n in names if not n.startswith((".venv", ".git", "build", "dist")) and "egg-info" not in n]
    return [ROOT / n for n in names if Path(n).suffix in {".md", ".py", ".yaml", ".yml", ".toml", ".txt", ".cfg", ""}]


def test_no_work_history_in_the_repository():
    hits = []
    for path in tracked_text_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, IsADirectoryError, FileNotFoundError):
            continue
        hits += [f"{path.relative_to(ROOT)}:{i}: {line.strip()}" for i, line in enumerate(text.splitlines(), 1)
                 if HISTORY.search(line)]
    assert not hits, "history words in the repository:\n" + "\n".join(hits)
