"""Debian packages as a source of photographs: fetch and unpack them, read their machine-readable copyright files.

Used only by the corpus build (`videovq data corpus`); nothing here runs at import or inference time. Packages are
fetched with ``apt-get download`` and unpacked with ``dpkg-deb -x`` into a cache folder, once.

Copyright files in the DEP-5 format (https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/) list
``Files:`` patterns with a ``Copyright:`` and ``License:`` each; the last paragraph whose pattern matches a file
applies. The patterns name paths of the *source* tree while we look at *installed* files, whose folders differ
(``16.04/x.jpg`` is installed as ``usr/share/backgrounds/x.jpg``), so `Dep5.lookup` matches a pattern naming one
file by its file name, and a wildcard pattern (``abstract/*.png``, ``*``) only where its folders appear in the
installed path (so ``debian/*`` never matches an image).
"""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from videovq.errors import InputError

PERMISSIVE, SHARE_ALIKE, GPL = "permissive", "share-alike", "gpl"
LICENCE_CLASSES = (PERMISSIVE, SHARE_ALIKE, GPL)


@dataclass(frozen=True)
class Dep5Paragraph:
    patterns: tuple[str, ...]
    copyright: str
    licence: str  # the short name on the License: line, e.g. "CC-BY-SA-4.0"


@dataclass(frozen=True)
class Dep5:
    paragraphs: tuple[Dep5Paragraph, ...]

    def lookup(self, installed_path: str) -> Dep5Paragraph | None:
        """The paragraph that applies to an installed file (the last matching one), or None."""
        found = None
        for paragraph in self.paragraphs:
            if any(_matches(pattern, installed_path) for pattern in paragraph.patterns):
                found = paragraph
        return found


def _matches(pattern: str, installed_path: str) -> bool:
    pat, path = PurePosixPath(pattern), PurePosixPath(installed_path)
    if not fnmatch.fnmatchcase(path.name, pat.name):
        return False
    if not any(c in pat.name for c in "*?["):
        return True  # one named file: its source folder rarely survives installation
    folders = pat.parent.parts if str(pat.parent) != "." else ()
    parents = path.parent.parts
    n = len(folders)
    return n == 0 or any(parents[i : i + n] == folders for i in range(len(parents) - n + 1))


def parse_dep5(text: str) -> Dep5 | None:
    """Parse a DEP-5 copyright file; None when the file is not in that format (free-form text)."""
    paragraphs = [_fields(block) for block in text.replace("\r\n", "\n").split("\n\n") if block.strip()]
    paragraphs = [p for p in paragraphs if p]
    if not paragraphs or "copyright-format" not in paragraphs[0].get("format", ""):
        return None
    files = []
    for p in paragraphs:
        if "files" in p and "license" in p:
            licence = p["license"].split("\n", 1)[0].strip()
            files.append(Dep5Paragraph(tuple(p["files"].split()), " ".join(p.get("copyright", "").split()), licence))
    return Dep5(tuple(files))


def _fields(block: str) -> dict[str, str]:
    """One paragraph's fields (lower-case names); continuation lines are joined with newlines."""
    fields: dict[str, str] = {}
    name = None
    for line in block.split("\n"):
        if line.startswith("#"):
            continue
        if line[:1] in (" ", "\t") and name is not None:
            fields[name] += "\n" + line.strip()
        elif ":" in line:
            name, value = line.split(":", 1)
            name = name.strip().lower()
            fields[name] = value.strip()
    return fields


def licence_class(licence: str) -> str | None:
    """Which kind of free licence a DEP-5 short name is: permissive, share-alike, gpl, or None (not allowed).

    Allowed are licences that permit redistribution and derived works: CC0 / public domain and CC BY (permissive),
    CC BY-SA (share-alike), and the GNU GPL / LGPL (gpl). Anything else (NC, ND, unknown) is None.
    """
    name = licence.strip().upper().replace(" ", "-")
    if any(part in name for part in ("-NC", "-ND", "NONCOMMERCIAL", "NODERIV")):
        return None
    if name.startswith("CC0") or name in ("PUBLIC-DOMAIN", "PD"):
        return PERMISSIVE
    if name.startswith("CC-BY-SA"):
        return SHARE_ALIKE
    if name.startswith("CC-BY"):
        return PERMISSIVE
    if name.startswith(("GPL", "LGPL")):
        return GPL
    return None


@dataclass(frozen=True)
class Package:
    """An unpacked package: its name, version and the folder holding its files (``usr/share/...``)."""

    name: str
    version: str
    root: Path

    @property
    def copyright_path(self) -> Path:
        return self.root / "usr" / "share" / "doc" / self.name / "copyright"


def unpacked_package(root: str | Path, name: str | None = None) -> Package:
    """A package already unpacked into `root` (as `fetch_packages` leaves it, or a test's fake tree).

    The version is read from ``root/.version`` when present ("unknown" otherwise).
    """
    root = Path(root)
    name = name or root.name
    if not (root / "usr" / "share" / "doc" / name / "copyright").exists():
        raise InputError(f"{root}: no usr/share/doc/{name}/copyright; this is not an unpacked package {name}")
    version_file = root / ".version"
    version = version_file.read_text().strip() if version_file.exists() else "unknown"
    return Package(name, version, root)


def fetch_packages(names: list[str], cache: str | Path) -> list[Package]:
    """Download (``apt-get download``) and unpack (``dpkg-deb -x``) packages into `cache`, reusing earlier ones.

    Layout: ``cache/debs/*.deb`` and ``cache/unpacked/NAME/`` with a ``.version`` file written last (its presence
    marks a complete unpack).
    """
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise InputError(f"{tool} not found: building the corpus needs a Debian-based system with apt")
    cache = Path(cache)
    debs, unpacked = cache / "debs", cache / "unpacked"
    debs.mkdir(parents=True, exist_ok=True)
    unpacked.mkdir(parents=True, exist_ok=True)
    packages = []
    for name in names:
        root = unpacked / name
        if not (root / ".version").exists():
            deb = _download(name, debs)
            version = _run(["dpkg-deb", "-f", str(deb), "Version"]).strip()
            tmp = unpacked / f".{name}.partial"
            shutil.rmtree(tmp, ignore_errors=True)
            _run(["dpkg-deb", "-x", str(deb), str(tmp)])
            shutil.rmtree(root, ignore_errors=True)
            tmp.rename(root)
            (root / ".version").write_text(version + "\n")
        packages.append(unpacked_package(root, name))
    return packages


def _download(name: str, debs: Path) -> Path:
    existing = sorted(debs.glob(f"{name}_*.deb"))
    if existing:
        return existing[-1]
    _run(["apt-get", "download", name], cwd=debs)
    found = sorted(debs.glob(f"{name}_*.deb"))
    if not found:
        raise InputError(f"apt-get download {name} left no {name}_*.deb in {debs}")
    return found[-1]


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        hint = " (run apt-get update first?)" if cmd[0] == "apt-get" else ""
        raise InputError(f"{' '.join(cmd)} failed: {detail[-1] if detail else result.returncode}{hint}")
    return result.stdout
