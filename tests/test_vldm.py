"""Video LDM: inflation keeps the image model, training touches only temporal weights, generation and its CLI."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import kill_at_first_checkpoint
from einops import rearrange
from safetensors.torch import load_file

from videovq.cli import main
from videovq.config import load_config
from videovq.errors import InputError
from videovq.train.image_autoencoder import ImageAutoencoderTrainConfig, train_image_autoencoder
from videovq.train.image_ldm import ImageUNetTrainConfig, train_image_unet
from videovq.train.video_ldm import VideoLDMTrainConfig, train_video_ldm
from videovq.vldm.inflate import (
    TemporalConfig,
    freeze_spatial,
    inflate,
    is_temporal,
    load_temporal_state_dict,
    spatial_state_dict,
    temporal_parameters,
    temporal_state_dict,
)
from videovq.vldm.models import (
    AutoencoderKLConfig,
    ImageLDM,
    UNetConfig,
    build_autoencoder,
    build_unet,
    load_image_ldm,
    make_scheduler,
    save_image_ldm,
)
from videovq.vldm.pipeline import generate
from videovq.vldm.video_ldm import load_video_ldm

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs" / "vldm"
DATA = ["procedural"]


def tiny_unet(conditional: bool = False):
    torch.manual_seed(0)
    if conditional:
        from diffusers import UNet2DConditionModel

        return UNet2DConditionModel(
            sample_size=8, in_channels=4, out_channels=4, block_out_channels=(16, 32), layers_per_block=1,
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            norm_num_groups=8, cross_attention_dim=16, attention_head_dim=8,
        )  # fmt: skip
    return build_unet(UNetConfig([16, 32], 1, [False, True], 8, 8), 4, 8)


def per_frame(unet, x: torch.Tensor, t: torch.Tensor, **kwargs) -> torch.Tensor:
    frames = x.shape[2]
    out = unet(rearrange(x, "b c t h w -> (b t) c h w"), t.repeat_interleave(frames), **kwargs).sample
    return rearrange(out, "(b t) c h w -> b c t h w", t=frames)


def perturb_temporal(video) -> None:
    """Move every temporal weight away from its initial value (alpha 1 -> 0.4), as training would."""
    torch.manual_seed(123)
    with torch.no_grad():
        for name, p in temporal_parameters(video).items():
            p.copy_(torch.full_like(p, 0.4) if name.endswith("temporal_mix.raw") else p + 0.05 * torch.randn_like(p))


@pytest.fixture(scope="module")
def tiny_image_ldm(tmp_path_factory) -> Path:
    """A randomly initialised image LDM saved as a diffusers folder (unet/, vae/, scheduler/)."""
    torch.manual_seed(0)
    vae = build_autoencoder(AutoencoderKLConfig([8, 8], 1, 4, 4), 16)
    folder = tmp_path_factory.mktemp("image_ldm")
    return save_image_ldm(ImageLDM(tiny_unet(), vae, make_scheduler()), folder)


def tiny_vldm_config(image_model: Path, *overrides: str) -> VideoLDMTrainConfig:
    return load_config(VideoLDMTrainConfig, CONFIGS / "tiny_vldm.yaml", [f"image_model={image_model}", *overrides])


@pytest.fixture(scope="module")
def tiny_vldm(tiny_image_ldm, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("vldm") / "run"
    return train_video_ldm(tiny_vldm_config(tiny_image_ldm, "steps=2"), DATA, run)


# -- inflation ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("conditional", [False, True])
def test_inflated_unet_equals_the_image_unet_frame_by_frame(conditional):
    image = tiny_unet(conditional)
    video = inflate(image)  # the image UNet stays the image model: the reference below runs it
    x, t = torch.randn(2, 4, 5, 8, 8), torch.tensor([10, 700])
    kwargs = {"encoder_hidden_states": torch.randn(2, 3, 16)} if conditional else {}
    with torch.no_grad():
        got = video(x, t, **kwargs)
        ref_kwargs = {k: v.repeat_interleave(5, dim=0) for k, v in kwargs.items()}
        expected = per_frame(image, x, t, **ref_kwargs)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_inflate_leaves_the_image_unet_alone_and_shares_its_weights():
    image = tiny_unet()
    x, t = torch.randn(3, 4, 8, 8), torch.tensor([5, 50, 500])
    with torch.no_grad():
        before = image(x, t).sample
    video = freeze_spatial(inflate(image))
    with torch.no_grad():
        assert torch.equal(image(x, t).sample, before)
    assert not any(hasattr(m, "temporal_mix") for m in image.modules())
    own = {p.data_ptr() for p in image.parameters()}
    spatial = [p for name, p in video.named_parameters() if not is_temporal(name)]
    assert len(spatial) == len(own) and all(p.data_ptr() in own for p in spatial)  # one set of weights, not two


def test_temporal_layers_are_inserted_after_every_spatial_layer():
    video = inflate(tiny_unet(), TemporalConfig(heads=2))
    wrapped = [m for m in video.modules() if hasattr(m, "temporal_mix")]
    image = tiny_unet()
    resnets = sum(len(b.resnets) for b in [*image.down_blocks, image.mid_block, *image.up_blocks])
    attentions = sum(
        len(getattr(b, "attentions", None) or []) for b in [*image.down_blocks, image.mid_block, *image.up_blocks]
    )
    assert len(wrapped) == resnets + attentions
    assert all(m.temporal_mix.alpha.item() == 1.0 for m in wrapped)


def test_trained_temporal_layers_mix_frames_but_a_single_frame_is_the_image_model():
    image = tiny_unet()
    video = inflate(copy.deepcopy(image))
    perturb_temporal(video)
    t = torch.tensor([300])
    with torch.no_grad():
        x = torch.randn(1, 4, 4, 8, 8)
        assert not torch.allclose(video(x, t), per_frame(image, x, t), atol=1e-4)
        # Changing frame 3 now changes frame 0's prediction: information flows along time.
        y = x.clone()
        y[:, :, 3] += 1
        assert not torch.allclose(video(x, t)[:, :, 0], video(y, t)[:, :, 0], atol=1e-5)
        one = torch.randn(3, 4, 1, 8, 8)
        torch.testing.assert_close(
            video(one, torch.tensor([5, 50, 500])), per_frame(image, one, torch.tensor([5, 50, 500])), rtol=0, atol=1e-6
        )


def test_context_conditioning_reaches_the_prediction():
    video = inflate(tiny_unet())
    perturb_temporal(video)
    with torch.no_grad():
        for m in video.modules():
            if getattr(m, "temporal_condition", None) is not None:
                m.temporal_condition.weight.normal_(0, 0.1)
        x, t = torch.randn(1, 4, 4, 8, 8), torch.tensor([300])
        mask = torch.tensor([[True, False, False, False]])
        a = video(x, t, context=torch.randn_like(x), context_mask=mask)
        b = video(x, t, context=torch.randn_like(x), context_mask=mask)
    assert not torch.allclose(a[:, :, 1:], b[:, :, 1:], atol=1e-5)


def test_temporal_state_dict_round_trip_and_mismatch_error():
    video = inflate(tiny_unet())
    perturb_temporal(video)
    state = temporal_state_dict(video)
    assert state and all("temporal_" in k for k in state)
    fresh = inflate(tiny_unet())
    load_temporal_state_dict(fresh, state)
    x, t = torch.randn(1, 4, 3, 8, 8), torch.tensor([100])
    with torch.no_grad():
        torch.testing.assert_close(fresh(x, t), video(x, t))
    other = inflate(tiny_unet(), TemporalConfig(attention=False))
    with pytest.raises(InputError, match="do not fit"):
        load_temporal_state_dict(other, state)


def test_freeze_spatial_leaves_only_temporal_parameters_trainable():
    video = freeze_spatial(inflate(tiny_unet()))
    trainable = {n for n, p in video.named_parameters() if p.requires_grad}
    assert trainable == set(temporal_parameters(video))


def test_gradient_checkpointing_gives_the_same_gradients():
    grads = []
    for checkpointing in (False, True):
        video = freeze_spatial(inflate(tiny_unet(), TemporalConfig(gradient_checkpointing=checkpointing)))
        perturb_temporal(video)  # same seed inside: identical weights in both runs
        video.train()
        torch.manual_seed(1)
        x = torch.randn(1, 4, 3, 8, 8)
        video(x, torch.tensor([50])).square().mean().backward()
        grads.append({n: p.grad.clone() for n, p in temporal_parameters(video).items()})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-5, atol=1e-6)


# -- loading a user's image model ---------------------------------------------------------------------------------
def test_load_image_ldm_names_the_missing_part(tiny_image_ldm, tmp_path):
    ldm = load_image_ldm(tiny_image_ldm)
    assert ldm.unet.__class__.__name__ == "UNet2DModel" and not ldm.text_conditioned
    broken = tmp_path / "no_vae"
    import shutil

    shutil.copytree(tiny_image_ldm, broken)
    shutil.rmtree(broken / "vae")
    with pytest.raises(InputError, match="no vae/"):
        load_image_ldm(broken)
    with pytest.raises(InputError, match="no such image model folder"):
        load_image_ldm(tmp_path / "nowhere")


def test_half_precision_files_load_as_float32(tmp_path):
    torch.manual_seed(0)
    vae = build_autoencoder(AutoencoderKLConfig([8, 8], 1, 4, 4), 16)
    folder = save_image_ldm(ImageLDM(tiny_unet(), vae, make_scheduler()), tmp_path / "half", half=True)
    ldm = load_image_ldm(folder)
    assert {p.dtype for p in [*ldm.unet.parameters(), *ldm.vae.parameters()]} == {torch.float32}
    assert ldm.unet.dtype == torch.float32 and vae.dtype == torch.float32  # saving did not change the model


def test_text_conditioned_model_without_text_encoder_is_a_clear_error(tmp_path):
    torch.manual_seed(0)
    vae = build_autoencoder(AutoencoderKLConfig([8, 8], 1, 4, 4), 16)
    folder = save_image_ldm(ImageLDM(tiny_unet(conditional=True), vae, make_scheduler()), tmp_path / "sd")
    with pytest.raises(InputError, match="no text_encoder/"):
        load_image_ldm(folder)


def save_tiny_text_ldm(folder: Path) -> Path:
    """A Stable-Diffusion-shaped folder: conditional UNet, VAE, scheduler, CLIP text encoder and a word tokenizer."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import CLIPTextConfig, CLIPTextModel, PreTrainedTokenizerFast

    torch.manual_seed(0)
    vae = build_autoencoder(AutoencoderKLConfig([8, 8], 1, 4, 4), 16)
    save_image_ldm(ImageLDM(tiny_unet(conditional=True), vae, make_scheduler()), folder)
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "a", "red", "ball", "rolling"])}
    words = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(
        tokenizer_object=words, unk_token="[UNK]", pad_token="[PAD]", model_max_length=6
    ).save_pretrained(folder / "tokenizer")
    config = CLIPTextConfig(vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                            num_attention_heads=2, max_position_embeddings=6)  # fmt: skip
    CLIPTextModel(config).save_pretrained(folder / "text_encoder")
    return folder


