"""Typed configs: YAML + --set overrides, unknown keys named with the closest valid one, types checked."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

import pytest

from videovq.config import config_from_dict, config_to_dict, load_config
from videovq.errors import InputError


@dataclass
class Model:
    channels: int = 64
    dropout: float = 0.0
    attention: Literal["sdpa", "naive"] = "sdpa"
    levels: list[int] = field(default_factory=lambda: [1, 2, 4])


@dataclass
class Train:
    lr: float = 1e-4
    steps: int = 100
    resume: Optional[str] = None
    model: Model = field(default_factory=Model)


def test_yaml_and_overrides(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("steps: 5\nmodel:\n  channels: 32\n  levels: [1, 1]\n")
    c = load_config(Train, cfg, ["model.dropout=0.1", "lr=3e-4", "resume=run/ckpt", "model.attention=naive"])
    assert c == Train(lr=3e-4, steps=5, resume="run/ckpt", model=Model(32, 0.1, "naive", [1, 1]))
    assert config_from_dict(Train, config_to_dict(c)) == c


def test_unknown_key_names_the_closest(tmp_path):
    with pytest.raises(InputError, match="unknown config key 'model.chanels'; did you mean 'model.channels'"):
        load_config(Train, None, ["model.chanels=3"])


@pytest.mark.parametrize(
    "override, message",
    [("steps=1.5", "must be an integer"), ("model.attention=flash", "choose one of"), ("model=3", "is a section")],
)
def test_bad_values_are_named(override, message):
    with pytest.raises(InputError, match=message):
        load_config(Train, None, [override])


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(InputError, match="no such config file"):
        load_config(Train, tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: [1,\n")
    with pytest.raises(InputError, match="invalid YAML"):
        load_config(Train, bad)


@dataclass
class Run:
    model: Model = field(default_factory=lambda: Model(channels=8, levels=[1]))


def test_a_section_given_in_part_keeps_the_fields_own_defaults(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  dropout: 0.5\n")
    # Run's own default for `model` (8 channels), not Model's class default (64), for the keys the file leaves out.
    assert load_config(Run, path).model == Model(channels=8, dropout=0.5, levels=[1])
    assert load_config(Run, None, ["model.attention=naive"]).model == Model(channels=8, attention="naive", levels=[1])
