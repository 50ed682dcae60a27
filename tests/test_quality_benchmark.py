"""benchmarks/inpaint_quality.py's --fit-cache: runs that differ only after fitting share the fitted models."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from test_inpaint_pipeline import static_hole, tiny_config, tiny_tokenizer

from videovq.inpaint.pipeline import inpaint_frames
from videovq.inpaint.presets import InpaintConfig, with_overrides

_PATH = Path(__file__).parents[1] / "benchmarks" / "inpaint_quality.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("inpaint_quality", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_settings_read_after_fitting_are_config_fields(bench):
    assert bench.AFTER_FITTING <= {f.name for f in dataclasses.fields(InpaintConfig)}


def test_only_fitting_settings_pick_the_cache_folder(bench, tmp_path):
    config = InpaintConfig()
    folder = bench.fit_store(str(tmp_path), "logo-0", config).folder
    assert bench.fit_store(str(tmp_path), "logo-0", with_overrides(config, exemplar_detail=1.0)).folder == folder
    assert bench.fit_store(str(tmp_path), "logo-0", with_overrides(config, max_side=64)).folder != folder
    assert bench.fit_store(str(tmp_path), "logo-1", config).folder != folder
    assert bench.fit_store(None, "logo-0", config) is None


def test_a_cached_fit_is_reused_and_every_chunk_is_filled_again(bench, tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (4, 16, 24, 3), dtype=np.uint8)
    hole = static_hole(4, 16, 24)
    config, tokenizer = tiny_config(), tiny_tokenizer()

    def run(config):
        store = bench.fit_store(str(tmp_path), "c", config)
        return inpaint_frames(frames, hole, tokenizer, config, store=store, log=lambda s: None)

    first = run(config)
    stored = sorted(p.name for p in tmp_path.rglob("*.safetensors"))
    assert stored == ["codebook.safetensors", "tokenizer.safetensors", "transformer.safetensors"]
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.safetensors")}
    changed = with_overrides(config, match_boundary=not config.match_boundary)
    again = run(changed)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.safetensors")} == stamps  # nothing fitted again
    assert not np.array_equal(first.frames, again.frames)  # the chunk was filled with the changed setting
