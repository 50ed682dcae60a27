"""Generate video with a trained video LDM: sample latents with DDIM, continue long clips from context frames, decode.

The same sampler draws the per-frame baseline: a video UNet given one frame at a time bypasses its temporal layers,
so folding the frames into the batch samples every frame independently with the image model.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import numpy as np
import torch
from einops import rearrange
from tqdm import tqdm

from videovq.errors import InputError
from videovq.io.tensors import uint8_to_video, video_to_uint8
from videovq.vldm.models import ImageLDM
from videovq.vldm.noise import mix_noise
from videovq.vldm.video_ldm import VideoLDM, encode_prompt, encode_video


@torch.no_grad()
def sample_latents(
    unet: Callable,
    scheduler_config: dict,
    shape: tuple[int, ...],
    steps: int,
    generator: torch.Generator,
    device,
    *,
    context: torch.Tensor | None = None,
    context_mask: torch.Tensor | None = None,
    text: torch.Tensor | None = None,
    uncond_text: torch.Tensor | None = None,
    guidance_scale: float = 1.0,
    shared_noise: torch.Tensor | None = None,
    noise_correlation: float = 0.0,
    progress: tqdm | None = None,
) -> torch.Tensor:
    """DDIM (eta = 0, trailing timesteps) from noise to latents ``shape = (B, C, T, h, w)``.

    Context frames (where `context_mask` is True) are held at their given latents noised to the current level, as in
    training, and are returned as given. With `shared_noise` (broadcastable to `shape`) the starting noise is
    ``sqrt(rho) * shared + sqrt(1 - rho) * own`` for ``rho = noise_correlation``: still unit Gaussian per frame, but
    frames that share a component start alike (the "mixed noise" prior of Ge et al., ICCV 2023).
    """
    from diffusers import DDIMScheduler

    # "trailing" spacing denoises pure noise from the last training step; diffusers' default "leading" one tells
    # the model the pure noise is step 950 (of 1000, at 20 steps), where it expects some signal (Lin et al., WACV
    # 2024). benchmarks/vldm_quality.py at 20 steps: per-frame FVD 2526 -> 2516, a held-still frame 1861 -> 1810.
    scheduler = DDIMScheduler.from_config(scheduler_config, clip_sample=False, timestep_spacing="trailing")
    scheduler.set_timesteps(steps, device=device)

    def draw() -> torch.Tensor:
        noise = torch.randn(shape, generator=generator)
        if shared_noise is not None and noise_correlation > 0:
            noise = mix_noise(noise, shared_noise, noise_correlation)
        return noise.to(device)

    latents = draw() * scheduler.init_noise_sigma
    given = None
    if context_mask is not None and bool(context_mask.any()):
        given = context_mask[:, None, :, None, None].expand(shape)
        context_noise = draw()  # the given frames are noised like the training clips' frames
    for t in scheduler.timesteps:
        if given is not None:
            latents = torch.where(given, scheduler.add_noise(context, context_noise, t.reshape(1)), latents)
        model_in = scheduler.scale_model_input(latents, t)
        eps = unet(model_in, t, context=context, context_mask=context_mask, encoder_hidden_states=text)
        if guidance_scale != 1.0 and uncond_text is not None:
            eps_uncond = unet(
                model_in, t, context=context, context_mask=context_mask, encoder_hidden_states=uncond_text
            )
            eps = eps_uncond + guidance_scale * (eps - eps_uncond)
        latents = scheduler.step(eps, t, latents).prev_sample
        if progress is not None:
            progress.update(1)
    if given is not None:
        latents = torch.where(given, context, latents)
    return latents


@torch.no_grad()
def decode_latents(vldm: VideoLDM, latents: torch.Tensor, chunk: int = 16, temporal: bool = True) -> np.ndarray:
    """(1, C, T, h, w) scaled latents -> uint8 (T, H, W, 3), with the temporal decoder when the model has one
    (and `temporal`), else the image VAE's decoder frame by frame."""
    latents = latents / vldm.image.latent_scale
    if vldm.decoder is not None and temporal:
        video = vldm.decoder.decode_video(latents, chunk)
    else:
        frames = rearrange(latents, "b c t h w -> (b t) c h w")
        video = torch.cat([vldm.image.vae.decode(part).sample for part in frames.split(chunk)])
        video = rearrange(video, "(b t) c h w -> b c t h w", b=latents.shape[0])
    return video_to_uint8(video[0])


