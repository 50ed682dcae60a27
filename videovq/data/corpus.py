"""The training corpus: free photographs from Debian packages turned into video, plus procedural and bundled video.

`build_corpus(out, ...)` (the command ``videovq data corpus OUT``) does, deterministically from a seed:

1. **Photos.** Unpacks the wallpaper/background packages in `DEFAULT_PACKAGES` (`videovq.data.debian`), reads
   each one's DEP-5 copyright file, and keeps an image only if (a) it is a photograph, judged by eye and listed in
   `PHOTOS` (vector art, renders and graphics are left out: they are flat colour and smooth gradients, which the
   procedural scenes already cover), and (b) its licence allows redistribution and derived works
   (`videovq.data.debian.licence_class`; ``licences=`` narrows that, e.g. to ``("permissive",)``). Every
   candidate file and the decision on it goes into the manifest and `LICENSES.md`.
2. **Split.** A photo is held out for measurement when ``sha256(photo id)`` modulo 100 is below
   ``held_out_percent``: fixed, independent of which other photos exist. Procedural clips use seeds
   ``[seed, 0, i]`` for training and ``[seed, 1, i]`` for measurement. The bundled clip's last 16 frames are held
   out (as everywhere in videovq).
3. **Camera clips.** Each photo is seen through smooth camera paths over it (`videovq.data.procedural`'s camera:
   drift plus wobble, slow zoom, slow roll), at several speeds (`CAMERA_MOTIONS`).
4. **Object clips.** Moving objects (procedural sprites or shapes cut from other photos of the same split) pasted
   over a photo, still or slowly panning; the background without the objects and the per-frame object masks are
   saved beside the frames: exact ground truth for object removal.
5. **Procedural clips** (`videovq.data.procedural.procedural_scene`, with background and masks too).

Layout of OUT::

    corpus.json                      manifest: config, packages, every candidate image and decision, every clip
    LICENSES.md                      the kept photos with package, licence and credit; what was left out and why
    photos/{train,held_out}/ID.png   the kept photos, shrunk to at most `photo_max_side` pixels
    clips/{train,held_out}/ID/frames/00000.png ...       the clip
    clips/{train,held_out}/ID/background/, masks/        object and procedural clips: ground truth

`videovq.data.clips.corpus_sources(OUT)` turns the training half into clip sources (`build_sources` does so for any
folder holding a ``corpus.json``), so ``videovq train tokenizer --data OUT`` trains on it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
from PIL import Image
from tqdm import tqdm

from videovq.data import sample_video_path
from videovq.data.debian import LICENCE_CLASSES, Package, fetch_packages, licence_class, parse_dep5
from videovq.data.procedural import _object_fill, _options, _render
from videovq.errors import InputError
from videovq.io.atomic import atomic_output

MANIFEST = "corpus.json"
TRAIN, HELD_OUT = "train", "held_out"
BUNDLED_HELD_OUT = 16  # the bundled clip's last frames, never trained on

DEFAULT_PACKAGES = (
    "mate-backgrounds",
    "plasma-workspace-wallpapers",
    "lomiri-wallpapers-16.04",
    "lomiri-wallpapers-20.04",
    "ukui-wallpapers",
    "gnome-backgrounds",
    "sway-backgrounds",
    "lomiri-wallpapers",
    "desktop-base",
)

# The photographs among these packages' images, chosen by eye from a contact sheet of every candidate (Debian 12
# versions). One file per picture: where a wallpaper comes in several sizes, the largest landscape one.
_PLASMA = "usr/share/wallpapers/{}/contents/images/{}"
PHOTOS: dict[str, tuple[str, ...]] = {
    "mate-backgrounds": tuple(
        f"usr/share/backgrounds/mate/nature/{n}.jpg"
        for n in (
            "Aqua", "Blinds", "Dune", "Garden", "GreenMeadow", "LadyBird", "RainDrops", "Storm", "TwoWings", "Wood",
            "YellowFlower",
        )
    ),
    "plasma-workspace-wallpapers": tuple(
        _PLASMA.format(n, "2560x1600.jpg")
        for n in (
            "BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey", "Kite",
            "OneStandsOut", "Path", "summer_1am",
        )
    ),
    "lomiri-wallpapers-16.04": tuple(
        f"usr/share/backgrounds/{n}.jpg"
        for n in (
            "Bridge_by_Sander_Klootwijk", "Dragonfly_by_Bolly", "Picture_0B_by_freespace", "Picture_1A_by_freespace",
            "Wine_by_Jakkub_Mede", "aitzgorri_by_Aitzol_Berasategi", "analogpattern_by_Peter_Nerlich",
            "free_by_Peter_Nerlich", "friends_by_Aitzol_Berasategi", "greentock_by_Peter_Nerlich",
            "life_by_Aitzol_Berasategi", "picosdeeuropa_by_Aitzol_Berasategi", "seeding_by_Clements_Engelhardt",
            "sunset_by_Aitzol_Berasategi",
        )
    ),
    "lomiri-wallpapers-20.04": ("usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg",),
}  # fmt: skip

# Camera paths over a still: options of `videovq.data.procedural` (no objects); clip k of photo p uses motion
# (p + k) % len. Speeds are per frame, as a fraction of the frame's short side (roll: radians per frame).
CAMERA_MOTIONS: dict[str, dict] = {
    "pan-slow": dict(pan_speed=0.004, zoom=False, roll=False),
    "pan-fast": dict(pan_speed=0.02, zoom=False, roll=False),
    "zoom": dict(pan_speed=0.004, zoom=True, roll=False),
    "roll": dict(pan_speed=0.004, zoom=False, roll=True, roll_speed=0.004),
    "pan-zoom-roll": dict(pan_speed=0.012, zoom=True, roll=True, roll_speed=0.002),
}
OBJECT_MOTIONS: dict[str, dict] = {
    "objects-still-camera": dict(static_prob=1.0),
    "objects-slow-pan": dict(pan_speed=0.005, zoom=False, roll=False),
}
_CANDIDATE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".svg", ".jxl")
_MIN_CANDIDATE_BYTES = 100_000  # smaller images are icons, previews and thumbnails, not wallpapers


@dataclass(frozen=True)
class CorpusConfig:
    """What the corpus holds; every field is recorded in the manifest.

    Args:
        height, width: clip frame size (432x240 as the bundled clip; multiples of 16).
        frames: frames per clip.
        camera_clips: camera-path clips per photo.
        object_clips: object clips per photo.
        procedural_clips: procedural training clips; `procedural_held_out` more with held-out seeds.
        held_out_percent: share of photos held out (by hash of the photo id).
        photo_max_side: kept photos are shrunk to at most this many pixels on the long side.
        licences: licence classes to keep (`videovq.data.debian.LICENCE_CLASSES`).
        seed: seeds every clip (with the photo id and clip index).
    """

    height: int = 240
    width: int = 432
    frames: int = 24
    camera_clips: int = 4
    object_clips: int = 2
    procedural_clips: int = 48
    procedural_held_out: int = 12
    held_out_percent: int = 20
    photo_max_side: int = 1280
    licences: tuple[str, ...] = LICENCE_CLASSES
    seed: int = 0

    def __post_init__(self):
        if self.height < 16 or self.width < 16 or self.frames < 1:
            raise InputError(f"corpus clips {self.frames}x{self.height}x{self.width}: need frames >= 1, sides >= 16")
        unknown = sorted(set(self.licences) - set(LICENCE_CLASSES))
        if unknown:
            raise InputError(f"licences {unknown}: choose from {', '.join(LICENCE_CLASSES)}")
        if not 0 <= self.held_out_percent <= 100:
            raise InputError(f"held_out_percent={self.held_out_percent}: must be in [0, 100]")


@dataclass
class Candidate:
    """One image file of a package and what the corpus does with it."""

    id: str
    package: str
    version: str
    path: str
    licence: str
    copyright: str
    kept: bool
    reason: str
    split: str = ""
    photo: str = ""  # the kept photo's file in the corpus
    size: list[int] = field(default_factory=list)  # original width, height
    sha256: str = ""


# -- selection ------------------------------------------------------------------------------------------------------
def select_photos(
    packages: Sequence[Package], config: CorpusConfig, photos: dict[str, Sequence[str]] | None = None
) -> list[Candidate]:
    """Every candidate image of `packages` with its licence and the decision (kept or why not)."""
    photos = PHOTOS if photos is None else photos
    out = []
    for package in packages:
        text = package.copyright_path.read_text(errors="replace")
        dep5 = parse_dep5(text)
        chosen = set(photos.get(package.name, ()))
        for path in _candidate_files(package.root):
            rel = path.relative_to(package.root).as_posix()
            paragraph = dep5.lookup(rel) if dep5 else None
            licence = paragraph.licence if paragraph else ""
            credit = (paragraph.copyright if paragraph else "") + _plasma_author(package.root, rel)
            cls = licence_class(licence) if licence else None
            if dep5 is None:
                reason = "copyright file is not machine-readable (DEP-5): no per-file licence"
            elif paragraph is None:
                reason = "no Files: paragraph of the copyright file matches it"
            elif rel not in chosen:
                reason = "vector art" if path.suffix == ".svg" else "not a photograph, or another size of a kept one"
            elif cls is None:
                reason = f"licence {licence} does not allow redistribution and derived works"
            elif cls not in config.licences:
                reason = f"licence {licence} ({cls}) left out by the licences option"
            else:
                reason = "photo"
            stem = path.stem if "/contents/images/" not in rel else rel.split("/")[3]
            out.append(
                Candidate(
                    f"{package.name}/{stem}", package.name, package.version, rel, licence, credit, reason == "photo",
                    reason,
                )
            )
        missing = sorted(chosen - {c.path for c in out if c.package == package.name})
        if missing:
            raise InputError(f"{package.name} {package.version}: listed photos are not in the package: {missing[:3]}")
    for c in out:
        if c.kept:
            c.split = HELD_OUT if _hash(c.id) % 100 < config.held_out_percent else TRAIN
    return out


def _plasma_author(root: Path, rel: str) -> str:
    """KDE wallpapers name their author (and a licence) in metadata.json beside contents/: worth crediting."""
    if "/contents/images/" not in rel:
        return ""
    meta = root / rel.split("/contents/")[0] / "metadata.json"
    try:
        plugin = json.loads(meta.read_text())["KPlugin"]
        names = ", ".join(a["Name"] for a in plugin.get("Authors", []))
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    return f"; author {names} (metadata.json licence: {plugin.get('License', '?')})" if names else ""


def _candidate_files(root: Path) -> list[Path]:
    share = root / "usr" / "share"
    return [
        p
        for p in sorted(share.rglob("*"))
        if p.suffix.lower() in _CANDIDATE_SUFFIXES
        and p.is_file()
        and p.relative_to(share).parts[0] != "doc"
        and "icons" not in p.relative_to(share).parts
        and p.stat().st_size >= _MIN_CANDIDATE_BYTES
    ]


def _hash(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:12], 16)


# -- rendering ------------------------------------------------------------------------------------------------------
def _load_photo(path: Path, max_side: int) -> tuple[np.ndarray, list[int]]:
    with Image.open(path) as im:
        size = list(im.size)
        im.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced scale when much larger
        image = np.asarray(im.convert("RGB"))
    scale = max_side / max(image.shape[:2])
    if scale < 1:
        h, w = image.shape[:2]
        image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return image, size


def _photo_texture(photo: np.ndarray, side: float):
    """A `texture(rng, h, w)` for `_render`: a random region of `photo`, scaled so a frame sees 35-100 % of it."""

    def texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
        ph, pw = photo.shape[:2]
        cover = max(h / ph, w / pw)
        scale = max(cover, side / (rng.uniform(0.35, 1.0) * min(ph, pw)))
        rh, rw = max(h, math.ceil(ph * scale)), max(w, math.ceil(pw * scale))
        resized = cv2.resize(photo, (rw, rh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        y0, x0 = int(rng.integers(rh - h + 1)), int(rng.integers(rw - w + 1))
        region = resized[y0 : y0 + h, x0 : x0 + w]
        if rng.random() < 0.5:
            region = region[:, ::-1]
        return np.ascontiguousarray(region, dtype=np.float32) / 255.0

    return texture


def _object_fill_from(photos: Sequence[np.ndarray]):
    """An `object_fill(rng, h, w)`: a crop of a random photo (60 %) or a procedural surface."""

    def fill(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
        if not photos or rng.random() >= 0.6:
            return _object_fill(rng, h, w, h / 2)
        photo = photos[int(rng.integers(len(photos)))]
        ph, pw = photo.shape[:2]
        s = int(min(ph, pw) * rng.uniform(0.15, 0.5))
        y0, x0 = int(rng.integers(ph - s + 1)), int(rng.integers(pw - s + 1))
        crop = cv2.resize(photo[y0 : y0 + s, x0 : x0 + s], (w, h), interpolation=cv2.INTER_AREA)
        return crop.astype(np.float32) / 255.0

    return fill


@dataclass
class ClipPlan:
    id: str
    split: str
    kind: str  # camera | objects | procedural
    motion: str
    seed: list[int]
    photo: str = ""


def plan_clips(kept: Sequence[Candidate], config: CorpusConfig) -> list[ClipPlan]:
    """Which clips the corpus holds (cheap; rendering follows the plan)."""
    plans = []
    cams, objs = list(CAMERA_MOTIONS), list(OBJECT_MOTIONS)
    for p, c in enumerate(kept):
        h = _hash(c.id) % 2**31
        name = c.id.replace("/", "__")
        for k in range(config.camera_clips):
            motion = cams[(p + k) % len(cams)]
            plans.append(ClipPlan(f"{name}__cam{k}", c.split, "camera", motion, [config.seed, h, k], c.id))
        for k in range(config.object_clips):
            motion = objs[(p + k) % len(objs)]
            plans.append(ClipPlan(f"{name}__obj{k}", c.split, "objects", motion, [config.seed, h, 1000 + k], c.id))
    for split, count, tag in ((TRAIN, config.procedural_clips, 0), (HELD_OUT, config.procedural_held_out, 1)):
        for i in range(count):
            plans.append(ClipPlan(f"procedural_{tag}_{i:04d}", split, "procedural", "procedural", [config.seed, tag, i]))
    return plans


def render_clip(plan: ClipPlan, config: CorpusConfig, photos: dict[str, np.ndarray], split_photos: dict):
    """(frames, background or None, union mask or None) of one planned clip, uint8 / bool arrays."""
    T, H, W = config.frames, config.height, config.width
    if plan.kind == "procedural":
        scene = _render(T, H, W, plan.seed, _options({}), with_layers=True)
    else:
        motion = CAMERA_MOTIONS.get(plan.motion) or OBJECT_MOTIONS[plan.motion]
        objects = dict(num_objects=0) if plan.kind == "camera" else dict(num_objects=(1, 4), object_size=(0.06, 0.2))
        opts = _options({"static_prob": 0.0, **motion, **objects})
        others = [img for pid, img in split_photos[plan.split] if pid != plan.photo]
        texture = _photo_texture(photos[plan.photo], float(min(H, W)))
        scene = _render(T, H, W, plan.seed, opts, plan.kind == "objects", texture, _object_fill_from(others))
    if plan.kind == "camera":
        return scene.frames, None, None
    return scene.frames, scene.background, scene.object_masks.any(axis=1)


def _write_frames(folder: Path, frames: np.ndarray) -> None:
    folder.mkdir(parents=True)
    for t, frame in enumerate(frames):
        image = frame[..., ::-1] if frame.ndim == 3 else frame.astype(np.uint8) * 255
        if not cv2.imwrite(str(folder / f"{t:05d}.png"), np.ascontiguousarray(image)):
            raise InputError(f"{folder}: cannot write frames (disk full?)")


# -- the build ------------------------------------------------------------------------------------------------------
def build_corpus(
    out: str | Path,
    config: CorpusConfig = CorpusConfig(),
    *,
    packages: Sequence[Package] | None = None,
    cache: str | Path | None = None,
    photos: dict[str, Sequence[str]] | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> dict:
    """Build the corpus into `out` (written to a temporary sibling, renamed when complete); returns the manifest.

    Args:
        out: the corpus folder.
        config: what to render.
        packages: already unpacked packages (`videovq.data.debian.unpacked_package`); default: fetch
            `DEFAULT_PACKAGES` with apt into `cache`.
        cache: where fetched packages are kept (default ``~/.cache/videovq/debian``).
        photos: which files are photographs, per package (default `PHOTOS`).
        overwrite: replace an existing corpus.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise InputError(f"{out}: output already exists; pass --overwrite to replace it")
    if packages is None:
        cache = Path(cache) if cache else Path.home() / ".cache" / "videovq" / "debian"
        packages = fetch_packages(list(DEFAULT_PACKAGES), cache)
    candidates = select_photos(packages, config, photos)
    kept = [c for c in candidates if c.kept]
    roots = {p.name: p.root for p in packages}
    with atomic_output(out, overwrite=overwrite) as tmp:
        images = {}
        for c in kept:
            source = roots[c.package] / c.path
            image, c.size = _load_photo(source, config.photo_max_side)
            c.sha256 = hashlib.sha256(source.read_bytes()).hexdigest()
            c.photo = f"photos/{c.split}/{c.id.replace('/', '__')}.png"
            (tmp / c.photo).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(tmp / c.photo)
            images[c.id] = image
        split_photos = {s: [(c.id, images[c.id]) for c in kept if c.split == s] for s in (TRAIN, HELD_OUT)}
        clips = []
        for plan in tqdm(plan_clips(kept, config), desc="corpus clips", unit="clip", disable=not progress):
            frames, background, masks = render_clip(plan, config, images, split_photos)
            folder = Path("clips") / plan.split / plan.id
            _write_frames(tmp / folder / "frames", frames)
            entry = {**dataclasses.asdict(plan), "frames": (folder / "frames").as_posix(), "num_frames": len(frames)}
            if background is not None:
                _write_frames(tmp / folder / "background", background)
                _write_frames(tmp / folder / "masks", masks)
                entry.update(background=(folder / "background").as_posix(), masks=(folder / "masks").as_posix())
            clips.append(entry)
        manifest = {
            "format": 1,
            "config": dataclasses.asdict(config),
            "packages": [{"name": p.name, "version": p.version} for p in packages],
            "bundled": {"train": [0, 66 - BUNDLED_HELD_OUT], "held_out": [66 - BUNDLED_HELD_OUT, 66]},
            "candidates": [dataclasses.asdict(c) for c in candidates],
            "clips": clips,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
        (tmp / "LICENSES.md").write_text(licence_table(manifest))
    return manifest


def load_manifest(folder: str | Path) -> dict:
    path = Path(folder) / MANIFEST
    if not path.exists():
        raise InputError(f"{folder}: no {MANIFEST}; build a corpus there with `videovq data corpus {folder}`")
    return json.loads(path.read_text())


def corpus_stats(manifest: dict) -> dict:
    """Counts for reports: photos kept per split, candidates left out per reason, clips and frames per split/kind."""
    cands = manifest["candidates"]
    clips = manifest["clips"]
    return {
        "photos_kept": Counter(c["split"] for c in cands if c["kept"]),
        "left_out": Counter(c["reason"] for c in cands if not c["kept"]),
        "clips": Counter(f"{c['split']}/{c['kind']}" for c in clips),
        "frames": Counter(c["split"] for c in clips for _ in range(c["num_frames"])),
    }


# -- training sources ------------------------------------------------------------------------------------------------
# -- licence records -------------------------------------------------------------------------------------------------
def licence_table(manifest: dict) -> str:
    """Markdown: the kept photos (file, package, licence, credit, split) and, per package, what was left out."""
    cands = manifest["candidates"]
    versions = {p["name"]: p["version"] for p in manifest["packages"]}
    lines = [
        "| photo | package (version) | file | licence | credit (copyright file) | split |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for c in sorted((c for c in cands if c["kept"]), key=lambda c: c["id"]):
        credit = c["copyright"].replace("|", "/")
        lines.append(
            f"| {c['id'].split('/', 1)[1]} | {c['package']} ({c['version']}) | `{c['path']}` | {c['licence']} | "
            f"{credit} | {c['split'].replace('_', ' ')} |"
        )
    lines += ["", "| package | left out | why |", "| --- | ---: | --- |"]
    for name in versions:
        reasons = Counter(c["reason"] for c in cands if c["package"] == name and not c["kept"])
        for reason, n in sorted(reasons.items()):
            files = sorted({_short(c["path"]) for c in cands if c["package"] == name and c["reason"] == reason})
            shown = ", ".join(files[:6]) + (", ..." if len(files) > 6 else "")
            lines.append(f"| {name} | {n} | {reason} ({shown}) |")
    return "\n".join(lines) + "\n"


def _short(path: str) -> str:
    """A file's name, with the wallpaper's name for KDE's NAME/contents/images/SIZE.jpg layout."""
    parts = path.split("/")
    return f"{parts[parts.index('contents') - 1]}/{parts[-1]}" if "contents" in parts else parts[-1]