def test_text_conditioned_image_model_trains_and_generates_from_a_prompt(tmp_path):
    folder = save_tiny_text_ldm(tmp_path / "sd")
    ldm = load_image_ldm(folder)
    assert ldm.text_conditioned and ldm.text_encoder is not None
    final = train_video_ldm(tiny_vldm_config(folder, "steps=2", "prompt=a red ball rolling"), DATA, tmp_path / "run")
    vldm = load_video_ldm(final)
    red = generate(vldm, 5, steps=2, seed=0, prompt="a red ball", guidance_scale=3.0)
    empty = generate(vldm, 5, steps=2, seed=0, prompt="", guidance_scale=3.0)
    assert red.shape == (5, 16, 16, 3)
    assert not np.array_equal(red, empty)  # the prompt reaches the UNet


def test_prompt_for_an_unconditional_model_is_refused(tiny_vldm):
    with pytest.raises(InputError, match="not text-conditioned"):
        generate(load_video_ldm(tiny_vldm), 3, steps=1, prompt="a red ball")


# -- training -------------------------------------------------------------------------------------------------------
def test_image_ldm_trainers_write_a_loadable_diffusers_folder(tmp_path):
    ae_config = load_config(ImageAutoencoderTrainConfig, CONFIGS / "tiny_image_autoencoder.yaml")
    ae = train_image_autoencoder(ae_config, DATA, tmp_path / "ae")
    unet_config = load_config(ImageUNetTrainConfig, CONFIGS / "tiny_image_ldm.yaml", [f"autoencoder={ae}"])
    final = train_image_unet(unet_config, DATA, tmp_path / "unet")
    ldm = load_image_ldm(final)
    assert ldm.vae.config.scaling_factor != 1.0  # set from the latents' spread
    assert ldm.unet.config.sample_size == 8
    for part in ("unet", "vae"):  # the folder the parts were loaded from means nothing on another machine
        assert "_name_or_path" not in (final / part / "config.json").read_text()
    assert (tmp_path / "unet" / "log.jsonl").read_text().count('"mse"') == 2


