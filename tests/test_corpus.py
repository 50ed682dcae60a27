"""The training corpus: DEP-5 licences, photo selection, rendering with ground truth, determinism, sources.

Runs on a fake unpacked package (a DEP-5 copyright file and three small PNGs); apt is never called.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from videovq.cli import main
from videovq.data.clips import ClipSampler, build_sources, corpus_sources, sample_batch
from videovq.data.corpus import CorpusConfig, build_corpus, corpus_stats, load_manifest
from videovq.data.debian import licence_class, parse_dep5, unpacked_package
from videovq.errors import InputError

PKG = "fake-backgrounds"
COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: fake

Files: *
Copyright: 2020, Nobody
License: Proprietary

Files: photos/*.png
Copyright: 2021, Ada Photographer
License: CC-BY-4.0

Files: upstream/b.png
Copyright: 2022, Bea Photographer
License: CC-BY-SA-4.0

Files: c.png
Copyright: 2023, Cy Photographer
License: CC-BY-NC-4.0

Files: debian/*
Copyright: 2024, A Packager
License: GPL-2+
"""
PHOTOS = {PKG: [f"usr/share/backgrounds/photos/{n}.png" for n in ("a", "b", "c")]}


def _noisy_image(seed: int, path: Path) -> None:
    """A smooth picture plus noise: > 100 kB as PNG (the corpus skips smaller files as icons)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:240, 0:200]
    base = np.stack([x * 1.1, y * 0.9, (x + y) * 0.5], -1) + rng.normal(0, 30, (240, 200, 3))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).save(path)


@pytest.fixture
def packages(tmp_path) -> Path:
    root = tmp_path / "pkgs" / PKG
    doc = root / "usr/share/doc" / PKG
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(COPYRIGHT)
    (root / ".version").write_text("1.0-1\n")
    for i, name in enumerate("abc"):
        _noisy_image(i, root / "usr/share/backgrounds/photos" / f"{name}.png")
    _noisy_image(9, root / "usr/share/icons/hicolor/big.png")  # icons are never candidates
    return tmp_path / "pkgs"


TINY = dict(height=32, width=48, frames=3, camera_clips=1, object_clips=1, procedural_clips=1, procedural_held_out=1)


def _build(packages: Path, out: Path, **config) -> dict:
    cfg = CorpusConfig(**{**TINY, "held_out_percent": 0, **config})
    return build_corpus(out, cfg, packages=[unpacked_package(packages / PKG)], photos=PHOTOS, progress=False)


def test_dep5_lookup_follows_installed_paths():
    dep5 = parse_dep5(COPYRIGHT)
    lookup = lambda p: dep5.lookup(p).licence  # noqa: E731
    assert lookup("usr/share/backgrounds/photos/a.png") == "CC-BY-4.0"  # folder of a wildcard pattern present
    assert lookup("usr/share/backgrounds/photos/b.png") == "CC-BY-SA-4.0"  # a named file: matched by its name
    assert lookup("usr/share/backgrounds/other/a.png") == "Proprietary"  # wildcard's folder absent: only "*"
    assert lookup("usr/share/backgrounds/photos/c.png") == "CC-BY-NC-4.0"  # last matching paragraph wins
    assert dep5.lookup("usr/share/backgrounds/photos/x.jpg").licence == "Proprietary"  # debian/* never matches
    assert parse_dep5("This package was debianized by someone.\n\nCopyright: 2005") is None


@pytest.mark.parametrize(
    "name, cls",
    [("CC0-1.0", "permissive"), ("CC-BY-4.0", "permissive"), ("CC-BY-SA-3.0", "share-alike"), ("GPL-2+", "gpl"),
     ("LGPL-3", "gpl"), ("CC-BY-NC-4.0", None), ("CC-BY-ND-4.0", None), ("Proprietary", None)],
)  # fmt: skip
def test_licence_classes(name, cls):
    assert licence_class(name) == cls


def test_corpus_keeps_free_photos_and_renders_ground_truth(packages, tmp_path):
    manifest = _build(packages, tmp_path / "corpus")
    by_id = {c["id"]: c for c in manifest["candidates"]}
    assert set(by_id) == {f"{PKG}/{n}" for n in "abc"}  # the icon is not a candidate
    assert by_id[f"{PKG}/a"]["kept"] and by_id[f"{PKG}/b"]["kept"]
    assert not by_id[f"{PKG}/c"]["kept"] and "CC-BY-NC-4.0" in by_id[f"{PKG}/c"]["reason"]
    licences = (tmp_path / "corpus/LICENSES.md").read_text()
    assert "Ada Photographer" in licences and "Bea Photographer" in licences and "CC-BY-NC-4.0" in licences

    stats = corpus_stats(manifest)
    assert stats["clips"] == {"train/camera": 2, "train/objects": 2, "train/procedural": 1, "held_out/procedural": 1}
    assert stats["frames"]["train"] == 5 * 3
    for clip in manifest["clips"]:
        if clip["kind"] != "objects":
            continue
        read = lambda key: np.stack(  # noqa: E731
            [np.asarray(Image.open(p)) for p in sorted((tmp_path / "corpus" / clip[key]).iterdir())]
        )
        frames, background, masks = read("frames"), read("background"), read("masks") > 127
        assert frames.shape == (3, 32, 48, 3) and masks.shape == (3, 32, 48)
        assert masks.any()  # objects were pasted ...
        assert np.array_equal(frames[~masks], background[~masks])  # ... and change nothing outside their masks
        assert not np.array_equal(frames[masks], background[masks])


def test_corpus_is_deterministic_and_filters_licences(packages, tmp_path):
    a = _build(packages, tmp_path / "a")
    b = _build(packages, tmp_path / "b")
    assert a["clips"] == b["clips"]
    for clip in a["clips"]:
        for frame in sorted((tmp_path / "a" / clip["frames"]).iterdir()):
            assert frame.read_bytes() == (tmp_path / "b" / clip["frames"] / frame.name).read_bytes()
    only = _build(packages, tmp_path / "permissive", licences=("permissive",))
    assert [c["id"] for c in only["candidates"] if c["kept"]] == [f"{PKG}/a"]
    held = _build(packages, tmp_path / "held", held_out_percent=100)
    assert {c["split"] for c in held["clips"] if c["kind"] != "procedural"} == {"held_out"}
    with pytest.raises(InputError, match="already exists"):
        _build(packages, tmp_path / "a")


def test_corpus_feeds_the_clip_sampler(packages, tmp_path):
    _build(packages, tmp_path / "corpus")
    sources = corpus_sources(tmp_path / "corpus")
    assert len(sources) == 5 + 1 + 1  # train clips, the photos, the bundled clip's training frames
    assert sources[-1].frame_range == tuple(load_manifest(tmp_path / "corpus")["bundled"]["train"])
    sampler = ClipSampler(build_sources([str(tmp_path / "corpus")], procedural_weight=0.2), clip_len=3, size=16)
    batch = sample_batch(sampler, np.random.default_rng(0), 4)
    assert batch.shape == (4, 3, 3, 16, 16)
    assert np.array_equal(batch, sample_batch(sampler, np.random.default_rng(0), 4))


def test_data_corpus_cli_bad_input(tmp_path, capsys):
    assert main(["data", "corpus", str(tmp_path / "c"), "--packages-dir", str(tmp_path / "none")]) == 2
    assert "--packages-dir" in capsys.readouterr().err
    (tmp_path / "p.json").write_text("{not json")
    (tmp_path / "pk").mkdir()
    assert main(["data", "corpus", str(tmp_path / "c"), "--packages-dir", str(tmp_path / "pk"),
                 "--photos", str(tmp_path / "p.json")]) == 2  # fmt: skip
    assert "--photos" in capsys.readouterr().err
    assert main(["data", "corpus", str(tmp_path / "c"), "--packages-dir", str(tmp_path / "pk"),
                 "--licences", "free-ish"]) == 2  # fmt: skip
    assert "licences" in capsys.readouterr().err


def test_data_corpus_cli_renders_the_asked_size(packages, tmp_path, capsys):
    (tmp_path / "photos.json").write_text(json.dumps(PHOTOS))
    out = tmp_path / "c"
    args = ["data", "corpus", str(out), "--packages-dir", str(packages), "--photos", str(tmp_path / "photos.json")]
    assert main([*args, "--size", "48x30"]) == 2  # not a multiple of 16
    assert "--size" in capsys.readouterr().err and not out.exists()
    assert main([*args, "--size", "64x32", "--frames", "2"]) == 0
    manifest = load_manifest(out)
    assert (manifest["config"]["width"], manifest["config"]["height"]) == (64, 32)
    first = sorted((out / manifest["clips"][0]["frames"]).iterdir())[0]
    assert Image.open(first).size == (64, 32)
