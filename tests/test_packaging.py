"""Packaging: shipped configs by name (also from an installed wheel), every shipped YAML loads, py.typed."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from videovq.cli import main
from videovq.config import load_config
from videovq.configs import GROUPS, configs_dir, resolve_config, shipped_configs
from videovq.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


def _train_config_class(group: str, name: str):
    """The config dataclass of the trainer a shipped YAML is for."""
    from videovq.train.decoder import DecoderTrainConfig
    from videovq.train.image_autoencoder import ImageAutoencoderTrainConfig
    from videovq.train.image_ldm import ImageUNetTrainConfig
    from videovq.train.prior import PriorTrainConfig
    from videovq.train.tokenizer import TokenizerTrainConfig
    from videovq.train.video_ldm import VideoLDMTrainConfig

    if group in ("tokenizer", "prior"):
        return {"tokenizer": TokenizerTrainConfig, "prior": PriorTrainConfig}[group]
    vldm = {"image_autoencoder": ImageAutoencoderTrainConfig, "image_ldm": ImageUNetTrainConfig,
            "vldm": VideoLDMTrainConfig, "decoder": DecoderTrainConfig}  # fmt: skip
    return vldm[name.removeprefix("tiny_")]


@pytest.mark.parametrize("group", ["tokenizer", "prior", "vldm"])
def test_every_shipped_training_config_loads(group):
    configs = shipped_configs(group)
    assert len(configs) >= 2
    for name, path in configs.items():
        config = load_config(_train_config_class(group, name), path)
        assert config == load_config(type(config), resolve_config(name, group))


def test_every_shipped_accelerate_config_loads():
    from accelerate.commands.config.config_args import load_config_from_file

    configs = shipped_configs("accelerate")
    assert len(configs) >= 5
    for path in configs.values():
        load_config_from_file(str(path))


def test_configs_resolve_by_name_or_path(tmp_path):
    general = configs_dir() / "tokenizer" / "general.yaml"
    assert resolve_config("general", "tokenizer") == general
    assert resolve_config("general.yaml", "tokenizer") == general
    assert resolve_config("image-ldm", "vldm") == configs_dir() / "vldm" / "image_ldm.yaml"
    assert resolve_config(None, "vldm") is None
    mine = tmp_path / "general"  # a file of that name wins over the shipped name
    mine.write_text("steps: 3\n")
    assert resolve_config(mine, "tokenizer") == mine
    with pytest.raises(InputError, match="general, tiny"):
        resolve_config("genral", "tokenizer")
    with pytest.raises(InputError, match="not a shipped vldm config"):
        resolve_config("general", "vldm")  # names are per trainer family
    with pytest.raises(InputError):
        resolve_config("sub/general", "tokenizer")  # a path that does not exist is not a name
    assert set(GROUPS) == {p.name for p in configs_dir().iterdir() if p.is_dir() and p.name != "__pycache__"}
    # The source tree's top-level configs/ is the same folder, so documented paths keep working.
    assert (ROOT / "configs" / "tokenizer" / "general.yaml").read_text() == general.read_text()


def test_train_finds_a_config_by_name(tmp_path, capsys):
    args = ["train", "tokenizer", "--config", "tiny", "--data", "procedural", "--run-dir", str(tmp_path / "run")]
    assert main([*args, "--set", "no_such_key=1"]) == 2
    err = capsys.readouterr().err
    assert "tiny.yaml: unknown config key 'no_such_key'" in err and err.count("\n") == 1
    assert main([*args[:3], "nope", *args[4:]]) == 2
    assert "general, tiny" in capsys.readouterr().err


def test_wheel_ships_configs_and_resolves_them_outside_the_source_tree(tmp_path):
    """Build the wheel, unpack it (a pure-Python wheel's install) and run the CLI from it, away from the checkout."""
    from importlib.metadata import version

    # Build with the installed setuptools when it is new enough for pyproject.toml (no download), else in pip's
    # isolated build environment.
    no_isolation = ["--no-build-isolation"] if int(version("setuptools").split(".")[0]) >= 77 else []
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", *no_isolation, "-q", str(ROOT), "-w", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = tmp_path.glob("videovq-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(site)
    assert {"videovq/py.typed", "videovq/configs/tokenizer/general.yaml", "videovq/weights/image_ldm/model_index.json",
            "videovq/weights/image_ldm/pipeline.py", "videovq/weights/prior/model.safetensors",
            "videovq/weights/prior/config.yaml"} <= names  # fmt: skip
    # The unpacked wheel comes first on the path; the checkout is neither the working directory nor on the path.
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    code = (
        "import sys, videovq; from videovq.cli import main; print(videovq.__file__, flush=True); "
        "sys.exit(main(['train', 'tokenizer', '--config', 'general', '--data', 'procedural', '--run-dir', 'run', "
        "'--set', 'no_such_key=1']))"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 2, run.stderr[-3000:]
    assert run.stdout.startswith(str(site / "videovq"))
    expected = site / "videovq" / "configs" / "tokenizer" / "general.yaml"
    assert f"{expected}: unknown config key 'no_such_key'" in run.stderr


def test_quick_start_demo_runs_without_decord(tmp_path, tiny_tokenizer_dir, monkeypatch):
    """decord is an optional extra (no macOS or aarch64 wheels): the demo must run on PyAV alone."""
    from conftest import TINY_INPAINT

    from videovq.io.video import decord_available

    monkeypatch.setitem(sys.modules, "decord", None)  # `import decord` now raises ImportError
    assert not decord_available()
    tiny = [x for item in TINY_INPAINT for x in ("--set", item)]
    out = tmp_path / "demo"
    assert main(["demo", "--out-dir", str(out), "--tokenizer", str(tiny_tokenizer_dir), *tiny]) == 0
    assert (out / "result.mp4").is_file() and (out / "contact_sheet.png").is_file()