def tiny_unet_config(*overrides: str) -> ImageUNetTrainConfig:
    return load_config(ImageUNetTrainConfig, CONFIGS / "tiny_image_ldm.yaml", list(overrides))


def unet_weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "unet" / "diffusion_pytorch_model.safetensors"))


def test_image_ldm_training_continues_from_init_from(tiny_image_ldm, tmp_path):
    config = tiny_unet_config(f"autoencoder={tiny_image_ldm}", f"init_from={tiny_image_ldm}", "optim.lr=0")
    final = train_image_unet(config, DATA, tmp_path / "run")
    start, got = unet_weights(tiny_image_ldm), unet_weights(final)
    assert all(torch.equal(got[k], start[k]) for k in start)  # lr 0: the finished model is the init, not random
    with pytest.raises(InputError, match=f"init_from={tiny_image_ldm}: its UNet has another architecture"):
        train_image_unet(
            tiny_unet_config(
                f"autoencoder={tiny_image_ldm}", f"init_from={tiny_image_ldm}", "model.layers_per_block=2"
            ),
            DATA,
            tmp_path / "other",
        )


@pytest.mark.parametrize("ema_decay", [0.0, 0.9])
def test_image_ldm_model_holds_the_moving_average_of_its_weights(tiny_image_ldm, tmp_path, ema_decay):
    config = tiny_unet_config(f"autoencoder={tiny_image_ldm}", f"ema_decay={ema_decay}")
    final = train_image_unet(config, DATA, tmp_path / "run")
    last = load_file(str(tmp_path / "run" / "checkpoints" / "step_0000002" / "model.safetensors"))
    got = unet_weights(final)
    same = all(torch.equal(got[k], last[k]) for k in got)
    assert same == (ema_decay == 0)  # with an EMA the model is the average, not the last step's weights


