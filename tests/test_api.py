"""The public API: top-level names, a cheap `import videovq`, the README's Python example, diffusers loading."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import videovq

ROOT = Path(__file__).resolve().parents[1]


def _python(code: str, cwd: Path | None = None, env: dict | None = None) -> str:
    run_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=run_env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_import_is_cheap():
    out = _python("import sys, videovq; print(sorted(m for m in ('torch', 'diffusers', 'cv2', 'av') if m in sys.modules))")
    assert out.strip() == "[]"


def test_entry_points_import_from_the_top_level():
    from videovq import evaluate, generate, inpaint_video, load_image_ldm, load_tokenizer, load_video_ldm, preset
    from videovq.evaluation import evaluate as evaluate_function
    from videovq.inpaint.pipeline import inpaint_video as inpaint_function

    assert evaluate is evaluate_function and inpaint_video is inpaint_function
    assert preset("fast").max_side == 432
    for function in (evaluate, generate, inpaint_video, load_image_ldm, load_tokenizer, load_video_ldm, preset):
        assert callable(function) and function.__doc__
    assert set(videovq.__all__) <= set(dir(videovq))
    with pytest.raises(AttributeError):
        videovq.no_such_name  # noqa: B018


def test_evaluate_stays_the_function_after_its_module_is_imported():
    # The submodule is imported first here, as the CLI does; the package's `evaluate` must still be the function.
    out = _python("import videovq.evaluation; from videovq import evaluate; print(type(evaluate).__name__)")
    assert out.strip() == "function"


def test_readme_python_example_runs(tmp_path):
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- python-example -->\s*```python\n(.*?)```", readme, re.S)
    assert match, "README.md lost its <!-- python-example --> block"
    code = match.group(1)
    assert len([line for line in code.splitlines() if line.strip()]) <= 3
    _python(code, cwd=tmp_path)
    from videovq.io.video import read_video

    frames = read_video(tmp_path / "sample.mp4")
    assert frames.shape == (8, 64, 64, 3)
    assert frames.std() > 1  # an image, not a constant


def test_shipped_image_ldm_loads_with_diffusers(tmp_path):
    from diffusers import UNet2DModel

    from videovq.vldm.models import load_image_ldm, shipped_image_ldm_path

    folder = shipped_image_ldm_path()
    # The folder's pipeline.py is the package's, so the two cannot drift.
    assert (folder / "pipeline.py").read_text() == (ROOT / "videovq/vldm/image_pipeline.py").read_text()
    unet = UNet2DModel.from_pretrained(folder, subfolder="unet")
    ours = load_image_ldm(None).unet.state_dict()
    assert all(np.array_equal(ours[k].float().numpy(), v.float().numpy()) for k, v in unet.state_dict().items())
    # The whole sampler, with diffusers alone (in a child: diffusers copies pipeline.py into its modules cache).
    code = (
        "import torch; from diffusers import DiffusionPipeline\n"
        f"pipe = DiffusionPipeline.from_pretrained({str(folder)!r}, trust_remote_code=True)\n"
        "out = pipe(batch_size=2, num_inference_steps=3, generator=torch.Generator().manual_seed(0), output_type='np')\n"
        "print(type(pipe).__name__, out.images.shape, float(out.images.std()))"
    )
    name, *rest = _python(code, env={"HF_MODULES_CACHE": str(tmp_path / "hf_modules")}).split(" ", 1)
    assert name == "ImageLDMPipeline"
    assert "(2, 64, 64, 3)" in rest[0] and float(rest[0].rsplit(" ", 1)[1]) > 0.01


def test_save_image_ldm_writes_a_diffusers_folder(tmp_path):
    import json

    from videovq.vldm.models import load_image_ldm, save_image_ldm

    folder = save_image_ldm(load_image_ldm(None), tmp_path / "model", half=True)
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == ["pipeline", "ImageLDMPipeline"]
    assert index["unet"] == ["diffusers", "UNet2DModel"] and index["vae"] == ["diffusers", "AutoencoderKL"]
    assert (folder / "pipeline.py").exists()