@torch.no_grad()
def generate(
    vldm: VideoLDM,
    num_frames: int,
    steps: int = 50,
    seed: int = 0,
    *,
    context_video: np.ndarray | None = None,
    context_frames: int = 2,
    prompt: str | None = None,
    guidance_scale: float = 7.5,
    independent_frames: bool = False,
    chunk_frames: int | None = None,
    noise_correlation: float | None = None,
    show_progress: bool = False,
) -> np.ndarray:
    """Generate a clip as uint8 ``(num_frames, H, W, 3)``.

    Clips longer than the training length are extended autoregressively: each new chunk is conditioned on the last
    `context_frames` frames generated so far (or of `context_video`, whose frames then start the output).

    Args:
        vldm: the model.
        num_frames: frames to return (including given context frames).
        steps: DDIM steps per chunk.
        seed: seed of all noise.
        context_video: uint8 (T, H, W, 3) frames to continue, at the model's resolution.
        context_frames: how many frames each chunk is conditioned on.
        prompt: text for a text-conditioned image model.
        guidance_scale: classifier-free guidance for text (1 = off).
        independent_frames: the baseline: every frame sampled on its own by the image model (no temporal layers)
            and decoded by the image VAE's own decoder.
        chunk_frames: frames denoised jointly per chunk (default: the training clip length). Longer chunks need
            fewer autoregressive continuations, which is where clips drift.
        noise_correlation: share of the starting noise that all frames of the clip share, in [0, 1); None = what
            the model was trained with (`VideoLDMConfig.noise_correlation`; 0 = independent frames).
    """
    if noise_correlation is None:
        noise_correlation = vldm.config.noise_correlation
    if not 0.0 <= noise_correlation < 1.0:
        raise InputError(f"--noise-correlation {noise_correlation}: use a value in [0, 1)")
    device = next(vldm.unet.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    channels, (height, width) = vldm.latent_channels, vldm.latent_size
    shared = None  # one noise image for the whole clip (drawn only when used, so seeds keep their samples)
    if noise_correlation > 0:
        shared = torch.randn((1, channels, 1, height, width), generator=generator)
    text, uncond = _prompt_embeddings(vldm.image, prompt, guidance_scale, device)
    sample = partial(
        sample_latents,
        vldm.unet,
        vldm.image.scheduler.config,
        steps=steps,
        generator=generator,
        device=device,
        guidance_scale=guidance_scale,
        shared_noise=shared,
        noise_correlation=noise_correlation,
    )
    if independent_frames:
        # Frames folded into the batch: one frame per clip bypasses the temporal layers (the image model alone).
        with _progress(steps, show_progress, "sampling frames") as bar:
            latents = sample(
                shape=(num_frames, channels, 1, height, width),
                text=_rep(text, num_frames),
                uncond_text=_rep(uncond, num_frames),
                progress=bar,
            )
        return decode_latents(vldm, rearrange(latents, "t c 1 h w -> 1 c t h w"), temporal=False)

    chunk = _chunk_length(vldm, chunk_frames, context_frames)
    latents = torch.zeros(1, channels, 0, height, width, device=device)
    if context_video is not None:
        latents = _encode_context(vldm, context_video, device)
    total = _count_chunks(num_frames, latents.shape[2], chunk, context_frames) * steps
    with _progress(total, show_progress, f"generating {num_frames} frames") as bar:
        while latents.shape[2] < num_frames:
            latents = _next_chunk(sample, latents, chunk, context_frames, text, uncond, bar)
    return decode_latents(vldm, latents[:, :, :num_frames])


def _chunk_length(vldm: VideoLDM, chunk_frames: int | None, context_frames: int) -> int:
    """Frames denoised together (default: the training clip length), checked against the context frames."""
    chunk = vldm.config.clip_len if chunk_frames is None else chunk_frames
    if chunk < 1:
        raise InputError(f"--chunk-frames {chunk}: a chunk needs at least one frame")
    if context_frames >= chunk:
        raise InputError(
            f"--context-frames {context_frames} must be smaller than the chunk length {chunk} (--chunk-frames)"
        )
    if context_frames > vldm.config.max_context_frames:
        raise InputError(
            f"--context-frames {context_frames}: the model was trained with at most {vldm.config.max_context_frames}"
        )
    return chunk


def _count_chunks(num_frames: int, given: int, chunk: int, context_frames: int) -> int:
    """Chunks still to sample when `given` frames exist: each adds ``chunk - context_frames``, the first (without
    context) all `chunk`."""
    new_per_chunk = chunk - context_frames
    missing = num_frames - given
    if given == 0:
        missing -= context_frames
    return max(0, -(-missing // new_per_chunk))


def _next_chunk(sample: Callable, latents: torch.Tensor, chunk: int, context_frames: int, text, uncond, bar):
    """`latents` ``(1, C, T, h, w)`` continued by one chunk conditioned on its last `context_frames` frames."""
    batch, channels, _, height, width = latents.shape
    given = min(context_frames, latents.shape[2])
    context = torch.zeros(batch, channels, chunk, height, width, device=latents.device)
    mask = torch.zeros(batch, chunk, dtype=torch.bool, device=latents.device)
    if given:
        context[:, :, :given] = latents[:, :, -given:]
        mask[:, :given] = True
    out = sample(
        shape=(batch, channels, chunk, height, width),
        context=context,
        context_mask=mask,
        text=text,
        uncond_text=uncond,
        progress=bar,
    )
    return torch.cat([latents, out[:, :, given:]], dim=2)


def _rep(x: torch.Tensor | None, n: int) -> torch.Tensor | None:
    return None if x is None else x.expand(n, -1, -1)


def _prompt_embeddings(image: ImageLDM, prompt: str | None, guidance_scale: float, device):
    if not image.text_conditioned:
        if prompt:
            raise InputError(f"--prompt given but the image model {image.path} is not text-conditioned; drop --prompt")
        return None, None
    text = encode_prompt(image, [prompt or ""], device)
    uncond = encode_prompt(image, [""], device) if guidance_scale != 1.0 else None
    return text, uncond


def _encode_context(vldm: VideoLDM, frames: np.ndarray, device) -> torch.Tensor:
    height, width = (s * _downsample(vldm) for s in vldm.latent_size)
    if frames.shape[1:3] != (height, width):
        raise InputError(
            f"context video is {frames.shape[2]}x{frames.shape[1]} but the model makes {width}x{height} frames; "
            "resize the context video first"
        )
    video = uint8_to_video(frames)[None].to(device)
    return encode_video(vldm.image.vae, video, vldm.image.latent_scale)


def _downsample(vldm: VideoLDM) -> int:
    return 2 ** (len(vldm.image.vae.config.block_out_channels) - 1)


def _progress(total: int, show: bool, desc: str) -> tqdm:
    return tqdm(total=total, desc=desc, unit="step", disable=not show, dynamic_ncols=True)