def test_training_changes_temporal_weights_only(tiny_image_ldm, tiny_vldm):
    image = load_image_ldm(tiny_image_ldm)
    expected = {f"unet.{k}": v for k, v in image.unet.state_dict().items()}
    vldm = load_video_ldm(tiny_vldm)
    spatial = spatial_state_dict(vldm.unet)
    assert spatial.keys() == expected.keys()
    for name, value in expected.items():
        assert torch.equal(spatial[name], value), f"spatial weight {name} changed in training"
    fresh = temporal_state_dict(inflate(copy.deepcopy(image.unet)))
    trained = temporal_state_dict(vldm.unet)
    assert any(not torch.equal(trained[k], fresh[k]) for k in fresh if "temporal_layer" in k)


def test_vldm_resume_after_sigkill_reaches_the_same_weights(tiny_image_ldm, tmp_path):
    steps = "steps=12"
    reference = train_video_ldm(tiny_vldm_config(tiny_image_ldm, steps), DATA, tmp_path / "straight")
    expected = load_file(str(reference / "temporal.safetensors"))
    run = tmp_path / "killed"
    cmd = [
        sys.executable, "-m", "videovq", "train", "vldm", "--config", str(CONFIGS / "tiny_vldm.yaml"), "--data", *DATA,
        "--run-dir", str(run), "--set", f"image_model={tiny_image_ldm}", "--set", steps,
    ]  # fmt: skip
    killed_at = kill_at_first_checkpoint(cmd, run, 12)
    assert set(load_file(str(run / "checkpoints" / killed_at / "model.safetensors"))) == set(expected)  # temporal only
    resumed = train_video_ldm(tiny_vldm_config(tiny_image_ldm, steps), DATA, run, resume=True)
    got = load_file(str(resumed / "temporal.safetensors"))
    for name in expected:
        assert torch.equal(got[name], expected[name]), f"{name} differs after resuming from {killed_at}"


