"""videovq: video inpainting (DLFormer) and video generation (Align your Latents) in learned latent spaces."""

from videovq.errors import InputError

__version__ = "0.1.0"

__all__ = ["InputError", "__version__"]
