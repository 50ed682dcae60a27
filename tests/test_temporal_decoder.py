"""Temporal decoder: identity at initialisation, frozen encoder, 3-D patch discriminator, chunked decoding, resume."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest
import torch
from conftest import kill_at_first_checkpoint
from einops import rearrange
from safetensors.torch import load_file

from videovq.config import load_config
from videovq.vldm.decoder import DECODER_WEIGHTS, crossfade_weights, inflate_decoder, load_temporal_decoder
from videovq.vldm.discriminator import PatchDiscriminator3D
from videovq.vldm.inflate import temporal_parameters
from videovq.vldm.models import AutoencoderKLConfig, build_autoencoder
from videovq.train.decoder import DecoderTrainConfig, train_decoder
from videovq.vldm.models import load_vae

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "vldm" / "tiny_decoder.yaml"
DATA = ["procedural"]


def tiny_vae():
    torch.manual_seed(0)
    return build_autoencoder(AutoencoderKLConfig([8, 8], 1, 4, 4), 16)


@pytest.fixture(scope="module")
def vae_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ae")
    tiny_vae().save_pretrained(folder / "vae")
    return folder


def image_decode(vae, latents: torch.Tensor) -> torch.Tensor:
    frames = vae.decode(rearrange(latents, "b c t h w -> (b t) c h w")).sample
    return rearrange(frames, "(b t) c h w -> b c t h w", t=latents.shape[2])


def config(folder: Path, *overrides: str) -> DecoderTrainConfig:
    return load_config(DecoderTrainConfig, TINY, [f"autoencoder={folder}", *overrides])


def test_inflated_decoder_equals_the_image_decoder_frame_by_frame():
    vae = tiny_vae()
    model = inflate_decoder(copy.deepcopy(vae))
    latents = torch.randn(2, 4, 5, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(model(latents), image_decode(vae, latents), rtol=0, atol=1e-6)
    assert temporal_parameters(model)


def test_discriminator_gives_one_logit_per_spatio_temporal_patch():
    disc = PatchDiscriminator3D(channels=8, layers=3, time_downsample=1)
    logits = disc(torch.randn(2, 3, 8, 64, 48))
    assert logits.shape == (2, 1, 4, 8, 6)


def test_crossfade_weights_sum_to_one_over_an_overlap():
    a, b = crossfade_weights(6, 0, 3), crossfade_weights(6, 3, 0)
    torch.testing.assert_close(a[3:] + b[:3], torch.ones(3))
    assert a[:3].eq(1).all() and b[3:].eq(1).all()


def test_chunked_decoding_matches_full_decoding():
    model = inflate_decoder(tiny_vae()).eval()
    with torch.no_grad():
        for name, p in temporal_parameters(model).items():
            p.copy_(torch.full_like(p, 0.5) if name.endswith("temporal_mix.raw") else p + 0.05 * torch.randn_like(p))
        latents = torch.randn(1, 4, 20, 8, 8).cumsum(dim=2) / 3  # correlated along time, like a real clip
        full = model(latents)
        chunked = model.decode_video(latents, chunk=12, overlap=6)
        # One frame at a time the temporal layers are bypassed: the image decoder's output.
        per_frame = torch.cat([model(latents[:, :, t : t + 1]) for t in range(latents.shape[2])], dim=2)
    temporal_effect = (full - per_frame).abs().mean()
    chunking_error = (chunked - full).abs().mean()
    assert chunked.shape == full.shape
    assert chunking_error < 0.1 * temporal_effect, (float(chunking_error), float(temporal_effect))


def test_training_keeps_the_encoder_and_latents(vae_folder, tmp_path):
    # Two micro-batches per step: accumulation runs through the shared optimiser_step, GAN step included.
    final = train_decoder(config(vae_folder, "steps=3", "optim.grad_accum=2"), DATA, tmp_path / "run")
    original = load_vae(vae_folder)
    trained = load_temporal_decoder(final, original)
    for name, value in original.state_dict().items():
        if name.startswith(("encoder.", "quant_conv.")):
            assert torch.equal(trained.vae.state_dict()[name], value), name
    frames = torch.rand(3, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(
            trained.vae.encode(frames).latent_dist.mean, original.encode(frames).latent_dist.mean, rtol=0, atol=0
        )
    log = (tmp_path / "run" / "log.jsonl").read_text()
    assert '"d_loss"' in log and '"gan_weight"' in log and '"grad_accum": 2' in log


def test_decoder_resume_after_sigkill_reaches_the_same_weights(vae_folder, tmp_path):
    steps = "steps=10"
    reference = train_decoder(config(vae_folder, steps), DATA, tmp_path / "straight")
    expected = load_file(str(reference / DECODER_WEIGHTS))
    run = tmp_path / "killed"
    cmd = [
        sys.executable, "-m", "videovq", "train", "decoder", "--config", str(TINY), "--data", *DATA,
        "--run-dir", str(run), "--set", f"autoencoder={vae_folder}", "--set", steps,
    ]  # fmt: skip
    killed_at = kill_at_first_checkpoint(cmd, run, 10)
    resumed = train_decoder(config(vae_folder, steps), DATA, run, resume=True)
    got = load_file(str(resumed / DECODER_WEIGHTS))
    assert got.keys() == expected.keys()
    for name in expected:
        assert torch.equal(got[name], expected[name]), f"{name} differs after resuming from {killed_at}"
