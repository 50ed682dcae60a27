"""`videovq ui`: a local web page to make masks, run inpainting and compare (needs the `ui` extra)."""

from videovq.ui.server import serve

__all__ = ["serve"]
