"""A diffusers pipeline for an unconditional image LDM saved by videovq (unet/, vae/, scheduler/).

`save_image_ldm` copies this file into the model folder as `pipeline.py` and writes a `model_index.json` naming it,
so the folder loads with diffusers alone, without videovq installed:

    pipe = DiffusionPipeline.from_pretrained(folder, trust_remote_code=True)   # trust: the folder's pipeline.py
    images = pipe(batch_size=4, num_inference_steps=50).images

This file imports only torch and diffusers: it has to run from wherever diffusers copies it. Sampling uses the
folder's scheduler as it is; videovq's own `generate` samples with DDIM and trailing timestep spacing instead.
"""

from __future__ import annotations

import torch
from diffusers import DiffusionPipeline
from diffusers.pipelines.pipeline_utils import ImagePipelineOutput
from diffusers.utils.torch_utils import randn_tensor


class ImageLDMPipeline(DiffusionPipeline):
    """Unconditional latent diffusion: denoise UNet2DModel latents, decode them with an AutoencoderKL.

    Args:
        unet: the denoiser (diffusers UNet2DModel, epsilon prediction).
        vae: the autoencoder whose latents the UNet was trained on (divided by `scaling_factor` before decoding).
        scheduler: any diffusers scheduler.
    """

    def __init__(self, unet, vae, scheduler):
        super().__init__()
        self.register_modules(unet=unet, vae=vae, scheduler=scheduler)

    @torch.no_grad()
    def __call__(
        self,
        batch_size: int = 1,
        num_inference_steps: int = 50,
        generator: torch.Generator | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
    ):
        channels, size = self.unet.config.in_channels, self.unet.config.sample_size
        shape = (batch_size, channels, size, size)
        latents = randn_tensor(shape, generator=generator, device=self.device, dtype=self.unet.dtype)
        latents = latents * self.scheduler.init_noise_sigma
        self.scheduler.set_timesteps(num_inference_steps)
        for t in self.progress_bar(self.scheduler.timesteps):
            noise = self.unet(self.scheduler.scale_model_input(latents, t), t).sample
            latents = self.scheduler.step(noise, t, latents).prev_sample
        image = self.vae.decode(latents.to(self.vae.dtype) / self.vae.config.scaling_factor).sample
        image = (image / 2 + 0.5).clamp(0, 1).float().cpu().permute(0, 2, 3, 1).numpy()  # (B, H, W, 3) in [0, 1]
        if output_type == "pil":
            image = self.numpy_to_pil(image)
        return ImagePipelineOutput(images=image) if return_dict else (image,)
