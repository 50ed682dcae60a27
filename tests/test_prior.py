"""The general token prior: holes, strict loading, exact resume after SIGKILL, per-video fits that start from it."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import kill_at_first_checkpoint
from safetensors.torch import load_file

from videovq.config import load_config
from videovq.errors import InputError
from videovq.inpaint.fit import TransformerFitConfig, fit_transformer
from videovq.inpaint.prior import load_prior, prior_for_video
from videovq.tokenizer.autoencoder import AutoencoderConfig, VQAutoencoder
from videovq.io.weights import save_weights
from videovq.train.prior import PriorMaskConfig, PriorTrainConfig, hole_mask, train_prior

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "prior" / "tiny.yaml"
TINY_TOKENIZER = ROOT / "configs" / "tokenizer" / "tiny.yaml"


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory) -> Path:
    """A random tiny tokenizer (64 codes, downsampling 4) saved as a model folder."""
    import yaml

    torch.manual_seed(0)
    config = load_config(AutoencoderConfig, None, [f"{k}={v}" for k, v in yaml.safe_load(TINY_TOKENIZER.read_text())
                                                   ["model"].items()])  # fmt: skip
    folder = tmp_path_factory.mktemp("tokenizer")
    save_weights(folder / "model.safetensors", VQAutoencoder(config), config)
    return folder


def tiny(tokenizer: Path, *overrides: str) -> PriorTrainConfig:
    return load_config(PriorTrainConfig, TINY, [f"tokenizer={tokenizer}", *overrides])


@pytest.mark.parametrize("kind", ["random", "shaped", "box"])
def test_holes_are_never_empty_nor_everything(kind):
    only = PriorMaskConfig(**{k: float(k == kind) for k in ("random", "shaped", "box")})
    rng = np.random.default_rng(0)
    for _ in range(30):
        hole = hole_mask(rng, 3, 6, 8, only)
        assert hole.shape == (3, 6, 8) and 0 < hole.sum() < hole.size
        if kind == "box":  # static: the same rectangle in every frame
            assert (hole == hole[0]).all()
            ys, xs = np.nonzero(hole[0])
            assert hole[0, ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].all()


def test_prior_trains_and_loads_strictly(tokenizer, tmp_path):
    final = train_prior(tiny(tokenizer, "steps=3"), ["procedural"], tmp_path / "run")
    prior = load_prior(final)
    assert prior.num_codes == 64
    tokens = torch.randint(0, 65, (1, 2, 4, 4))
    assert prior(tokens).shape == (1, 2, 4, 4, 64)
    # Strict: weights of another architecture are refused, not half-loaded.
    config = (final / "config.yaml").read_text()
    (final / "config.yaml").write_text(config.replace("depth: 1", "depth: 2"))
    with pytest.raises(Exception, match="Missing key"):
        load_prior(final)


def test_resume_after_sigkill_reaches_the_same_weights(tokenizer, tmp_path):
    args = ["--config", str(TINY), "--data", "procedural", "--set", f"tokenizer={tokenizer}", "--set", "steps=12"]
    cmd = [sys.executable, "-m", "videovq", "train", "prior", *args]
    expected = load_file(str(train_prior(tiny(tokenizer, "steps=12"), ["procedural"], tmp_path / "a") / "model.safetensors"))
    run = tmp_path / "killed"
    killed_at = kill_at_first_checkpoint([*cmd, "--run-dir", str(run)], run, 12)
    resumed = train_prior(tiny(tokenizer, "steps=12"), ["procedural"], run, resume=True)
    got = load_file(str(resumed / "model.safetensors"))
    assert got.keys() == expected.keys()
    for name in expected:
        assert torch.equal(got[name], expected[name]), f"{name} differs after resuming from {killed_at}"


def test_per_video_fit_starts_from_the_prior_and_leaves_it_alone(tokenizer, tmp_path):
    prior = load_prior(train_prior(tiny(tokenizer, "steps=2"), ["procedural"], tmp_path / "run"))
    before = {k: v.clone() for k, v in prior.state_dict().items()}
    general_ids = torch.tensor([5, 17, 3, 40, 63, 0])  # the video's codes, local index = position here
    local = prior_for_video(prior, general_ids)

    # The per-video model starts out as the prior restricted to the video's codes.
    rng = torch.Generator().manual_seed(0)
    local_tokens = torch.randint(0, len(general_ids) + 1, (2, 3, 4, 4), generator=rng)  # incl. completion token
    general_tokens = torch.where(
        local_tokens == len(general_ids), torch.tensor(prior.num_codes), general_ids[local_tokens.clamp(max=5)]
    )
    with torch.no_grad():
        assert torch.allclose(local.eval()(local_tokens), prior(general_tokens)[..., general_ids], atol=1e-5)

    tokens = torch.randint(0, len(general_ids), (6, 4, 4), generator=rng)
    hole = torch.zeros(6, 4, 4, dtype=torch.bool)
    hole[:, 1:3, 1:3] = True
    fit = TransformerFitConfig(steps=4, batch_size=2, window_frames=3)
    fitted = fit_transformer(tokens, hole, len(general_ids), fit=fit, init=local, progress=False).model
    # It trained (the fitted weights moved) ...
    assert any(not torch.equal(a, b) for a, b in zip(fitted.state_dict().values(), local.state_dict().values()))
    # ... but neither the prior nor the per-video starting point changed.
    assert all(torch.equal(before[k], v) for k, v in prior.state_dict().items())
    with torch.no_grad():
        assert torch.allclose(local.eval()(local_tokens), prior(general_tokens)[..., general_ids], atol=1e-5)
    with pytest.raises(ValueError, match="codebook has"):
        fit_transformer(tokens, hole, 7, fit=fit, init=local, progress=False)


def test_inpainting_fits_from_a_prior_checkpoint_and_refuses_one_of_another_codebank(tokenizer, tmp_path):
    from conftest import moving_pattern

    from videovq.errors import InputError
    from videovq.inpaint.fit import TransformerFitConfig as FitConfig
    from videovq.inpaint.pipeline import inpaint_frames
    from videovq.inpaint.presets import InpaintConfig
    from videovq.inpaint.stages import StageStore
    from videovq.inpaint.transformer import TransformerConfig
    from videovq.tokenizer.autoencoder import load_tokenizer
    from videovq.tokenizer.fit import VideoFitConfig

    run = tmp_path / "run"
    final = train_prior(tiny(tokenizer, "steps=2"), ["procedural"], run)
    checkpoint = run / "checkpoints" / (run / "checkpoints" / "latest").read_text().strip()
    # A run's checkpoint loads as the prior it holds (the same step as the final model here).
    from_checkpoint, from_model = load_prior(checkpoint).state_dict(), load_prior(final).state_dict()
    assert all(torch.equal(from_checkpoint[k], v) for k, v in from_model.items())

    frames = moving_pattern(6, 24, 32)
    hole = np.zeros((6, 24, 32), bool)
    hole[:, 8:16, 10:22] = True
    config = InpaintConfig(
        tokenizer=VideoFitConfig(steps=1, batch_size=1, clip_len=3, crop=16),
        transformer=TransformerConfig(dim=32, depth=2, heads=2),  # replaced by the prior's architecture
        transformer_fit=FitConfig(steps=2, batch_size=1),
        decode_steps=2, window=4, overlap=1, propagate=False, prior=str(checkpoint),
    )  # fmt: skip
    store = StageStore(tmp_path / "work")
    out = inpaint_frames(frames, hole, load_tokenizer(tokenizer), config, store=store, log=lambda s: None)
    assert np.array_equal(out.frames[~hole], frames[~hole])
    fitted = load_file(str(tmp_path / "work" / "transformer.safetensors"))
    prior = load_prior(checkpoint).state_dict()
    assert fitted.keys() == prior.keys()  # the prior's depth, not the preset's
    assert fitted["embed.weight"].shape == (out.video_codes + 1, 16)  # the video's codes + the completion token

    other = VQAutoencoder(AutoencoderConfig(patch_size=2, channels=8, channel_mult=[1, 2], latent_dim=16,
                                            codebook_size=32, code_dim=8)).eval()  # fmt: skip
    with pytest.raises(InputError, match="predicts 64 codes but the tokenizer has 32"):
        inpaint_frames(frames, hole, other, config, log=lambda s: None)


def test_batches_drawn_by_workers_train_the_same_weights(tokenizer, tmp_path):
    """Workers draw the batches ahead; the loop's RNG continues where theirs stopped (the holes come from it)."""
    inline = train_prior(tiny(tokenizer, "steps=3"), ["procedural"], tmp_path / "inline")
    ahead = train_prior(tiny(tokenizer, "steps=3", "data.workers=2"), ["procedural"], tmp_path / "ahead")
    expected, got = load_file(str(inline / "model.safetensors")), load_file(str(ahead / "model.safetensors"))
    assert all(torch.equal(got[name], expected[name]) for name in expected)