def test_mixed_noise_is_unit_gaussian_per_frame_with_the_asked_correlation():
    from videovq.vldm.noise import mixed_noise

    def first_frames_correlation(noise: torch.Tensor) -> float:
        return float(torch.corrcoef(noise.permute(2, 0, 1, 3, 4).reshape(noise.shape[2], -1))[0, 1])

    noise = mixed_noise((64, 4, 3, 8, 8), 0.6, torch.Generator().manual_seed(0))
    assert abs(float(noise.std()) - 1.0) < 0.02
    assert abs(first_frames_correlation(noise) - 0.6) < 0.05
    assert abs(first_frames_correlation(mixed_noise((64, 4, 3, 8, 8), 0.0, torch.Generator()))) < 0.05


def test_finetuning_starts_from_a_trained_model_and_records_its_noise(tiny_image_ldm, tiny_vldm, tmp_path):
    # With a zero learning rate the finetuned layers are exactly the ones it started from.
    overrides = [f"init_from={tiny_vldm}", "noise_correlation=0.5", "optim.lr=0", "steps=1"]
    model = train_video_ldm(tiny_vldm_config(tiny_image_ldm, *overrides), DATA, tmp_path / "finetune")
    start, got = load_file(str(tiny_vldm / "temporal.safetensors")), load_file(str(model / "temporal.safetensors"))
    assert start.keys() == got.keys() and all(torch.equal(start[k], got[k]) for k in start)
    vldm = load_video_ldm(model)
    assert vldm.config.noise_correlation == 0.5  # generate starts from the noise it was trained on
    np.testing.assert_array_equal(
        generate(vldm, 4, steps=2, seed=0), generate(vldm, 4, steps=2, seed=0, noise_correlation=0.5)
    )
    with pytest.raises(InputError, match=f"init_from={tiny_vldm}: temporal weights do not fit"):
        train_video_ldm(
            tiny_vldm_config(tiny_image_ldm, f"init_from={tiny_vldm}", "temporal.attention=false", "steps=1"),
            DATA,
            tmp_path / "mismatch",
        )
    with pytest.raises(InputError, match="noise_correlation=1.0"):
        train_video_ldm(tiny_vldm_config(tiny_image_ldm, "noise_correlation=1.0"), DATA, tmp_path / "bad")


def test_a_resumed_finetune_continues_from_its_checkpoint_not_from_init_from(tiny_image_ldm, tiny_vldm, tmp_path):
    start = tmp_path / "start"
    shutil.copytree(tiny_vldm, start)
    run = tmp_path / "run"
    train_video_ldm(tiny_vldm_config(tiny_image_ldm, f"init_from={start}", "steps=2"), DATA, run)
    shutil.rmtree(start)  # the resumed run must not need it any more
    model = train_video_ldm(tiny_vldm_config(tiny_image_ldm, f"init_from={start}", "steps=4"), DATA, run, resume=True)
    assert (model / "temporal.safetensors").exists()


