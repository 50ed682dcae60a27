"""Data shipped inside the package (see README.md here for licences)."""

from importlib import resources
from pathlib import Path


def sample_video_path() -> Path:
    """The bundled 66-frame 432x240 Big Buck Bunny clip (CC BY 3.0, Blender Foundation)."""
    return Path(str(resources.files("videovq.data").joinpath("bbb_432x240.mp4")))