def test_init_from_starts_from_a_trained_prior_and_refuses_another_architecture(tokenizer, tmp_path):
    first = train_prior(tiny(tokenizer, "steps=2"), ["procedural"], tmp_path / "first")
    # lr 0: the weights stay where init_from put them
    held = train_prior(tiny(tokenizer, "steps=1", "optim.lr=0", f"init_from={first}"), ["procedural"], tmp_path / "b")
    expected, got = load_file(str(first / "model.safetensors")), load_file(str(held / "model.safetensors"))
    assert all(torch.equal(got[name], expected[name]) for name in expected)
    with pytest.raises(InputError, match="another architecture"):
        train_prior(tiny(tokenizer, "steps=1", "model.depth=2", f"init_from={first}"), ["procedural"], tmp_path / "c")


def test_the_shipped_prior_loads_for_the_shipped_tokenizer_and_refuses_another(tokenizer):
    from videovq.inpaint.pipeline import _load_prior, resolve_prior
    from videovq.inpaint.presets import InpaintConfig
    from videovq.tokenizer.autoencoder import load_tokenizer
    from videovq.weights import prior_path, tokenizer_path

    shipped = load_tokenizer(tokenizer_path())
    config = resolve_prior(InpaintConfig(prior="shipped"), shipped)
    assert config.prior == str(prior_path())
    assert _load_prior(config.prior, shipped).num_codes == shipped.config.codebook_size
    with pytest.raises(InputError, match="prior=null"):
        resolve_prior(InpaintConfig(prior="shipped"), load_tokenizer(tokenizer))
    # Without the generator no prior is read, so nothing is refused.
    assert resolve_prior(InpaintConfig(prior="shipped", generator=False), load_tokenizer(tokenizer)).prior == "shipped"