# -- generation -----------------------------------------------------------------------------------------------------
def test_generate_extends_past_the_training_length(tiny_vldm):
    vldm = load_video_ldm(tiny_vldm)
    assert vldm.config.clip_len == 4
    video = generate(vldm, 7, steps=3, seed=1, context_frames=2)
    assert video.shape == (7, 16, 16, 3) and video.dtype == np.uint8
    again = generate(vldm, 7, steps=3, seed=1, context_frames=2)
    np.testing.assert_array_equal(video, again)


def test_chunk_frames_denoises_the_whole_clip_jointly(tiny_vldm):
    from videovq.vldm.pipeline import decode_latents, sample_latents

    vldm = load_video_ldm(tiny_vldm)
    video = generate(vldm, 7, steps=2, seed=3, chunk_frames=7)
    latents = sample_latents(
        vldm.unet,
        vldm.image.scheduler.config,
        (1, 4, 7, 8, 8),
        2,
        torch.Generator().manual_seed(3),
        "cpu",
        context=torch.zeros(1, 4, 7, 8, 8),
        context_mask=torch.zeros(1, 7, dtype=torch.bool),
    )
    np.testing.assert_array_equal(video, decode_latents(vldm, latents))
    assert not np.array_equal(video, generate(vldm, 7, steps=2, seed=3))  # default: chunks of 4 + continuations
    with pytest.raises(InputError, match="smaller than the chunk length 2"):
        generate(vldm, 7, steps=2, chunk_frames=2, context_frames=2)
    with pytest.raises(InputError, match="--chunk-frames 0: a chunk needs at least one frame"):
        generate(vldm, 7, steps=2, chunk_frames=0)


def test_noise_correlation_mixes_one_shared_noise_into_every_frame(tiny_vldm):
    from videovq.vldm.pipeline import decode_latents, sample_latents

    vldm = load_video_ldm(tiny_vldm)
    # The starting noise is sqrt(rho) * shared + sqrt(1 - rho) * own; the shared image is drawn first.
    generator = torch.Generator().manual_seed(5)
    shared = torch.randn((1, 4, 1, 8, 8), generator=generator)
    latents = sample_latents(
        vldm.unet,
        vldm.image.scheduler.config,
        (3, 4, 1, 8, 8),
        2,
        generator,
        "cpu",
        shared_noise=shared,
        noise_correlation=0.9,
    )
    mixed = generate(vldm, 3, steps=2, seed=5, independent_frames=True, noise_correlation=0.9)
    np.testing.assert_array_equal(mixed, decode_latents(vldm, latents.permute(2, 1, 0, 3, 4), temporal=False))
    # Independent frames of the image model differ; with 0.9 of their noise shared they come out far more alike.
    independent = generate(vldm, 3, steps=2, seed=5, independent_frames=True)
    change = lambda video: np.abs(np.diff(video.astype(np.float32), axis=0)).mean()  # noqa: E731
    assert change(mixed) < 0.6 * change(independent)
    np.testing.assert_array_equal(
        independent, generate(vldm, 3, steps=2, seed=5, independent_frames=True, noise_correlation=0.0)
    )
    with pytest.raises(InputError, match="--noise-correlation 1.0: use a value in"):
        generate(vldm, 3, steps=2, noise_correlation=1.0)


def test_independent_frames_baseline_is_the_image_model_per_frame(tiny_vldm, tiny_image_ldm):
    vldm = load_video_ldm(tiny_vldm)
    video = generate(vldm, 3, steps=2, seed=4, independent_frames=True)
    # The same sampler over the plain image UNet (3 images in a batch) gives the same frames.
    from videovq.vldm.pipeline import decode_latents, sample_latents

    image = load_image_ldm(tiny_image_ldm)

    def image_unet(x, t, **_):
        return rearrange(image.unet(rearrange(x, "b c 1 h w -> b c h w"), t).sample, "b c h w -> b c 1 h w")

    latents = sample_latents(
        image_unet, image.scheduler.config, (3, 4, 1, 8, 8), 2, torch.Generator().manual_seed(4), "cpu"
    )
    expected = decode_latents(vldm, rearrange(latents, "t c 1 h w -> 1 c t h w"))
    assert np.abs(video.astype(int) - expected.astype(int)).max() <= 1


def test_generate_continues_a_context_clip(tiny_vldm):
    vldm = load_video_ldm(tiny_vldm)
    context = np.random.default_rng(0).integers(0, 255, (2, 16, 16, 3), dtype=np.uint8)
    video = generate(vldm, 6, steps=2, seed=0, context_video=context, context_frames=2)
    assert video.shape == (6, 16, 16, 3)
    # The given frames come back as the VAE reconstructs them.
    from videovq.vldm.pipeline import _encode_context, decode_latents

    np.testing.assert_array_equal(video[:2], decode_latents(vldm, _encode_context(vldm, context, "cpu")))
    with pytest.raises(InputError, match="resize"):
        generate(vldm, 6, steps=2, context_video=np.zeros((2, 8, 8, 3), np.uint8))
    with pytest.raises(InputError, match="at most 2"):
        generate(vldm, 6, steps=2, context_frames=3)


def test_generate_cli_writes_video_and_contact_sheet(tiny_vldm, tmp_path, capsys):
    out, sheet = tmp_path / "gen.mp4", tmp_path / "gen.png"
    args = [
        "generate",
        "--model",
        str(tiny_vldm),
        "--frames",
        "5",
        "--steps",
        "2",
        "-o",
        str(out),
        "--contact-sheet",
        str(sheet),
    ]
    assert main(args) == 0
    assert out.exists() and sheet.exists()
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["generate", "--model", str(tmp_path), "-o", str(tmp_path / "x.mp4")]) == 2
    assert "temporal.safetensors" in capsys.readouterr().err
    assert main([*args[:-4], "-o", str(tmp_path / "y.mp4"), "--chunk-frames", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--chunk-frames 0" in err  # one line, no traceback
    assert main([*args[:-4], "-o", str(tmp_path / "z.mp4"), "--noise-correlation", "1.5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--noise-correlation 1.5" in err
    assert main([*args[:-4], "-o", str(tmp_path / "z.mp4"), "--noise-correlation", "0.5"]) == 0


@pytest.mark.parametrize("trainer", ["image-autoencoder", "image-ldm", "vldm", "decoder"])
def test_two_process_accelerate_launch(trainer, tiny_image_ldm, tmp_path):
    import json
    import os

    config = {
        "image-autoencoder": "tiny_image_autoencoder",
        "image-ldm": "tiny_image_ldm",
        "vldm": "tiny_vldm",
        "decoder": "tiny_decoder",
    }[trainer]
    model_option = {"image-ldm": "autoencoder", "vldm": "image_model", "decoder": "autoencoder"}.get(trainer)
    run = tmp_path / "ddp"
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "-m", "videovq", "train", trainer, "--config", str(CONFIGS / f"{config}.yaml"), "--data", *DATA,
        "--run-dir", str(run), "--set", "steps=2", "--set", "optim.grad_accum=1",
    ]  # fmt: skip
    if model_option:
        cmd += ["--set", f"{model_option}={tiny_image_ldm}"]
    result = subprocess.run(
        cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("model:") == 1
    facts = json.loads((run / "log.jsonl").read_text().splitlines()[0])
    assert facts["processes"] == 2 and facts["effective_batch"] == 2 * facts["batch_size"]
    assert (run / "model").is_dir()


def test_shipped_video_ldm_generates(tmp_path):
    """The shipped image LDM, temporal layers and temporal decoder are installed and work together."""
    from videovq.weights import vldm_path

    vldm = load_video_ldm(vldm_path())
    assert vldm.decoder is not None and vldm.config.image_model == "shipped"
    video = generate(vldm, 3, steps=1, seed=0)
    assert video.shape == (3, 64, 64, 3)
